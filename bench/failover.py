"""Time from a fault on the active to the new active answering, beside keepalived (VRRP).

Both contenders run on the same small LAN in network namespaces (bench/netns.py):
host A and host B each in their own namespace, a bridge in a router namespace, and on
both hosts a small web service answering its server's name on every address. Two
observers in the router namespace measure "the new active answering" from outside:

- an ARP observer asks "who has 10.201.0.100?" every 5 ms (as a probe from a MAC of its
  own, so it never moves the router's own neighbour entry) and notes when B's MAC first
  answers: "VIP answered";
- a client starts `GET http://10.201.0.100/` every 10 ms (a new connection each, 1 s
  timeout) and notes the first 200 from B's service: "client-observed downtime", which
  adds what a client needs on top (the router learning B's MAC from the gratuitous ARP,
  the TCP handshake).

For the switchover pair the shipped `vip` hook moves that address (`[hooks]` commence
`vip up`, discontinue `vip down`, as deploy/README.md configures it); keepalived moves
the same address with VRRP, at advert_int 1 and at its fastest, 0.01 (VRRPv3 carries
the interval in centiseconds). For the pair the time until B's status reads Primary is
given too.

Faults, each repeated (median, min, max):

  switchover  module SIGKILL      `switchover module` on A killed; default parameters,
                                  time scale 1 (the Module Lost fast path)
  switchover  host SIGKILL        A's host process killed; time scale 0.1; expected
                                  "Switchover Reconnect Timeout" (docs/switching.md)
  switchover  link cut            A's link set down; time scale 0.1; expected
                                  L·H + S·3·1 s + (S−1)·D + Rt
  switchover  host SIGKILL, fast  "Switchover Reconnect Timeout" = 1, time scale 1
  switchover  manual switch       `switchover switch` on B (planned hand-over)
  switchover  graceful stop       SIGTERM to A's host process (planned hand-over)
  switchover  the same two with a witness: module-kill-witness (default lease TTL, 10 s)
                                  and host-kill-fast-witness (TTL 5 s, its minimum): one
                                  etcd member on the router (bench/router_etcd.py); the
                                  backup commences only once it holds the key
  keepalived  module SIGKILL      the same kind of module under a pid file, tracked by a
                                  vrrp_script (interval 1, fall 1) `kill -0 $(cat pidfile)`
  keepalived  daemon SIGKILL      A's keepalived processes killed
  keepalived  graceful stop       SIGTERM to A's keepalived (it sends priority 0 first)

Goals (client-observed): manual switch, graceful stop and module SIGKILL under 250 ms,
host SIGKILL with the fast profile under 1.5 s, each ahead of keepalived's figure for
the same kind of fault at advert_int 1 in the same run (a planned hand-over against
keepalived's graceful stop); the last column compares with keepalived at its fastest.

Partitions, with and without the witness (cut-witness, cut-no-witness, isolate-witness,
isolate-no-witness): how long both servers were active, from both event logs; see
bench/partition.py. The keepalived contender lives in bench/keepalived.py, what the
scenarios share in bench/failover_kit.py.

Needs root (network namespaces), keepalived for its rows (installed with apt-get when
missing and possible) and etcd for the witness rows (`./dev test` unpacks it into
.venv/etcd; without it those rows are left out, saying why). Rerun with:  ./dev bench failover  [--reps 3] [--only NAME ...] [--keep DIR]
"""
from __future__ import annotations

import argparse
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any, Callable, Mapping

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.failover_kit import (  # noqa: E402
    FAULT_TIMEOUT,
    NAMES,
    Result,
    StatusWatch,
    cleanup,
    client_answered,
    fmt,
    in_sync,
    say,
    start_pair,
    start_web,
    vip_hooks,
    watch_client,
)
from bench.keepalived import FASTEST_ADVERT, ensure_keepalived, run_keepalived  # noqa: E402
from bench.arp_observer import ArpObserver  # noqa: E402
from bench.lan_web import stop_http_server  # noqa: E402
from bench.netns import VIP, Topology, netns_available, ranges_unused  # noqa: E402
from bench.partition import (  # noqa: E402
    PARTITIONS,
    PartitionResult,
    describe,
    partition_table,
    run_partition,
)
from bench.router_etcd import EtcdUnavailable, start_router_etcd  # noqa: E402
from switchover.localpair import LocalPair  # noqa: E402

RERUN = "./dev bench failover"

