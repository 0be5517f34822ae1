"""The backup's side of interaction recovery without sockets: a change lost between the
hosts is never confirmed, and its type is synchronised again.

The active releases an application's acknowledgement when the backup confirms its
number ("Shadow Ack"); confirming past a lost change would release an acknowledgement
for a change no shadow holds, lost at the next switchover.
"""
from __future__ import annotations

from pathlib import Path
from typing import Iterator

import pytest

from switchover.replication.interactions.backup import BackupSide
from switchover.replication.interactions.model import Create, InteractionType, Op
from switchover.replication.interactions.recovery import EnabledTypes
from switchover.replication.interactions.store import InteractionStore
from switchover.replication.interactions.wire import change_item, interaction_of, pack

CHAT = InteractionType.CHAT


class Rig:
    def __init__(self, tmp_path: Path) -> None:
        self.active = InteractionStore(tmp_path / "active.db")
        self.shadow = InteractionStore(tmp_path / "shadow.db")
        self.acks: list[dict[str, int]] = []
        self.resyncs: list[set[InteractionType]] = []
        self.armed = 0
        self.side = BackupSide(self.shadow, self._ack, arm_gap=self._arm,
                               resync=lambda types, reason: self.resyncs.append(types))
        self.side.enabled = EnabledTypes(frozenset({CHAT}))
        self.ops: list[Op] = []

    def _ack(self, seqs: dict[str, int]) -> None:
        self.acks.append(seqs)
        self.side.ack_done()

    def _arm(self) -> None:
        self.armed += 1

    def originate(self, n: int) -> None:
        for _ in range(n):
            key = f"K{len(self.ops) + 1}"
            op = self.active.originate(Create.of(
                interaction_of({"key": key, "type": "chat", "queue": "Web"}, 1.0), at=1.0))
            assert op is not None
            self.ops.append(op)

    def send(self, *numbers: int, prev: dict[int, int] | None = None) -> None:
        items = [change_item(self.ops[n - 1], None, {}, (prev or {}).get(n, n - 1))
                 for n in numbers]
        self.side.changes([({}, (pack(items),))])

    def acked(self) -> int:
        return self.acks[-1]["chat"] if self.acks else 0

    def holds(self, n: int) -> bool:
        return self.shadow.get(f"K{n}") is not None


@pytest.fixture
def rig(tmp_path: Path) -> Iterator[Rig]:
    r = Rig(tmp_path)
    yield r
    r.active.close()
    r.shadow.close()


def test_a_lost_change_is_never_confirmed(rig: Rig) -> None:
    rig.originate(4)
    rig.send(1)
    rig.send(3, 4)  # 2 was lost on both channels
    assert rig.acked() == 1
    assert not rig.holds(3) and rig.armed >= 1


def test_the_other_channel_closes_the_gap(rig: Rig) -> None:
    rig.originate(3)
    rig.send(1)
    rig.send(3)
    rig.send(2)
    assert rig.acked() == 3 and all(rig.holds(n) for n in (1, 2, 3))
    rig.side.check_gaps()
    assert rig.resyncs == []


def test_a_gap_that_stays_resyncs_the_type_then_confirms_the_snapshot(rig: Rig) -> None:
    rig.originate(4)
    rig.send(1)
    rig.send(3)
    rig.side.check_gaps()
    assert rig.resyncs == [{CHAT}]
    rig.send(4)  # arrives during the synchronisation: held
    assert rig.acked() == 1 and rig.side.held() == 2
    loaded = rig.shadow.load_snapshot(rig.active.snapshot([CHAT]))
    assert loaded == 4
    rig.side.release({CHAT})
    assert rig.acked() == 4 and rig.side.held() == 0


def test_numbers_the_active_skipped_on_purpose_are_no_gap(rig: Rig) -> None:
    rig.originate(5)
    rig.send(1)
    rig.send(4, prev={4: 1})  # 2 and 3 not shadowed (the mail filter): the active says so
    rig.send(5)
    assert rig.acked() == 5 and rig.armed == 0
