"""The backup's file mirror follows the active's numbered change notices through the
stream follower: in order, each once, a lost one compared again (never skipped silently),
and a restarted File Monitor (a new epoch) compared again."""
from __future__ import annotations

from typing import Any

from switchover.replication.files.health import Progress
from switchover.replication.files.mirror import Mirror, Notice
from switchover.clock import FakeClock


class Recording(Mirror):
    """The mirror's notice handling, with its file work and compares recorded."""

    def __init__(self) -> None:
        clock = FakeClock()
        super().__init__(links=None, clock=clock, events=None,  # type: ignore[arg-type]
                         specs=lambda: None, params=lambda: {}, upgrade=None,
                         progress=Progress(clock), peer="A")
        self.running = True
        self.applied: list[Any] = []
        self.compares: list[str] = []
        self.timers: list[str] = []

    def _apply_rows(self, rows: tuple) -> None:
        self.applied.append(rows)

    def _resync(self, reason: str) -> None:
        self.compares.append(reason)

    def _later(self, what: str, delay: float) -> None:
        self.timers.append(what)


def notice(seq: int, epoch: str = "e1") -> Notice:
    return Notice(epoch, seq, (f"n{seq}",))


def test_notices_apply_in_order_once() -> None:
    m = Recording()
    for seq in (7, 8, 8, 10, 9):
        m._on_notice(notice(seq))
    assert m.applied == [("n7",), ("n8",), ("n9",), ("n10",)]
    assert m.compares == []


def test_a_lost_notice_is_compared_again_after_the_wait() -> None:
    m = Recording()
    for seq in (1, 3, 4):
        m._on_notice(notice(seq))
    assert m.applied == [("n1",)] and m.timers[-1] == "gap"
    m._on_gap()  # the wait started the grace
    m._on_gap()
    assert len(m.compares) == 1 and "missing" in m.compares[0]
    m._on_notice(notice(5))  # the compare covered 3 and 4: the stream goes on
    assert m.applied == [("n1",), ("n5",)]


def test_a_new_epoch_is_compared_again() -> None:
    m = Recording()
    m._on_notice(notice(5))
    m._on_notice(notice(1, epoch="e2"))
    m._on_notice(notice(2, epoch="e2"))
    assert len(m.compares) == 1 and "epoch" in m.compares[0]
    assert m.applied == [("n5",), ("n2",)]