# docs/switching.md symbols with default parameters (reference seconds)
L, H, ECHO, S, D, RT = 3, 1.0, 1.0, 3, 10.0, 30.0
LINK_FORMULA = L * H + S * 3 * ECHO + (S - 1) * D + RT  # 62 s


# --- the switchover pair ---------------------------------------------------------------


def run_switchover(result: Result, fault: str, params: Mapping[str, Any], reps: int,
                   keep: Path | None) -> None:
    """The fault `reps` times; with `result.ttl`, the pair is guarded by a witness (one
    etcd member on the router, a key prefix of each repetition's own)."""
    scale = result.scale or 1.0
    topo = Topology().build()
    observer = cluster = None
    web: list[subprocess.Popen] = []
    try:
        if result.ttl is not None:
            cluster = start_router_etcd(topo, Path(tempfile.mkdtemp(prefix="so-etcd-",
                                                                    dir=keep)))
            params = {**params, "Switchover Witness Lease TTL": result.ttl}
        observer = ArpObserver(topo).start()
        web = start_web(topo)
        mac_b = topo.mac("B")
        for rep in range(reps):
            base = Path(tempfile.mkdtemp(prefix="so-fo-", dir=keep))
            witness = None if cluster is None else {
                "endpoints": cluster.endpoints, "prefix": f"/switchover/bench{rep}"}
            pair = LocalPair(
                base, time_scale=scale, parameters=dict(params), hooks=vip_hooks(topo),
                witness=witness,
                addresses={NAMES[0]: topo.address("A"), NAMES[1]: topo.address("B")},
                netns={NAMES[0]: topo.ns("A"), NAMES[1]: topo.ns("B")},
            )
            a, b = pair.names
            watch = client = None
            try:
                start_pair(pair)
                pair.wait_for(lambda: topo.has_address("A"), 10, "the VIP on A")
                pair.wait_for(lambda: in_sync(pair, a), 30, "A to see B in sync")
                if cluster is not None:
                    pair.wait_for(lambda: (pair.status(a) or {}).get("witness", {})
                                  .get("held_here"), 30, "A to hold the witness key")
                time.sleep(1.0)  # let the backup's monitors settle into their rhythm
                if topo.has_address("B"):
                    raise RuntimeError("the VIP is on B before the fault")
                client = watch_client(topo, a)
                watch = StatusWatch(pair, b, FAULT_TIMEOUT)
                t0 = time.monotonic()
                observer.watch(mac_b, t0)
                watch.start()
                t0 = time.monotonic()
                if fault == "module":
                    pair.kill(f"{a}/TsServer", signal.SIGKILL)
                elif fault == "host":
                    pair.kill(a, signal.SIGKILL)
                elif fault == "link":
                    topo.link("A", up=False)
                elif fault == "manual":
                    if not pair.admin(b, "switch", {}).get("accepted"):
                        raise RuntimeError("the manual switch was not accepted")
                elif fault == "stop":
                    pair.processes[a].send_signal(signal.SIGTERM)
                else:
                    raise ValueError(fault)
                answered = observer.wait(FAULT_TIMEOUT)
                served = client_answered(client, b, t0)
                watch.join(FAULT_TIMEOUT)
                if answered is None:
                    result.notes.append(f"rep {rep + 1}: B never answered for the VIP "
                                        f"(logs in {base})")
                else:
                    result.vip.append(answered - t0)
                if served is None:
                    result.notes.append(f"rep {rep + 1}: B's service never answered on the "
                                        f"VIP (logs in {base})")
                else:
                    result.client.append(served)
                if watch.at is not None:
                    result.status.append(watch.at - t0)
                events = [e for e in pair.events(b)
                          if e.get("message") == "Switchover Service: Switch Initiated"]
                reason = events[-1].get("reason") if events else None
                say(f"{result.name} rep {rep + 1}: VIP "
                    f"{(answered - t0) if answered else float('nan'):.3f} s, client "
                    f"{served if served is not None else float('nan'):.3f} s, status "
                    f"{(watch.at - t0) if watch.at else float('nan'):.3f} s, reason {reason}")
            except Exception as exc:
                result.notes.append(f"rep {rep + 1}: {exc} (logs in {base})")
                say(f"{result.name} rep {rep + 1} failed: {exc}")
            finally:
                if client is not None:
                    cleanup("client", client.stop)
                if watch is not None:
                    cleanup("status watch", watch.stop)
                cleanup("pair", pair.stop_all)
                cleanup("link", lambda: topo.link("A", up=True))
                for letter in "AB":
                    cleanup("VIP", lambda: topo.drop_address(letter))
                if keep is None and not result.notes:
                    shutil.rmtree(base, ignore_errors=True)
    finally:
        for proc in web:
            cleanup("web service", lambda: stop_http_server(proc))
        if observer is not None:
            observer.stop()
        if cluster is not None:
            cleanup("etcd", cluster.stop)
        topo.destroy()


