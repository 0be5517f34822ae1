"""The follower core (replication/stream.py) as a table: a follower's history of changes,
snapshots and gap checks -> what it hands out to apply, reports, and may acknowledge.

Steps: ("c", seq[, prev[, epoch]]) a change arrives; ("sync",) a resync starts;
("synced", seq) it ends at seq; ("check",) the gap's grace is over; ("flush",).
What each step yields: "apply N" per change handed out, "gap" (wait for a missing one),
"resync" (the stream cannot be followed), "dup" (dropped as already seen).
"""
from __future__ import annotations

from typing import Any

import pytest

from switchover.replication.stream import Follower

# (id, steps, expected outputs, expected acknowledgeable number at the end)
ROWS: list[tuple[str, list[tuple[Any, ...]], list[str], int]] = [
    ("in-order", [("c", 1), ("c", 2), ("c", 3)], ["apply 1", "apply 2", "apply 3"], 3),
    ("second-channel-copy", [("c", 1), ("c", 1), ("c", 2), ("c", 2)],
     ["apply 1", "dup", "apply 2", "dup"], 2),
    ("copy-of-a-waiting-change", [("c", 1), ("c", 3), ("c", 3)],
     ["apply 1", "gap", "dup"], 1),
    ("gap-closed-by-other-channel", [("c", 1), ("c", 3), ("c", 2)],
     ["apply 1", "gap", "apply 2", "apply 3"], 3),
    ("gap-not-closed-resyncs", [("c", 1), ("c", 3), ("check",), ("check",)],
     ["apply 1", "gap", "resync"], 1),
    ("ack-never-beyond-a-gap", [("c", 1), ("c", 3), ("c", 4), ("c", 5)],
     ["apply 1", "gap", "gap", "gap"], 1),
    ("gap-progress-gets-a-new-grace", [("c", 1), ("c", 3), ("c", 5), ("c", 2), ("check",),
                                       ("check",)],
     ["apply 1", "gap", "gap", "apply 2", "apply 3", "gap", "gap", "resync"], 3),
    ("gapped-numbers-with-prev", [("c", 2, 0), ("c", 7, 2), ("c", 9, 7)],
     ["apply 2", "apply 7", "apply 9"], 9),
    ("gap-in-numbers-with-prev", [("c", 2, 0), ("c", 9, 7)], ["apply 2", "gap"], 2),
    ("snapshot-buffers", [("sync",), ("c", 4), ("c", 5), ("c", 6), ("synced", 4)],
     ["apply 5", "apply 6"], 6),
    ("snapshot-older-than-buffer", [("sync",), ("c", 8), ("synced", 5), ("check",)],
     ["gap", "resync"], 5),
    ("gap-during-a-snapshot", [("sync",), ("c", 6), ("c", 8), ("synced", 5), ("check",)],
     ["apply 6", "gap", "resync"], 6),
    ("resend-after-a-resync", [("c", 1), ("c", 3), ("check",), ("check",), ("synced", 3),
                               ("c", 2), ("c", 3), ("c", 4)],
     ["apply 1", "gap", "resync", "dup", "dup", "apply 4"], 4),
    ("changes-during-resync-wait", [("c", 1), ("c", 3), ("check",), ("check",), ("c", 4),
                                    ("synced", 3)],
     ["apply 1", "gap", "resync", "apply 4"], 4),
    ("snapshot-prev-below-snapshot", [("sync",), ("c", 12, 3), ("synced", 10)],
     ["apply 12"], 12),
    ("new-epoch-resyncs", [("c", 1, None, "e1"), ("c", 2, None, "e1"), ("c", 1, None, "e2"),
                           ("synced", 0)],
     ["apply 1", "apply 2", "resync", "apply 1"], 1),
    ("flush-keeps-beyond-gap", [("c", 1), ("c", 3), ("flush",)],
     ["apply 1", "gap", "apply 3"], 3),
]


def run(steps: list[tuple[Any, ...]], follower: Follower) -> list[str]:
    out: list[str] = []
    for step in steps:
        kind = step[0]
        if kind == "flush":
            out += [f"apply {p}" for p in follower.flush()]
            continue
        if kind == "c":
            seq, prev, epoch = (*step[1:], None, None)[:3]
            before = follower.duplicates
            verdict = follower.offer(seq, seq, prev, epoch)
            if follower.duplicates > before:
                out.append("dup")
        elif kind == "sync":
            follower.begin_sync()
            continue
        elif kind == "synced":
            verdict = follower.synced(step[1])
        else:
            verdict = follower.check_gap()
        out += [f"apply {p}" for p in verdict.ready]
        if verdict.resync:
            out.append("resync")
        elif verdict.gap:
            out.append("gap")
    return out


@pytest.mark.parametrize("steps,expected,ackable", [r[1:] for r in ROWS],
                         ids=[r[0] for r in ROWS])
def test_follower(steps: list[tuple[Any, ...]], expected: list[str], ackable: int) -> None:
    follower = Follower()
    assert run(steps, follower) == expected
    assert follower.applied == ackable


def test_a_buffer_too_large_resyncs() -> None:
    follower = Follower(max_pending=3)
    follower.begin_sync()
    verdicts = [follower.offer(seq, seq) for seq in range(1, 5)]
    assert [v.resync is not None for v in verdicts] == [False, False, False, True]
    assert len(follower) == 0 and follower.syncing


def test_a_long_backlog_applies_in_order() -> None:
    follower = Follower()
    follower.begin_sync()
    for seq in range(10_000, 0, -1):
        follower.offer(seq, seq)
    assert follower.synced(0).ready == tuple(range(1, 10_001))
    assert len(follower) == 0


def test_changes_handed_out_but_not_committed_survive_a_resync() -> None:
    follower = Follower()
    handed = [follower.offer(seq, seq).ready for seq in (1, 2, 3)]
    assert handed == [(1,), (2,), (3,)]
    # only 1 was committed when the resync started; the resync ends at 2
    follower.begin_sync(uncommitted=((2, 1, 2), (3, 2, 3)), applied=1)
    assert follower.applied == 1
    assert follower.synced(2).ready == (3,)


def test_a_resync_that_ends_lower_keeps_what_came_meanwhile() -> None:
    """A new active with a shorter history: the changes above its end that arrived
    during the resync, even at numbers applied before, are applied after it."""
    follower = Follower(applied=10)
    follower.begin_sync()
    for seq in (8, 9, 10):
        follower.offer(seq, seq)
    assert follower.synced(7).ready == (8, 9, 10)
