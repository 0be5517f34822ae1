"""Maintenance mode at runtime: `switchover pause` / `switchover resume`.

The backup behaves as with /ManualSwitchOnly while the pair is paused: a killed module
and a graceful stop of the active switch nothing; both servers say "paused"; the pause
survives a restart of either host; after resume the pair switches by itself again.
"""
from __future__ import annotations

import signal
import subprocess
import sys
import time

import pytest

from switchover.localpair import LocalPair

pytestmark = pytest.mark.integration

SCALE = 0.05


def _cli(pair: LocalPair, name: str, command: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "switchover.cli", command, "--config",
         str(pair.config_path(name))], capture_output=True, text=True, timeout=30)


def _modes(pair: LocalPair) -> tuple[str, str]:
    a, b = pair.names
    return (pair.status(a) or {}).get("mode"), (pair.status(b) or {}).get("mode")


def test_a_paused_pair_never_switches_by_itself(make_pair) -> None:
    pair = make_pair(time_scale=SCALE)
    a, b = pair.start_active(), pair.start_backup()
    done = _cli(pair, a, "pause")
    assert done.returncode == 0 and "paused" in done.stdout
    pair.wait_for(lambda: _modes(pair) == ("paused", "paused"), 10, "both to say paused")

    # the backup's host restarts: still paused
    pair.kill(b)
    pair.start_host(b)
    pair.wait_state(b, "Backup", timeout=30)
    assert pair.status(b)["mode"] == "paused"

    # the module dies on the active: no switch while paused
    pair.kill(f"{a}/TsServer")
    time.sleep(3.0)
    assert pair.status(b)["state"] != "Primary"
    assert all(e["message"] != "Switchover Service: Switch Initiated" for e in pair.events(b))

    # SIGTERM of the active while paused: it just stops, no hand-over
    pair.kill(a, sig=signal.SIGTERM)
    time.sleep(2.0)
    assert pair.status(b)["state"] != "Primary"


def test_resume_brings_automatic_switching_back(make_pair) -> None:
    pair = make_pair(time_scale=SCALE)
    a, b = pair.start_active(), pair.start_backup()
    assert _cli(pair, b, "pause").returncode == 0
    pair.wait_for(lambda: _modes(pair) == ("paused", "paused"), 10, "both to say paused")
    assert _cli(pair, a, "resume").returncode == 0
    pair.wait_for(lambda: _modes(pair) == ("auto", "auto"), 10, "both to say auto")
    pair.kill(f"{a}/TsServer")
    pair.wait_state(b, "Primary", timeout=30)
    events = [e for e in pair.events(a) if e.get("kind") == "operator"]
    assert [e["message"].split(" (by ")[0] for e in events] == [
        "Switchover Service: the pair is paused (maintenance mode): no automatic switch "
        "until resumed",
        "Switchover Service: the pair is resumed: automatic switching is on again"]