# --- the table ---------------------------------------------------------------------------


def table(results: dict[str, Result]) -> str:
    head = ("contender", "fault", "scale", "witness", "n", "VIP answered (ARP), s", "client-observed "
            "downtime, s", "status Primary, s", "expected, s", "measured/expected", "goal",
            "met", "vs fastest keepalived")
    rows = [head]
    for key, r in results.items():
        med = statistics.median(r.vip) if r.vip else None
        ratio = f"{med / r.expected:.3f}" if med is not None and r.expected else "—"
        met, fastest = "—", "—"
        goal = r.goal
        if r.client_limit is not None:
            other = results.get(r.ahead_of or "")
            goal = f"client < {r.client_limit:g} s"
            if other is not None:
                goal += f", ahead of keepalived {other.name}"
            if r.client:
                cmed = statistics.median(r.client)
                ok = cmed < r.client_limit
                if other is not None and other.client:
                    ok = ok and cmed < statistics.median(other.client)
                met = "yes" if ok else "no"
                quick = results.get(f"ka-fast-{(r.ahead_of or '')[3:]}")
                if quick is not None and quick.client:
                    fastest = ("ahead" if cmed < statistics.median(quick.client)
                               else "behind") + f" ({statistics.median(quick.client):.3f})"
        elif med is not None and goal.startswith("±2%") and r.expected:
            met = "yes" if abs(med / r.expected - 1) <= 0.02 else "no"
        rows.append((r.contender, r.name, f"{r.scale:g}" if r.scale else "—",
                     "—" if r.ttl is None else f"etcd, T = {r.ttl:g} s",
                     str(max(len(r.vip), len(r.client))), fmt(r.vip), fmt(r.client),
                     fmt(r.status), f"{r.expected:.2f}" if r.expected else "—", ratio,
                     goal or "—", met, fastest))
    widths = [max(len(row[i]) for row in rows) for i in range(len(head))]
    lines = []
    for n, row in enumerate(rows):
        lines.append(" | ".join(cell.ljust(w) for cell, w in zip(row, widths)))
        if n == 0:
            lines.append("-+-".join("-" * w for w in widths))
    return "\n".join(lines)


SCENARIOS: dict[str, Callable[[], Result]] = {
    "module-kill": lambda: Result("module SIGKILL", "switchover", 1.0, None, "",
                                  client_limit=0.25, ahead_of="ka-module-kill"),
    "host-kill": lambda: Result("host SIGKILL", "switchover", 0.1, RT * 0.1, "±2% of formula"),
    "link-cut": lambda: Result("link cut", "switchover", 0.1, LINK_FORMULA * 0.1,
                               "±2% of formula"),
    "host-kill-fast": lambda: Result("host SIGKILL, Reconnect Timeout 1", "switchover", 1.0,
                                     1.0, "", client_limit=1.5, ahead_of="ka-daemon-kill"),
    "module-kill-witness": lambda: Result("module SIGKILL", "switchover", 1.0, None,
                                          "beside module-kill", ttl=10),
    "host-kill-fast-witness": lambda: Result("host SIGKILL, Reconnect Timeout 1",
                                             "switchover", 1.0, None,
                                             "beside host-kill-fast; adds ≤ T", ttl=5),
    "manual-switch": lambda: Result("manual switch", "switchover", 1.0, None, "",
                                    client_limit=0.25, ahead_of="ka-stop"),
    "graceful-stop": lambda: Result("graceful stop (SIGTERM)", "switchover", 1.0, None, "",
                                    client_limit=0.25, ahead_of="ka-stop"),
    "ka-module-kill": lambda: Result("module SIGKILL (track script)", "keepalived", None,
                                     None, "advert_int 1"),
    "ka-daemon-kill": lambda: Result("daemon SIGKILL", "keepalived", None, None,
                                     "advert_int 1"),
    "ka-stop": lambda: Result("graceful stop (SIGTERM)", "keepalived", None, None,
                              "advert_int 1"),
    "ka-fast-module-kill": lambda: Result("module SIGKILL (track script)", "keepalived",
                                          None, None, f"advert_int {FASTEST_ADVERT:g}"),
    "ka-fast-daemon-kill": lambda: Result("daemon SIGKILL", "keepalived", None, None,
                                          f"advert_int {FASTEST_ADVERT:g}"),
    "ka-fast-stop": lambda: Result("graceful stop (SIGTERM)", "keepalived", None, None,
                                   f"advert_int {FASTEST_ADVERT:g}"),
}

