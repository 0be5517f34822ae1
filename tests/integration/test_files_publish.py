"""Handler publishes, the `switchover files` command and a dynamic CustomMirrorDir, between
two real host processes, each with its own root.

Reference: "Default mirrored directories" (the handler directory at start "and again on
every publish"; its subdirectories are not mirrored by default), "CustomMirrorDir"
(monitored dynamically) and "Dynamic monitoring of system parameters".
"""
from __future__ import annotations

import json
import subprocess
import sys
import time

import pytest

from switchover.localpair import LocalPair
from tests.integration.faults import PeerCut
from tests.integration.test_files_mirror import logs_on_failure  # noqa: F401 (fixture)
from tests.integration.test_files_mirror import roots, up, wait_in_sync

pytestmark = pytest.mark.integration

SCALE = 0.1
PARAMS = {
    "CustomMirrorDir": "+/data/rec",
    "Switchover File Monitor Health Check Interval": 1,
    "Switchover File Monitor Health Check Timeout": 10,
}
HANDLERS = "I3/IC/Handlers"


def cli(pair: LocalPair, name: str, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "switchover.cli", *args[:2], "--config",
         str(pair.config_path(name)), *args[2:]],
        capture_output=True, text=True, timeout=30)


def barrier(pair: LocalPair, label: str) -> None:
    """A change in a continuous directory has reached the backup (and a little more time,
    past the File Monitor's parameter check, for anything else that would travel)."""
    ra, rb = roots(pair)
    (ra / "data/rec" / f"{label}.bin").write_bytes(label.encode())
    pair.wait_for(lambda: (rb / "data/rec" / f"{label}.bin").exists(), 10, f"barrier {label}")
    time.sleep(0.5)


def files_state(pair: LocalPair, name: str) -> dict:
    return (pair.status(name, timeout=2.0) or {}).get("replication", {}).get("files", {})


def test_publish_copies_the_handler_directory_once(make_pair, logs_on_failure) -> None:
    pair = make_pair(time_scale=SCALE, parameters=PARAMS)
    logs_on_failure.append(pair)
    ra, rb = roots(pair)
    (ra / HANDLERS / "sub").mkdir(parents=True)
    (ra / "data/rec").mkdir(parents=True)
    (ra / HANDLERS / "h1.ihd").write_bytes(b"v1")
    (ra / HANDLERS / "sub/deep.ihd").write_bytes(b"subdirectories are not mirrored")
    a, b = up(pair)
    assert (rb / HANDLERS / "h1.ihd").read_bytes() == b"v1"  # once at start
    assert not (rb / HANDLERS / "sub").exists()

    # Handler changes between publishes stay on the active, even through a resync.
    (ra / HANDLERS / "h1.ihd").write_bytes(b"v2, not yet published")
    (ra / HANDLERS / "h2.ihd").write_bytes(b"new handler")
    done = cli(pair, b, "files", "resync")
    assert done.returncode == 0 and "comparing" in done.stdout, done.stderr
    pair.wait_for(lambda: files_state(pair, b).get("resyncs", 0) >= 1
                  and files_state(pair, b)["state"] == "in sync", 10, "the resync")
    barrier(pair, "before-publish")
    assert (rb / HANDLERS / "h1.ihd").read_bytes() == b"v1"
    assert not (rb / HANDLERS / "h2.ihd").exists()

    # The publish: the handler directory is compared once, its subdirectories left alone.
    done = cli(pair, a, "files", "publish")
    assert done.returncode == 0, done.stderr
    assert f"handlers published: /{HANDLERS} announced to the backup" in done.stdout
    pair.wait_for(lambda: (rb / HANDLERS / "h2.ihd").exists()
                  and (rb / HANDLERS / "h1.ihd").read_bytes() == b"v2, not yet published",
                  10, "the published handlers on the backup")
    assert (rb / HANDLERS / "h1.ihd").stat().st_mtime_ns == \
        (ra / HANDLERS / "h1.ihd").stat().st_mtime_ns
    assert not (rb / HANDLERS / "sub").exists()
    assert any("handlers published on" in e["message"] and "2 file(s) copied" in e["message"]
               for e in pair.events(b))

    # Afterwards a handler changes again without a publish: not mirrored.
    (ra / HANDLERS / "h1.ihd").write_bytes(b"v3, never published")
    barrier(pair, "after-publish")
    assert (rb / HANDLERS / "h1.ihd").read_bytes() == b"v2, not yet published"

    # `switchover files status --json` reports the state; the event came on both
    # channels and was applied once.
    done = cli(pair, b, "files", "status", "--json")
    assert done.returncode == 0, done.stderr
    status = json.loads(done.stdout)
    assert status["state"] == "in sync" and status["publishes"] == 1, status
    assert status["files_copied"] >= 3 and status["failed"] == 0, status
    text = cli(pair, a, "files", "status")
    assert text.returncode == 0
    assert text.stdout.startswith(f"{a}: active: File Monitor watching and serving changes")

    # Clear one-line refusals: a publish on the backup, a publish with no monitor.
    done = cli(pair, b, "files", "publish")
    assert done.returncode == 1 and not done.stdout
    assert done.stderr.strip().count("\n") == 0
    assert "files.publish refused (409): handlers are published on the active server" \
        in done.stderr
    pair.admin(a, "files.monitor-stop")
    done = cli(pair, a, "files", "publish")
    assert done.returncode == 1 and "File Monitor is stopped" in done.stderr, done.stderr
    pair.admin(a, "files.monitor-start")


