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
  keepalived  module SIGKILL      the same kind of module under a pid file, tracked by a
                                  vrrp_script (interval 1, fall 1) `kill -0 $(cat pidfile)`
  keepalived  daemon SIGKILL      A's keepalived processes killed
  keepalived  graceful stop       SIGTERM to A's keepalived (it sends priority 0 first)

Goals (client-observed): manual switch, graceful stop and module SIGKILL under 250 ms,
host SIGKILL with the fast profile under 1.5 s, each ahead of keepalived's figure for
the same kind of fault at advert_int 1 in the same run (a planned hand-over against
keepalived's graceful stop); the last column compares with keepalived at its fastest.

Needs root (network namespaces) and keepalived (installed with apt-get when missing and
possible). Rerun with:  ./dev bench failover  [--reps 3] [--only NAME ...] [--keep DIR]
"""
from __future__ import annotations

import argparse
import os
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Mapping

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.netns import (  # noqa: E402
    PREFIX,
    VIP,
    ArpObserver,
    HttpClient,
    Topology,
    netns_available,
    ranges_unused,
    start_http_server,
    stop_http_server,
)
from switchover.localpair import LocalPair  # noqa: E402

RERUN = "./dev bench failover"
NAMES = ("ICServer1", "ICServer2")
FAULT_TIMEOUT = 60.0  # seconds to wait for the new active after a fault

# docs/switching.md symbols with default parameters (reference seconds)
L, H, ECHO, S, D, RT = 3, 1.0, 1.0, 3, 10.0, 30.0
LINK_FORMULA = L * H + S * 3 * ECHO + (S - 1) * D + RT  # 62 s


@dataclass
class Result:
    name: str
    contender: str
    scale: float | None
    expected: float | None  # seconds, real
    goal: str
    #: Client-observed downtime goal: the median under this many seconds ...
    client_limit: float | None = None
    #: ... and under the median of this keepalived scenario in the same run.
    ahead_of: str | None = None
    vip: list[float] = field(default_factory=list)
    client: list[float] = field(default_factory=list)
    status: list[float] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)


def say(text: str) -> None:
    print(f"[failover {time.strftime('%H:%M:%S')}] {text}", flush=True)


# --- keepalived ------------------------------------------------------------------------


def ensure_keepalived() -> str | None:
    """The keepalived binary; installs it with apt-get when running as root and possible."""
    found = shutil.which("keepalived")
    if found:
        return found
    print("keepalived is not installed; install it with:  apt-get install -y keepalived",
          flush=True)
    if os.geteuid() == 0 and shutil.which("apt-get"):
        say("installing keepalived with apt-get")
        env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
        try:
            subprocess.run(["apt-get", "update"], env=env, timeout=600, check=False,
                           stdout=subprocess.DEVNULL)
            subprocess.run(["apt-get", "install", "-y", "keepalived"], env=env, timeout=600,
                           check=False, stdout=subprocess.DEVNULL)
        except subprocess.TimeoutExpired:
            say("apt-get timed out")
        found = shutil.which("keepalived")
    return found


KEEPALIVED_CONF = """\
global_defs {{
    router_id so_{letter}
    script_user root
    vrrp_garp_master_delay 0
    vrrp_version {version}
}}
vrrp_script chk_module {{
    script "{check}"
    interval 1
    fall 1
    rise 1
}}
vrrp_instance so_vip {{
    state BACKUP
    interface {dev}
    virtual_router_id 51
    priority {priority}
    advert_int {advert}
    virtual_ipaddress {{
        {vip}/{prefix} dev {dev}
    }}
    track_script {{
        chk_module
    }}
}}
"""


# --- helpers ---------------------------------------------------------------------------


def stop_process(proc: subprocess.Popen, timeout: float = 10.0) -> None:
    """SIGTERM, then SIGKILL, one process this benchmark started (by its PID)."""
    if proc.poll() is None:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(5)


def cleanup(what: str, step: Callable[[], Any]) -> None:
    """One teardown step; a failure is reported and the next step still runs."""
    try:
        step()
    except Exception as exc:
        say(f"cleanup of {what} failed: {exc}")


def stop_daemon(proc: subprocess.Popen) -> None:
    """Stop a keepalived started here, and any child its killed parent left behind."""
    children = descendants(proc.pid)
    stop_process(proc)
    for pid in children:
        try:
            os.kill(pid, signal.SIGKILL)
        except ProcessLookupError:
            pass


def descendants(pid: int) -> list[int]:
    import psutil

    try:
        return [c.pid for c in psutil.Process(pid).children(recursive=True)]
    except psutil.Error:
        return []


class StatusWatch(threading.Thread):
    """Polls B's status until it reads Primary; notes the monotonic time it did."""

    def __init__(self, pair: LocalPair, name: str, timeout: float) -> None:
        super().__init__(name="status-watch", daemon=True)
        self.pair, self.host, self.timeout = pair, name, timeout
        self.at: float | None = None
        self._halt = threading.Event()

    def run(self) -> None:
        deadline = time.monotonic() + self.timeout
        while not self._halt.is_set() and time.monotonic() < deadline:
            try:
                status = self.pair.status(self.host, timeout=1.0)
            except Exception:
                status = None
            if status and status.get("state") == "Primary":
                self.at = time.monotonic()
                return
            time.sleep(0.01)

    def stop(self) -> None:
        self._halt.set()
        self.join(5)


def start_pair(pair: LocalPair, timeout: float = 30.0) -> None:
    pair.start_active(timeout=timeout)
    pair.start_backup(timeout=timeout)


# --- the switchover pair ---------------------------------------------------------------


def start_web(topo: Topology) -> list[subprocess.Popen]:
    """The web service on both hosts (answering its server's name on every address)."""
    servers: list[subprocess.Popen] = []
    try:
        for name, letter in zip(NAMES, "AB"):
            servers.append(start_http_server(topo, letter, name))
    except BaseException:
        for proc in servers:
            stop_http_server(proc)
        raise
    return servers


def watch_client(topo: Topology, name: str) -> HttpClient:
    """A client on the LAN, once the VIP answers with `name`'s service."""
    client = HttpClient(topo, limit=FAULT_TIMEOUT + 60).start()
    if client.wait_answer(name, time.monotonic(), 10) is None:
        client.stop()
        raise RuntimeError(f"the VIP never answered with {name}'s service")
    return client


def client_answered(client: HttpClient, name: str, t0: float) -> float | None:
    """Seconds from `t0` to the first 200 from `name`, waiting for it (then a little
    longer, so the tail of the switch is recorded too)."""
    at = client.wait_answer(name, t0, FAULT_TIMEOUT)
    time.sleep(0.2)
    client.stop()
    return None if at is None else at - t0


def vip_hooks(topo: Topology) -> dict[str, dict[str, Any]]:
    """The shipped vip hook, configured as deploy/README.md says."""
    cidr = f"{VIP}/{PREFIX}"
    return {name: {"commence": [["vip", "up", cidr, topo.ifname(letter)]],
                   "discontinue": [["vip", "down", cidr, topo.ifname(letter)]]}
            for name, letter in zip(NAMES, "AB")}


def in_sync(pair: LocalPair, a: str) -> bool:
    """A sees B as its backup with no warnings: what a planned hand-over needs."""
    peer = (pair.status(a) or {}).get("peer", {})
    return peer.get("state") == "Backup" and peer.get("warnings") == []


def run_switchover(result: Result, fault: str, params: Mapping[str, Any], reps: int,
                   keep: Path | None) -> None:
    scale = result.scale or 1.0
    topo = Topology().build()
    observer = None
    web: list[subprocess.Popen] = []
    try:
        observer = ArpObserver(topo).start()
        web = start_web(topo)
        mac_b = topo.mac("B")
        for rep in range(reps):
            base = Path(tempfile.mkdtemp(prefix="so-fo-", dir=keep))
            pair = LocalPair(
                base, time_scale=scale, parameters=dict(params), hooks=vip_hooks(topo),
                addresses={NAMES[0]: topo.address("A"), NAMES[1]: topo.address("B")},
                netns={NAMES[0]: topo.ns("A"), NAMES[1]: topo.ns("B")},
            )
            a, b = pair.names
            watch = client = None
            try:
                start_pair(pair)
                pair.wait_for(lambda: topo.has_address("A"), 10, "the VIP on A")
                pair.wait_for(lambda: in_sync(pair, a), 30, "A to see B in sync")
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
        topo.destroy()


# --- keepalived --------------------------------------------------------------------------


def run_keepalived(result: Result, fault: str, reps: int, binary: str,
                   keep: Path | None, advert: float = 1.0) -> None:
    topo = Topology().build()
    observer = None
    web: list[subprocess.Popen] = []
    try:
        observer = ArpObserver(topo).start()
        web = start_web(topo)
        mac_b = topo.mac("B")
        for rep in range(reps):
            base = Path(tempfile.mkdtemp(prefix="so-ka-", dir=keep))
            # The module: the same `switchover module` process as the pair's, run alone.
            pair = LocalPair(base, addresses={NAMES[0]: topo.address("A"),
                                              NAMES[1]: topo.address("B")},
                             netns={NAMES[0]: topo.ns("A"), NAMES[1]: topo.ns("B")})
            daemons: dict[str, subprocess.Popen] = {}
            client = None
            try:
                for name, letter, priority in zip(NAMES, "AB", (150, 100)):
                    module = pair.start_module(name)
                    pid_file = base / f"module-{letter}.pid"
                    pid_file.write_text(f"{module.pid}\n")
                    check = base / f"check-{letter}.sh"
                    check.write_text(f"#!/bin/sh\nkill -0 $(cat {pid_file}) 2>/dev/null\n")
                    check.chmod(0o755)
                    conf = base / f"keepalived-{letter}.conf"
                    conf.write_text(KEEPALIVED_CONF.format(
                        letter=letter, check=check, dev=topo.ifname(letter),
                        priority=priority, vip=VIP, prefix=PREFIX, advert=f"{advert:g}",
                        version=2 if advert >= 1 else 3))
                    log = open(base / f"keepalived-{letter}.log", "ab")
                    daemons[letter] = subprocess.Popen(
                        [*topo.exec_prefix(letter), binary, "--dont-fork", "--log-console",
                         "--log-detail", "--vrrp", "--use-file", str(conf),
                         "--pid", str(base / f"keepalived-{letter}.pid"),
                         "--vrrp_pid", str(base / f"vrrp-{letter}.pid")],
                        stdout=log, stderr=subprocess.STDOUT)
                    log.close()
                pair.wait_for(lambda: topo.has_address("A") and not topo.has_address("B"),
                              30, "keepalived to put the VIP on A")
                time.sleep(2.0)  # a few adverts in the steady state
                client = watch_client(topo, NAMES[0])
                t0 = time.monotonic()
                observer.watch(mac_b, t0)
                t0 = time.monotonic()
                if fault == "module":
                    # reaped at once, as a supervisor would: `kill -0` succeeds on a zombie
                    pair.kill(f"{NAMES[0]}/TsServer", signal.SIGKILL)
                elif fault == "stop":
                    daemons["A"].send_signal(signal.SIGTERM)  # priority 0 advert, then exit
                else:
                    parent = daemons["A"].pid
                    for pid in [*descendants(parent), parent]:
                        try:
                            os.kill(pid, signal.SIGKILL)
                        except ProcessLookupError:
                            pass
                answered = observer.wait(FAULT_TIMEOUT)
                served = client_answered(client, NAMES[1], t0)
                if answered is None:
                    result.notes.append(f"rep {rep + 1}: B never answered (logs in {base})")
                else:
                    result.vip.append(answered - t0)
                if served is None:
                    result.notes.append(f"rep {rep + 1}: B's service never answered on the "
                                        f"VIP (logs in {base})")
                else:
                    result.client.append(served)
                say(f"{result.name} rep {rep + 1}: VIP "
                    f"{(answered - t0) if answered else float('nan'):.3f} s, client "
                    f"{served if served is not None else float('nan'):.3f} s")
            except Exception as exc:
                result.notes.append(f"rep {rep + 1}: {exc} (logs in {base})")
                say(f"{result.name} rep {rep + 1} failed: {exc}")
            finally:
                if client is not None:
                    cleanup("client", client.stop)
                for proc in daemons.values():
                    cleanup("keepalived", lambda: stop_daemon(proc))
                cleanup("modules", pair.stop_all)
                for letter in "AB":
                    cleanup("VIP", lambda: topo.drop_address(letter))
                if keep is None and not result.notes:
                    shutil.rmtree(base, ignore_errors=True)
    finally:
        for proc in web:
            cleanup("web service", lambda: stop_http_server(proc))
        if observer is not None:
            observer.stop()
        topo.destroy()


# --- the table ---------------------------------------------------------------------------


def fmt(values: list[float]) -> str:
    if not values:
        return "—"
    return (f"{statistics.median(values):6.3f} ({min(values):.3f}–{max(values):.3f})")


def table(results: dict[str, Result]) -> str:
    head = ("contender", "fault", "scale", "n", "VIP answered (ARP), s", "client-observed "
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


#: keepalived's fastest advert_int: VRRPv3 carries the interval in centiseconds.
FASTEST_ADVERT = 0.01

SCENARIOS: dict[str, Callable[[], Result]] = {
    "module-kill": lambda: Result("module SIGKILL", "switchover", 1.0, None, "",
                                  client_limit=0.25, ahead_of="ka-module-kill"),
    "host-kill": lambda: Result("host SIGKILL", "switchover", 0.1, RT * 0.1, "±2% of formula"),
    "link-cut": lambda: Result("link cut", "switchover", 0.1, LINK_FORMULA * 0.1,
                               "±2% of formula"),
    "host-kill-fast": lambda: Result("host SIGKILL, Reconnect Timeout 1", "switchover", 1.0,
                                     1.0, "", client_limit=1.5, ahead_of="ka-daemon-kill"),
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
    "manual-switch": ("manual", {}),
    "graceful-stop": ("stop", {}),
}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--reps", type=int, default=3, help="repetitions of each fault")
    parser.add_argument("--only", nargs="*", choices=sorted(SCENARIOS),
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
    chosen = args.only or list(SCENARIOS)
    keepalived = None
    if any(name.startswith("ka-") for name in chosen):
        keepalived = ensure_keepalived()
        if keepalived is None:
            say("keepalived unavailable: its rows are left out")
    results: dict[str, Result] = {}
    for name in chosen:
        result = SCENARIOS[name]()
        say(f"{result.contender}: {result.name}, {result.goal or 'goal ' + name}, "
            f"{args.reps} repetition(s)")
        if name in PAIR_FAULTS:
            fault, params = PAIR_FAULTS[name]
            run_switchover(result, fault, params, args.reps, args.keep)
        elif keepalived is not None:
            kind = name.removeprefix("ka-").removeprefix("fast-")
            run_keepalived(result, {"module-kill": "module", "daemon-kill": "daemon",
                                    "stop": "stop"}[kind], args.reps, keepalived, args.keep,
                           advert=FASTEST_ADVERT if name.startswith("ka-fast-") else 1.0)
        else:
            continue
        results[name] = result
    print()
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
    only = f" --only {' '.join(args.only)}" if args.only else ""
    print(f"Rerun with:  {RERUN} --reps {args.reps}{only}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
