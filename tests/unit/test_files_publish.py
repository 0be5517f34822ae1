"""Handler publishes on the backup's mirror, and the `switchover files` command's output.

The mirror runs as a real actor against an in-process active (the active's answers are
served from a second root), so only the sockets are missing.
"""
from __future__ import annotations

import argparse
import concurrent.futures
from pathlib import Path
from typing import Any

import pytest

from switchover.replication.files import protocol as proto
from switchover.replication.files.health import Progress
from switchover.replication.files.mirror import Mirror, Publish, Resync
from switchover.replication.files.settings import build_specs
from switchover.clock import RealClock
from switchover.commands import REGISTRY, files
from switchover.logs import EventLog
from switchover.params import ServerParameters
from switchover.transport.envelope import Envelope
from switchover.transport.outcome import Outcome
from tests.unit.actor_support import wait_until as wait
HANDLERS = "I3/IC/Handlers"
PARAMS = ServerParameters.from_mapping({"CustomMirrorDir": "+/rec"})


class Active:
    """The active's File Monitor service, in this process: serves its root, names its
    last publish in the health answer."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.spec = build_specs(root, PARAMS).watch
        self.published: str | None = None
        self.calls: list[tuple[str, Any]] = []

    def connected(self, channel: str) -> bool:
        return True

    def wait_connected(self, timeout: float, cancel: Any = None) -> bool:
        return True

    def request(self, channel: str, target: str, eid: str, *, timeout: float,
                body: Any = None, bulk: Any = ()) -> concurrent.futures.Future[Outcome]:
        self.calls.append((eid, (body or {}).get("dir")))
        if eid == proto.HEALTH:
            out, frames = {"epoch": "e", "seq": 0, "published": self.published}, []
        else:
            serve = {proto.MANIFEST: proto.serve_manifest, proto.READ: proto.serve_read,
                     proto.CHUNK: proto.serve_chunk}[eid]
            out, frames = serve(self.spec, body)
        fut: concurrent.futures.Future[Outcome] = concurrent.futures.Future()
        fut.set_result(Outcome("ok", Envelope("response", "FileMonitor", "x", eid, body=out),
                               tuple(frames)))
        return fut


def settled(ref: Any, progress: Progress, counter: str, value: int) -> None:
    """The mirror's work runs as jobs: wait until `counter` shows it and the mirror is in
    sync again (a resync counts at its start and says "in sync" at its end)."""
    wait(lambda: progress.snapshot()[counter] >= value
         and progress.snapshot()["state"] == "in sync", counter)


@pytest.fixture
def setup(tmp_path: Path):
    active_root, backup_root = tmp_path / "a", tmp_path / "b"
    (active_root / HANDLERS / "sub").mkdir(parents=True)
    (active_root / "rec").mkdir(parents=True)
    (active_root / HANDLERS / "h1.ihd").write_bytes(b"v1")
    (active_root / HANDLERS / "sub/deep.ihd").write_bytes(b"not mirrored by default")
    active = Active(active_root)
    events = EventLog(None, "ICServer2")
    refs = []

    def start(upgrade: str | None) -> tuple[Any, Progress]:
        specs = build_specs(backup_root, PARAMS)
        progress = Progress(RealClock())
        ref = Mirror.start(links=active, clock=RealClock(), events=events,
                           specs=lambda: specs, params=lambda: PARAMS, upgrade=upgrade,
                           progress=progress, peer="ICServer1")
        refs.append(ref)
        wait(lambda: progress.snapshot()["state"] == "in sync", "the start-up copy")
        return ref, progress

    yield active, backup_root, start, events
    for ref in refs:
        ref.stop()


def test_a_publish_compares_the_handler_directory_once(setup) -> None:
    active, backup, start, events = setup
    ref, progress = start(None)
    h1 = backup / HANDLERS / "h1.ihd"
    assert h1.read_bytes() == b"v1" and not (backup / HANDLERS / "sub").exists()

    (active.root / HANDLERS / "h1.ihd").write_bytes(b"v2")
    (active.root / HANDLERS / "h2.ihd").write_bytes(b"new")
    ref.tell(Resync("operator"))  # a compare without a publish leaves handlers alone
    settled(ref, progress, "resyncs", 1)
    assert h1.read_bytes() == b"v1" and not (backup / HANDLERS / "h2.ihd").exists()

    active.published = "p-1"
    ref.tell(Publish("p-1"))
    settled(ref, progress, "publishes", 1)
    assert h1.read_bytes() == b"v2" and (backup / HANDLERS / "h2.ihd").read_bytes() == b"new"
    assert not (backup / HANDLERS / "sub").exists()
    assert progress.snapshot()["publishes"] == 1
    assert any("handlers published on ICServer1" in e["message"] for e in events.recent())

    # The same publish again (a copy, or already compared at a resync): nothing to do.
    mark = len(active.calls)
    ref.tell(Publish("p-1"))
    ref.tell(Resync("operator"))
    settled(ref, progress, "resyncs", 2)
    assert progress.snapshot()["publishes"] == 1
    asked = [d for eid, d in active.calls[mark:] if eid == proto.MANIFEST]
    assert "/rec" in asked and f"/{HANDLERS}" not in asked


def test_a_missed_publish_is_compared_at_the_next_resync(setup) -> None:
    active, backup, start, _ = setup
    ref, progress = start(None)
    (active.root / HANDLERS / "h1.ihd").write_bytes(b"v2")
    active.published = "p-7"  # its event never arrived
    ref.tell(Resync("reconnected"))
    settled(ref, progress, "publishes", 1)
    assert (backup / HANDLERS / "h1.ihd").read_bytes() == b"v2"
    assert progress.snapshot()["publishes"] == 1


@pytest.mark.parametrize("upgrade", ["lower", "higher"])
def test_handlers_are_never_replicated_in_an_upgrade_state(setup, upgrade: str) -> None:
    active, backup, start, _ = setup
    active.published = "p-1"
    ref, progress = start(upgrade)
    assert not (backup / HANDLERS).exists()
    active.published = "p-2"
    ref.tell(Publish("p-2"))
    ref.tell(Resync("reconnected"))
    settled(ref, progress, "resyncs", 1)
    assert not (backup / HANDLERS).exists()
    assert progress.snapshot()["publishes"] == 0


def test_files_command_is_registered_and_renders() -> None:
    assert files in REGISTRY
    parser = argparse.ArgumentParser()
    files.add_arguments(parser)
    args = parser.parse_args(["status", "--config", "x.toml", "--json"])
    assert (args.action, args.json) == ("status", True)
    for action in ("resync", "publish"):
        assert parser.parse_args([action, "--config", "x.toml"]).action == action
    text = files.render("status", {"state": "in sync", "files_copied": 3, "publishes": 1},
                        "ICServer2")
    assert text.splitlines()[0] == "ICServer2: in sync"
    assert "  publishes     1" in text
    assert files.render("publish", {"message": "handlers published: /I3/IC/Handlers "
                                               "announced to the backup"}, "ICServer1") == \
        "ICServer1: handlers published: /I3/IC/Handlers announced to the backup\n"
