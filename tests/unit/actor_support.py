"""Driving Pykka actors from a test: with a FakeClock without sleeping, or (for an
actor whose work runs as jobs on a worker thread) by watching what it reports."""
from __future__ import annotations

import time
from typing import Any, Callable

from switchover.clock import FakeClock


def wait_until(predicate: Callable[[], Any], what: str, timeout: float = 10.0) -> Any:
    """Poll `predicate` until it is true (its value) or fail naming `what`."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(0.01)
    raise AssertionError(f"timed out waiting for {what}")


def settle(*refs, rounds: int = 200) -> None:
    """Wait until every actor has handled everything it was sent (no sleeping)."""
    quiet = 0
    for _ in range(rounds):
        for ref in refs:
            ref.proxy().snapshot().get(timeout=2)
        if all(ref.actor_inbox.empty() for ref in refs):
            quiet += 1
            if quiet == 2:
                return
        else:
            quiet = 0
    raise AssertionError("actors did not settle")


def pump(clock: FakeClock, *refs) -> None:
    """Let the actors finish, then fire timers they set for "now" (zero-latency replies)."""
    for _ in range(6):
        settle(*refs)
        clock.advance(0)
    settle(*refs)
