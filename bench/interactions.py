"""Interaction recovery at 150,000 concurrent interactions, between two real host processes.

Ten times the 15,000 emails the reference reports as tested ("Scalability of email
interaction recovery"). An application (this process, `InteractionClient`) creates the
interactions on the active; then the backup starts and fully synchronises; then the
application sends updates at a fixed rate while the backup's shadow lag is sampled (from
the active taking the request to the backup's commit, both stamped with this machine's
clock), and the application's acknowledgement time (call to answer, which includes the
wait for the backup's confirmation);
then the active is SIGKILLed and the backup promotes every shadow. The pair runs with a
small time_scale so the switchover does not wait the reference's 30 s reconnect period;
none of the measured work depends on it.
Rerun with:  ./dev bench interactions  [--count 150000] [--rate 10000] [--seconds 10]
"""
from __future__ import annotations

import argparse
import atexit
import re
import shutil
import sys
import tempfile
import threading
import time
from collections import deque
from pathlib import Path

import psutil

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from switchover.localpair import LocalPair  # noqa: E402
from switchover.transport.interaction_client import InteractionClient  # noqa: E402
from switchover.transport.security import load_keypair  # noqa: E402

TYPES = ("email", "chat", "callback", "sms", "socialconversation", "directmessage")
ENABLED = {f"{p} Interaction Recovery Enabled": 1 for p in
           ("Mail", "Chat", "Callback", "SMS", "Socialconversation", "Directmessage")}
GOALS = {"sync": 10.0, "lag_p99": 50.0, "promotion": 2.0, "rss": 500.0}


def health(pair: LocalPair, name: str) -> dict:
    return ((pair.status(name, timeout=5.0) or {}).get("replication") or {}).get(
        "interactions", {})


def pipelined(calls, window: int, rate: float | None = None) -> float:
    """Send `calls` (thunks returning Futures) keeping `window` in flight; seconds taken."""
    inflight: deque = deque()
    started = time.perf_counter()
    for n, call in enumerate(calls):
        if rate:
            due = started + n / rate
            delay = due - time.perf_counter()
            if delay > 0:
                time.sleep(delay)
        inflight.append(call())
        while len(inflight) >= window:
            inflight.popleft().result(timeout=120)
    for f in inflight:
        f.result(timeout=120)
    return time.perf_counter() - started


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--count", type=int, default=150_000)
    ap.add_argument("--rate", type=float, default=10_000.0, help="updates per second")
    ap.add_argument("--seconds", type=float, default=10.0, help="length of the update run")
    ap.add_argument("--window", type=int, default=2000, help="calls queued in the client")
    ap.add_argument("--inflight", type=int, default=1024,
                    help="calls in flight (the client's window; its default is 1,024)")
    args = ap.parse_args()

    base = Path(tempfile.mkdtemp(prefix="bench-ir-"))
    atexit.register(shutil.rmtree, base, True)  # hundreds of MB: never left behind
    pair = LocalPair(base, time_scale=0.05, parameters=ENABLED)
    a, b = pair.names
    rows: list[tuple[str, str, str]] = []
    try:
        pair.start_active(timeout=30)
        keys = load_keypair(pair.keys_dir / "server-group.key_secret")
        app = InteractionClient([f"tcp://127.0.0.1:{pair.ports[n]['main_port']}"
                                 for n in pair.names], keys, keys.public, "bench",
                                timeout=10.0, window=args.inflight)
        n = args.count

        def create(i: int):
            t = TYPES[i % len(TYPES)]
            spec = {"key": f"K{i:07d}", "type": t, "queue": f"WG{i % 50}", "state": "queued"}
            if t == "email":
                spec["email"] = {"subject": f"order {i}", "body_html": "<p>Hello</p>" * 8,
                                 "body_text": "Hello " * 8}
            return lambda: app.create(spec, wait=False)

        took = pipelined((create(i) for i in range(n)), args.window)
        rows.append(("create on the active (application)", f"{n / took:,.0f} /s",
                     f"{n:,} in {took:.1f} s"))

        started = time.perf_counter()
        pair.start_host(b)
        pair.wait_for(lambda: (h := health(pair, b)).get("state") == "in sync"
                      and h.get("shadows") == n, 300, "backup in sync")
        whole = time.perf_counter() - started
        logged = re.findall(r"full synchronisation of .*: (\d+) interactions in ([\d.]+) s",
                            pair.log_text(b))
        load = float(logged[-1][1]) if logged else float("nan")
        rows.append(("full synchronisation (load)", f"{load:.2f} s",
                     f"goal < {GOALS['sync']:.0f} s; backup start to in sync {whole:.1f} s"))
        proc = psutil.Process(pair.processes[b].pid)
        rss_sync = proc.memory_info().rss / 2**20

        total = int(args.rate * args.seconds)
        states = ("connected", "held")
        acked: list[float] = []  # call to acknowledgement, seconds (the backup holds it)

        def update(i: int):
            key = f"K{(i * 7919) % n:07d}"

            def call():
                sent = time.perf_counter()
                future = app.update_state(key, states[i % 2], wait=False)
                future.add_done_callback(lambda _: acked.append(time.perf_counter() - sent))
                return future
            return call

        took = pipelined((update(i) for i in range(total)), args.window, rate=args.rate)
        sampled = pair.wait_for(lambda: health(pair, b).get("lag_ms"), 30, "lag figures")
        achieved = total / max(took, 1e-9)
        rows.append(("sustained updates (application)", f"{achieved:,.0f} /s",
                     f"{total:,} updates, target {args.rate:,.0f} /s, one client, "
                     f"window {args.inflight}"))
        rows.append(("shadow lag p50 / p99", f"{sampled['p50']:.1f} / {sampled['p99']:.1f} ms",
                     f"goal p99 < {GOALS['lag_p99']:.0f} ms (last 20,000 updates)"))
        acked.sort()
        rows.append(("acknowledgement p50 / p99 (application)",
                     f"{1000 * acked[len(acked) // 2]:.1f} / "
                     f"{1000 * acked[int(len(acked) * 0.99)]:.1f} ms",
                     "call to answer; the answer waits for the backup's shadow"))
        rss = max(rss_sync, proc.memory_info().rss / 2**20)
        rows.append(("backup RSS", f"{rss:.0f} MB", f"goal < {GOALS['rss']:.0f} MB"))

        pair.kill(a)
        pair.wait_state(b, "Primary", timeout=60)
        h = pair.wait_for(lambda: (x := health(pair, b)).get("promoted") is not None and x,
                          60, "promotion")
        rows.append(("promote every shadow", f"{h['promotion_seconds']:.2f} s",
                     f"goal < {GOALS['promotion']:.0f} s; {h['promoted']:,} promoted"))
        app.shutdown()
    finally:
        pair.stop_all()
    width = max(len(r[0]) for r in rows)
    print(f"\ninteraction recovery, {args.count:,} concurrent interactions, "
          f"{len(TYPES)} types\n")
    print(f"{'measure':<{width}}  {'result':>18}  notes")
    for name, value, note in rows:
        print(f"{name:<{width}}  {value:>18}  {note}")
    print(f"\nrerun: ./dev bench interactions --count {args.count} --rate {args.rate:.0f} "
          f"--seconds {args.seconds:.0f}")


if __name__ == "__main__":
    threading.current_thread().name = "bench"
    main()
