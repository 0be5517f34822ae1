"""What status says about both servers is true on either of them, and `switch` uses it.

Reference: "Manually start a switchover on the backup server" and its "File replication
warnings" safeguard: the warnings are the backup's own replication health, shown (and
confirmed twice) wherever the switch is run.
"""
from __future__ import annotations

import subprocess
import sys

import pytest

from switchover.localpair import LocalPair
from tests.integration.test_ds_replication import in_sync, user

pytestmark = pytest.mark.integration

SCALE = 0.05


def _switch(pair: LocalPair, name: str, answers: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "switchover.cli", "switch", "--config",
         str(pair.config_path(name))], input=answers, capture_output=True, text=True,
        timeout=30)


def _view(status: dict) -> dict:
    """Both servers as one status document tells them: name -> (role, state, generation)."""
    peer = status["peer"]
    return {status["server"]: (status["role"], status["state"], status["generation"]),
            peer["name"]: (peer.get("role"), peer.get("state"), peer.get("generation"))}


def test_after_a_switch_both_servers_tell_the_same_story(make_pair) -> None:
    pair = make_pair(time_scale=SCALE)
    a, b = pair.start_active(), pair.start_backup()
    in_sync(pair)
    pair.admin(b, "switch", {})
    pair.wait_state(b, "Primary", timeout=30)
    pair.wait_state(a, "Inactive", timeout=30)
    expected = {a: ("stale", "Inactive", 1), b: ("active", "Primary", 2)}
    pair.wait_for(lambda: _view(pair.status(a)) == expected == _view(pair.status(b)), 10,
                  "both servers to agree on both")
    status_b = pair.status(b)
    assert status_b["peer"]["last_answered_ago"] < 2
    assert f"no backup: {a} is Inactive; the pair is not redundant" in status_b["warnings"]
    assert f"peer stale: {a} is stale (inactive) until restarted" in status_b["warnings"]


def test_a_lone_active_warns_and_refuses_a_switch_at_once(make_pair) -> None:
    pair = make_pair(time_scale=SCALE)
    a = pair.start_active()
    status = pair.status(a)
    assert "no backup: the pair is not redundant" in status["warnings"]
    assert any(w.startswith("peer unreachable") for w in status["warnings"])
    done = _switch(pair, a, "y\ny\n")
    assert done.returncode != 0
    assert "refused" in done.stderr and "Switch" not in done.stdout  # nothing was asked


def test_switch_on_the_active_shows_the_backups_warning_and_asks_twice(make_pair) -> None:
    pair = make_pair(time_scale=SCALE)
    a, b = pair.start_active(), pair.start_backup()
    in_sync(pair)
    # a replication warning that only the backup has: a local DS override
    pair.admin(b, "ds.set", {**user(3), "local_override": True})
    pair.wait_for(lambda: any(w.startswith(f"{b}: DS: local changes")
                              for w in pair.status(a)["warnings"]), 10,
                  "the active to show the backup's warning")
    declined = _switch(pair, a, "y\nn\n")
    assert declined.returncode == 1
    assert f"WARNING: {b}: DS: local changes on the backup" in declined.stdout
    assert "Switch anyway?" in declined.stdout and "switch cancelled" in declined.stdout
    assert pair.status(b)["state"] == "Backup"
    accepted = _switch(pair, a, "y\ny\n")
    assert accepted.returncode == 0, accepted.stderr
    pair.wait_state(b, "Primary", timeout=30)
