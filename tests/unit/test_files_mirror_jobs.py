"""The mirror's start-up copy runs as a job: while it runs (it may take up to "Switchover
Initial Mirror Timeout", 600 s), the actor answers at once, and a stop (what a role
change does to the mirror) takes effect at once and cancels the copy."""
from __future__ import annotations

import concurrent.futures
import threading
from pathlib import Path
from typing import Any

import pykka
import pytest

from switchover.replication.files import protocol as proto
from switchover.replication.files.health import Progress
from switchover.replication.files.mirror import Mirror, Resync
from switchover.replication.files.settings import build_specs
from switchover.clock import RealClock
from switchover.logs import EventLog
from switchover.params import ServerParameters
from switchover.transport.envelope import Envelope
from switchover.transport.outcome import Outcome

PARAMS = ServerParameters.from_mapping({"CustomMirrorDir": "+/rec"})


class SlowActive:
    """An active whose manifests never come: the copy waits as long as it is let."""

    def __init__(self) -> None:
        self.pending: list[concurrent.futures.Future[Outcome]] = []
        self.asked = threading.Event()

    def connected(self, channel: str) -> bool:
        return True

    def wait_connected(self, timeout: float, cancel: Any = None) -> bool:
        return True

    def request(self, channel: str, target: str, eid: str, *, timeout: float,
                body: Any = None, bulk: Any = ()) -> concurrent.futures.Future[Outcome]:
        fut: concurrent.futures.Future[Outcome] = concurrent.futures.Future()
        if eid == proto.HEALTH:
            fut.set_result(Outcome("ok", Envelope("response", "FileMonitor", "x", eid,
                                                  body={"epoch": "e", "seq": 0}), ()))
        else:
            self.pending.append(fut)
            self.asked.set()
        return fut


@pytest.fixture(autouse=True)
def stop_all():
    yield
    pykka.ActorRegistry.stop_all()


def test_a_stop_during_the_start_up_copy_takes_effect_at_once(tmp_path: Path) -> None:
    active = SlowActive()
    progress = Progress(RealClock())
    specs = build_specs(tmp_path / "b", PARAMS)
    ref = Mirror.start(links=active, clock=RealClock(), events=EventLog(None, "B"),
                       specs=lambda: specs, params=lambda: PARAMS, upgrade=None,
                       progress=progress, peer="A")
    assert active.asked.wait(10), "the start-up copy never asked for a manifest"
    # The copy is under way: the actor still answers within an ordinary ask ...
    ref.ask(Resync("reconnected"), timeout=2)
    assert progress.snapshot()["state"].startswith("initial mirror")
    # ... and stops at once, cancelling the copy's request.
    ref.stop(timeout=2)
    assert not ref.is_alive()
    done = threading.Event()
    active.pending[0].add_done_callback(lambda f: done.set())
    assert done.wait(10) and active.pending[0].cancelled()
