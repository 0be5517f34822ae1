"""Driving Pykka actors from a test with a FakeClock, without sleeping."""
from __future__ import annotations

from switchover.clock import FakeClock


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