#: The switchover scenarios: (fault, server parameters).
PAIR_FAULTS: dict[str, tuple[str, dict[str, Any]]] = {
    "module-kill": ("module", {}),
    "host-kill": ("host", {}),
    "link-cut": ("link", {}),
    "host-kill-fast": ("host", {"Switchover Reconnect Timeout": 1}),
    "module-kill-witness": ("module", {}),
    "host-kill-fast-witness": ("host", {"Switchover Reconnect Timeout": 1}),
    "manual-switch": ("manual", {}),
    "graceful-stop": ("stop", {}),
}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--reps", type=int, default=3, help="repetitions of each fault")
    parser.add_argument("--only", nargs="*", choices=sorted([*SCENARIOS, *PARTITIONS]),
                        help="run only these scenarios")
    parser.add_argument("--keep", type=Path, help="keep configs and logs under this dir")
    args = parser.parse_args(argv)

    ok, why = netns_available()
    if not ok:
        print(f"failover: cannot run: {why} (run as root)", file=sys.stderr)
        return 2
    clash = ranges_unused()
    if clash:
        print(f"failover: cannot run: {clash}", file=sys.stderr)
        return 2
    if args.keep:
        args.keep.mkdir(parents=True, exist_ok=True)
    chosen = args.only or [*SCENARIOS, *PARTITIONS]
    keepalived = None
    if any(name.startswith("ka-") for name in chosen):
        keepalived = ensure_keepalived()
        if keepalived is None:
            say("keepalived unavailable: its rows are left out")
    results: dict[str, Result] = {}
    partitions: dict[str, PartitionResult] = {}
    for name in chosen:
        if name in PARTITIONS:
            partitions[name] = PARTITIONS[name]()
            say(f"partition: {partitions[name].name}, {name}, {args.reps} repetition(s)")
            try:
                run_partition(partitions[name], args.reps, args.keep)
            except EtcdUnavailable as exc:
                say(f"{name} left out: {exc}")
                del partitions[name]
            continue
        result = SCENARIOS[name]()
        say(f"{result.contender}: {result.name}, {result.goal or 'goal ' + name}, "
            f"{args.reps} repetition(s)")
        if name in PAIR_FAULTS:
            fault, params = PAIR_FAULTS[name]
            try:
                run_switchover(result, fault, params, args.reps, args.keep)
            except EtcdUnavailable as exc:
                say(f"{name} left out: {exc}")
                continue
        elif keepalived is not None:
            kind = name.removeprefix("ka-").removeprefix("fast-")
            run_keepalived(result, {"module-kill": "module", "daemon-kill": "daemon",
                                    "stop": "stop"}[kind], args.reps, keepalived, args.keep,
                           advert=FASTEST_ADVERT if name.startswith("ka-fast-") else 1.0)
        else:
            continue
        results[name] = result
    print()
    if partitions:
        print(partition_table(partitions))
        for p in partitions.values():
            for note in p.notes:
                print(f"  note ({p.name}): {note}")
        print(describe() + "\n")
    if results:
        print_failover(results, keepalived)
    only = f" --only {' '.join(args.only)}" if args.only else ""
    print(f"Rerun with:  {RERUN} --reps {args.reps}{only}")
    return 0


def print_failover(results: dict[str, Result], keepalived: str | None) -> None:
    print(table(results))
    for r in results.values():
        for note in r.notes:
            print(f"  note ({r.contender}, {r.name}): {note}")
    print("\nTimes run from the fault (kill, SIGTERM, `switchover switch` on B or `ip link "
          f"set down`): 'VIP answered' to the first ARP answer for {VIP} from B's MAC, seen "
          "on the router's bridge; 'client-observed downtime' to the first HTTP 200 from "
          f"B's service through http://{VIP}/ for a client in the router namespace that "
          "starts a request every 10 ms; 'status' to when B's status first read Primary. "
          "Shared CPUs make every figure noisy.")
    if keepalived:
        version = subprocess.run([keepalived, "--version"], capture_output=True, text=True)
        print(f"keepalived: {(version.stderr or version.stdout).splitlines()[0]}")


if __name__ == "__main__":
    sys.exit(main())
