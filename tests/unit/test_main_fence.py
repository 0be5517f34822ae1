"""SwitchoverMain running the fence (actors/main_fence.py) with a fake clock and witness.

The rows are tests/unit/test_state_fence.py; here: the fence runs as a job while the
actor goes on answering, status shows it running, its environment names the peer, and a
fence that fails under Require lets the witness key taken for the switch go.
"""
from __future__ import annotations

import dataclasses
import threading
from pathlib import Path
from typing import Any

from switchover.actors.messages import PostEvent
from switchover.actors.statemachine import NotifierDown, ReconnectExpired
from switchover.actors.witness_messages import (
    AcquireWitness,
    Holder,
    ReleaseWitness,
    WitnessAcquired,
)
from switchover.config import HookCommand, Hooks
from tests.unit.test_main import Peer, peer_state, start, status


class FakeWitness:
    """The Witness actor's ref as SwitchoverMain uses it: tell, is_alive."""

    def __init__(self) -> None:
        self.told: list[Any] = []
        self.released = threading.Event()

    def tell(self, message: Any) -> None:
        self.told.append(message)
        if isinstance(message, ReleaseWitness):
            self.released.set()

    def is_alive(self) -> bool:
        return True


def test_a_failed_fence_under_require_lets_the_key_go(tmp_path: Path) -> None:
    go, seen = tmp_path / "go", tmp_path / "seen"
    fence = HookCommand(shell=f'echo "$SWITCHOVER_EVENT $SWITCHOVER_FENCE_PEER '
                              f'$SWITCHOVER_PEER_ADDRESS" > {seen}; '
                              f"while [ ! -e {go} ]; do sleep 0.01; done; exit 1")
    ref, clock, _, deps = start(tmp_path, Peer(peer_state("Primary", letter="A"), None),
                                name="ICServer2")
    deps.config = dataclasses.replace(deps.config, hooks=Hooks(fence=(fence,)))
    witness = deps.witness = FakeWitness()
    clock.advance(2.0)  # the active stops answering its virtual switch
    ref.ask(PostEvent(NotifierDown()))
    ref.ask(PostEvent(ReconnectExpired()))
    assert any(isinstance(m, AcquireWitness) for m in witness.told)
    ref.tell(WitnessAcquired(Holder("ICServer2", 2), 10))
    running = status(ref)
    assert running["state"] == "Reconnecting" and running["fence"]["running"] is True
    assert "fencing ICServer1: the switch waits for the fence hook" in running["warnings"]
    assert "running the fence hook first" in running["reason"]
    go.touch()
    assert witness.released.wait(10), "the key taken for the switch was not let go"
    done = status(ref)
    assert done["state"] == "Reconnecting" and done["fence"]["running"] is False
    assert "Switchover Fence Policy is Require" in done["reason"]
    assert done["witness"]["switch_pending"] is None
    assert seen.read_text() == "fence ICServer1 127.0.0.1\n"