def test_a_publish_missed_while_cut_off_is_copied_after_reconnecting(
        make_pair, logs_on_failure) -> None:
    pair = make_pair(time_scale=SCALE, parameters=PARAMS)
    logs_on_failure.append(pair)
    a, b = pair.names
    links = PeerCut(pair, b, a)
    try:
        ra, rb = roots(pair)
        (ra / HANDLERS).mkdir(parents=True)
        (ra / "data/rec").mkdir(parents=True)
        (ra / HANDLERS / "h1.ihd").write_bytes(b"v1")
        up(pair)
        resyncs = files_state(pair, b)["resyncs"]
        (ra / HANDLERS / "h1.ihd").write_bytes(b"v2, published while cut off")
        links.cut()
        time.sleep(0.2)
        assert "announced" in pair.admin(a, "files.publish")["message"]  # event lost
        time.sleep(0.2)
        links.restore()
        pair.wait_for(lambda: (rb / HANDLERS / "h1.ihd").read_bytes()
                      == b"v2, published while cut off", 15, "the missed publish")
        state = wait_in_sync(pair, b)["replication"]["files"]
        assert state["resyncs"] > resyncs and state["publishes"] == 1, state
    finally:
        links.close()


def test_custom_mirror_dir_is_dynamic(make_pair, logs_on_failure) -> None:
    pair = make_pair(time_scale=SCALE, parameters=PARAMS)
    logs_on_failure.append(pair)
    ra, rb = roots(pair)
    (ra / "data/rec").mkdir(parents=True)
    (ra / "data/extra/sub").mkdir(parents=True)
    (ra / "data/extra/sub/before.bin").write_bytes(b"there before the change")
    a, b = up(pair)
    hosts = {name: pair.processes[name].pid for name in (a, b)}
    barrier(pair, "not-yet")
    assert not (rb / "data/extra").exists()

    # Add a `+` directory on the active: compared at once, then followed, no restart.
    done = cli(pair, a, "params", "set", "CustomMirrorDir", "+/data/rec;+/data/extra")
    assert done.returncode == 0, done.stderr
    pair.wait_for(lambda: (rb / "data/extra/sub/before.bin").exists(), 10,
                  "the new directory's files on the backup")
    (ra / "data/extra/sub/deeper").mkdir()
    (ra / "data/extra/sub/deeper/live.bin").write_bytes(b"written after the change")
    pair.wait_for(lambda: (rb / "data/extra/sub/deeper/live.bin").exists()
                  and (rb / "data/extra/sub/deeper/live.bin").read_bytes()
                  == b"written after the change", 10, "a live change in the new directory")

    # Remove it again: new changes there stay on the active.
    pair.admin(a, "params.set", {"name": "CustomMirrorDir", "value": "+/data/rec"})
    pair.wait_for(lambda: pair.admin(b, "params.get", {"name": "CustomMirrorDir"})["value"]
                  == "+/data/rec", 10, "the backup to hear of the change")
    time.sleep(0.5)  # past both sides' parameter checks (2 and 1 reference seconds)
    (ra / "data/extra/after.bin").write_bytes(b"no longer mirrored")
    (ra / "data/extra/sub/before.bin").write_bytes(b"changed, no longer mirrored")
    barrier(pair, "removed")
    done = cli(pair, b, "files", "resync")
    assert done.returncode == 0, done.stderr
    barrier(pair, "resynced")
    assert not (rb / "data/extra/after.bin").exists()
    assert (rb / "data/extra/sub/before.bin").read_bytes() == b"there before the change"
    assert {name: pair.processes[name].pid for name in (a, b)} == hosts
    assert all(pair.processes[name].poll() is None for name in (a, b))
    assert files_state(pair, b)["state"] == "in sync"
