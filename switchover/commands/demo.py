"""`switchover demo`: a whole pair on loopback, showing a switchover.

Two real host processes and their TsServer modules, on 127.0.0.1 with their own ports
and data dirs, at a time scale that makes the reference's 10 s TS timeouts short. The
module on the active is SIGKILLed; the backup detects it, says why, and takes over; the
old active goes stale and, restarted, rejoins as backup; then the new active's whole
host process is SIGKILLed and the backup takes over after the reconnect timeout.
"""
from __future__ import annotations

import argparse
import shutil
import signal
import tempfile
import time
from pathlib import Path

NAME = "demo"
HELP = "run a whole pair on 127.0.0.1 and show a switchover"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--time-scale", type=float, default=0.1,
                        help="reference seconds run this many times as fast (default 0.1)")
    parser.add_argument("--keep", type=Path, default=None,
                        help="keep configs, logs and data in this directory")


def _say(text: str) -> None:
    print(f"[demo {time.strftime('%H:%M:%S')}] {text}", flush=True)


def _show(pair, name: str) -> None:
    """The status table as `switchover status` prints it, from `name` and its peer."""
    import datetime as dt

    from switchover.status_view import render_text, screen

    docs = {n: pair.status(n) for n in pair.names}
    if docs[name] is None:
        _say(f"{name}: not answering")
        return
    view = screen(docs, list(pair.names), dt.datetime.now(dt.timezone.utc))
    for line in render_text(view).splitlines():
        print(f"    {line}")


def execute(args: argparse.Namespace) -> int:
    from switchover.localpair import LocalPair

    base = args.keep or Path(tempfile.mkdtemp(prefix="so-demo-"))
    pair = LocalPair(base, time_scale=args.time_scale)
    a, b = pair.names
    started = time.monotonic()
    try:
        _say(f"configs, keys and logs in {base}")
        pair.start_host(a)
        pair.wait_state(a, "Primary")
        _say(f"{a} started first: it is the active server")
        pair.start_module(a)
        pair.start_module(b)
        pair.wait_module(a)
        pair.start_host(b)
        pair.wait_state(b, "Backup")
        pair.wait_for(lambda: all((pair.status(b) or {}).get("connections", {}).values()), 20,
                      "the backup's main and aux connections")
        _say(f"{b} started second: it is the backup, watching {a} over main and aux")
        for channel in ("main", "aux"):
            result = pair.admin(b, "ping", {"channel": channel})
            _say(f"TS Diagnostic Ping from {b} over {channel}: {result['outcome']}, "
                 f"TsServer pid {result['body'].get('pid')}")
        _show(pair, b)
        module_pid = pair.processes[f"{a}/TsServer"].pid
        _say(f"SIGKILL TsServer (pid {module_pid}) on the active server {a}")
        killed_at = time.monotonic()
        pair.kill(f"{a}/TsServer")
        pair.wait_state(b, "Primary", timeout=120)
        took = time.monotonic() - killed_at
        _say(f"{b} is now the active server, {took:.2f} s after the kill "
             f"(time scale {args.time_scale})")
        for entry in pair.events(b)[-3:]:
            print(f"    event log {b}: {entry['message']}")
        pair.wait_state(a, "Inactive", timeout=30)
        _say(f"{a} was told it is no longer active: it is stale until restarted")
        pair.kill(a, sig=signal.SIGTERM)
        pair.start_host(a)
        pair.wait_state(a, "Backup", timeout=30)
        _say(f"{a} restarted: it rejoined as the backup of {b}")
        _show(pair, a)
        _say(f"SIGKILL the whole host process of the active server {b}")
        killed_at = time.monotonic()
        pair.kill(b)
        pair.wait_state(a, "Primary", timeout=120)
        _say(f"{a} is the active server again, {time.monotonic() - killed_at:.2f} s after the "
             f"kill: it waited out the Switchover Reconnect Timeout (30 s x {args.time_scale})")
        for entry in pair.events(a)[-2:]:
            print(f"    event log {a}: {entry['message']}")
        _say(f"done in {time.monotonic() - started:.1f} s")
        return 0
    except TimeoutError as exc:
        _say(f"FAILED: {exc}; see the logs in {base}")
        return 1
    finally:
        pair.stop_all()
        if args.keep is None:
            shutil.rmtree(base, ignore_errors=True)
