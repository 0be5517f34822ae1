"""Stale servers come back, and a backup in any mode catches up after an outage.

`switchover rejoin` makes a stale server a backup without a restart (full resync, then
Backup), and is refused with the reason when the peer is not a healthy active.
"Switchover Auto Rejoin" = Yes does it by itself. A manual-switch-only backup, whose
monitors never run, resynchronises DS when its connections come back after a cut.
"""
from __future__ import annotations

import subprocess
import sys
import time

import pytest

from switchover.localpair import LocalPair
from tests.integration.faults import PeerCut
from tests.integration.test_ds_replication import in_sync, tree_hash, user

pytestmark = pytest.mark.integration

SCALE = 0.05


def _rejoin(pair: LocalPair, name: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "switchover.cli", "rejoin", "--config",
         str(pair.config_path(name))], capture_output=True, text=True, timeout=30)


def _switched(pair: LocalPair) -> tuple[str, str]:
    """A pair after a manual switch: B active, A stale."""
    a, b = pair.start_active(), pair.start_backup()
    in_sync(pair)
    pair.admin(b, "switch", {"immediate": True})
    pair.wait_state(b, "Primary", timeout=30)
    pair.wait_state(a, "Inactive", timeout=30)
    return a, b


def test_rejoin_makes_a_stale_server_a_backup_with_identical_ds(make_pair) -> None:
    pair = make_pair(time_scale=SCALE)
    a, b = _switched(pair)
    for i in range(20):  # changes the stale server has never seen
        pair.admin(b, "ds.set", user(i))
    done = _rejoin(pair, a)
    assert done.returncode == 0, done.stderr
    assert "rejoining as backup" in done.stdout
    pair.wait_state(a, "Backup", timeout=30)
    pair.wait_for(lambda: tree_hash(pair, a) == tree_hash(pair, b), 30, "identical DS")
    assert pair.admin(a, "ds.get", {"path": "/Config/Users/u0019"})["attributes"] == {
        "Extension": ["1019"]}
    # a second rejoin is refused: it is no longer stale
    again = _rejoin(pair, a)
    assert again.returncode != 0 and "not stale" in again.stderr


def test_rejoin_is_refused_while_the_peer_is_not_a_healthy_active(make_pair) -> None:
    pair = make_pair(time_scale=SCALE)
    a, b = _switched(pair)
    pair.kill(b)
    pair.wait_for(lambda: not (pair.status(a) or {}).get("peer", {}).get("reachable", True),
                  20, "A to see B gone")
    done = _rejoin(pair, a)
    assert done.returncode != 0
    assert "rejoin refused" in done.stderr and "does not answer" in done.stderr
    assert pair.status(a)["state"] == "Inactive"


def test_auto_rejoin_brings_the_stale_server_back_by_itself(make_pair) -> None:
    pair = make_pair(time_scale=SCALE, parameters={"Switchover Auto Rejoin": "Yes"})
    a, b = pair.start_active(), pair.start_backup()
    pair.kill(f"{a}/TsServer")
    pair.wait_state(b, "Primary", timeout=30)
    status = pair.wait_state(a, "Backup", timeout=30)
    assert "Switchover Auto Rejoin is Yes" in status["reason"]


def test_manual_mode_backup_resyncs_ds_after_both_channels_come_back(make_pair) -> None:
    pair = make_pair(time_scale=SCALE)
    a, b = pair.names
    links = PeerCut(pair, b, a)
    try:
        pair.start_active()
        pair.start_backup("--manual-switch-only")
        in_sync(pair)
        links.cut()
        pair.wait_for(lambda: (pair.status(b) or {}).get("connections") ==
                      {"main": False, "aux": False}, 30, "both channels down")
        for i in range(10):
            pair.admin(a, "ds.set", user(i, 7000 + i))
        time.sleep(0.5)
        links.restore()
        pair.wait_for(lambda: tree_hash(pair, a) == tree_hash(pair, b), 30,
                      "the backup's DS to equal the active's")
        assert pair.status(b)["state"] == "Backup"
        assert "Re-synchronizing with the primary" in [
            e["message"].split(" ICServer")[0] for e in pair.events(b)]
    finally:
        links.close()
