"""A full synchronisation's snapshot loads as a job: while it runs, InteractionRecovery's
mailbox stays free (it answers an ordinary ask), and a role change cancels the load and
takes effect (the shadows are promoted) without waiting for the rest of the snapshot."""
from __future__ import annotations

import threading
from pathlib import Path
from typing import Any

import pykka
import pytest

from switchover.replication.interactions.messages import Deps, Inbox, Role, Tick
from switchover.replication.interactions.actor import InteractionRecovery
from switchover.replication.interactions.status import Status
from switchover.replication.interactions.sync import SnapshotSessions
from switchover.replication.interactions.wire import SNAPSHOT_NEXT, SNAPSHOT_OPEN
from switchover.clock import RealClock
from switchover.transport.envelope import Envelope
from switchover.transport.outcome import Outcome
from tests.unit.actor_support import wait_until as wait

class StalledActive:
    """Opens a snapshot, then never sends its first chunk (until told to give up)."""

    def __init__(self) -> None:
        self.next_asked = threading.Event()
        self.give_up = threading.Event()
        self.answered = False
        self.answered = False

    def request(self, eid: str, body: Any, timeout: float) -> Outcome:
        if eid == SNAPSHOT_OPEN:
            return Outcome("ok", Envelope("response", "InteractionRecovery", "x", eid,
                                          body={"sid": "s1", "total": 10}), ())
        assert eid == SNAPSHOT_NEXT
        self.next_asked.set()
        self.give_up.wait(30)
        self.answered = True
        return Outcome("rejected", Envelope("response", "InteractionRecovery", "x", eid,
                                            body={"reason": "gone"}), ())


@pytest.fixture
def recovery(tmp_path: Path):
    active = StalledActive()
    status = Status()
    deps = Deps(
        path=tmp_path / "interactions.sqlite", clock=RealClock(),
        params=lambda: {"Chat Interaction Recovery Enabled": "1"},
        publish=lambda body, frames: None, peer_request=active.request,
        peer_send=lambda eid, body, done: done(), status=status,
        sessions=SnapshotSessions(idle_seconds=5.0), requests=Inbox(), changes=Inbox(),
        sync_timeout=10.0, ack_wait=0.2)
    ref = InteractionRecovery.start(deps)
    yield ref, active, status
    active.give_up.set()
    if ref.is_alive():
        ref.stop(timeout=10)
    pykka.ActorRegistry.stop_all()


def test_a_snapshot_load_does_not_block_the_mailbox(recovery) -> None:
    ref, active, status = recovery
    ref.tell(Role("backup"))
    assert active.next_asked.wait(10), "the backup never asked for the snapshot"
    wait(lambda: status.get("sync") is not None, "the load to begin")
    # The load waits for data (up to "sync_timeout"): the actor answers meanwhile.
    ref.ask(Tick(), timeout=2)
    # A role change gets in between: the load rolls back, the shadows are promoted.
    ref.tell(Role("active"))
    wait(lambda: status.get("role") == "active", "the promotion")
    assert status.get("sync") is None
    assert not active.answered  # promoted while the snapshot was still on its way


def test_a_stop_during_the_load_takes_effect_at_once(recovery) -> None:
    ref, active, status = recovery
    ref.tell(Role("backup"))
    assert active.next_asked.wait(10), "the backup never asked for the snapshot"
    wait(lambda: status.get("sync") is not None, "the load to begin")
    ref.stop(timeout=2)  # the load rolls back; the store closes after it
    assert not ref.is_alive() and not active.answered
