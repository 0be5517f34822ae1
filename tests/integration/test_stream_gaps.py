"""A change lost between the hosts on both channels, while the connections stay up (a
high-water mark reached, a reconnect between two sends): the backup sees the gap by the
stream's numbers, synchronises again, and only then confirms; an acknowledged change is
never missing after a switchover.
"""
from __future__ import annotations

import threading
import time
from typing import Any

import pytest

from switchover.localpair import LocalPair
from tests.integration.faults import PeerDrop
from tests.integration.test_interactions_recovery import client, wait_in_sync

pytestmark = pytest.mark.integration

#: Slow enough that an acknowledgement's wait for the backup (5 reference seconds) is
#: longer than a gap's grace plus a small synchronisation on shared CPUs.
SCALE = 0.2


def chat(key: str) -> dict[str, str]:
    return {"key": key, "type": "chat", "queue": "Web", "state": "queued"}


def test_a_lost_interaction_change_is_resynchronised_before_it_is_acknowledged(
        make_pair, tmp_path) -> None:
    pair: LocalPair = make_pair(time_scale=SCALE,
                                parameters={"Chat Interaction Recovery Enabled": 1})
    a, b = pair.names
    proxy = PeerDrop(pair, b, a)
    app = client(pair, tmp_path)
    try:
        pair.start_active()
        pair.start_backup()
        wait_in_sync(pair, b)
        for n in range(5):
            app.create(chat(f"K{n}"))
        wait_in_sync(pair, b, shadows=5)

        proxy.drop.arm("Interaction Change")
        lost = app.create(chat("LOST"), wait=False)
        assert proxy.drop.dropped.wait(10), "the change was not dropped"
        after = app.create(chat("AFTER"), wait=False)  # shows the backup the gap
        assert lost.result(timeout=30)["duplicate"] is False
        # acknowledged: the backup holds it already
        shadow = pair.admin(b, "interactions.get", {"key": "LOST"})["interaction"]
        assert shadow is not None, "acknowledged before the backup held it"
        after.result(timeout=30)
        assert proxy.drop.copies == 2  # lost on main and on aux
        assert "a change is missing" in pair.log_text(b)
        assert "without waiting for it" not in pair.log_text(a)

        pair.kill(a)  # right after the acknowledgement
        pair.wait_state(b, "Primary", timeout=30)
        keys = {i["key"] for i in app.list()}
        assert {"LOST", "AFTER", *(f"K{n}" for n in range(5))} <= keys
    finally:
        app.shutdown()
        proxy.close()


def test_a_lost_ds_change_is_resynchronised_before_a_synchronous_write_returns(
        make_pair) -> None:
    pair: LocalPair = make_pair(time_scale=SCALE, parameters={
        "Switchover Synchronous DS Replication": "Yes"})
    a, b = pair.names
    proxy = PeerDrop(pair, b, a)
    try:
        pair.start_active()
        pair.start_backup()
        pair.wait_for(lambda: (pair.status(b) or {}).get("replication", {}).get("ds", {})
                      .get("state") == "in sync", 30, "DS in sync")
        proxy.drop.arm("DS Change")
        results: dict[str, Any] = {}
        lost = threading.Thread(target=lambda: results.setdefault("lost", pair.admin(
            a, "ds.set", {"path": "${CONFIG}/Users/lost", "class": "User"})))
        lost.start()
        assert proxy.drop.dropped.wait(10), "the change was not dropped"
        after = pair.admin(a, "ds.set", {"path": "${CONFIG}/Users/after", "class": "User"})
        lost.join(30)
        # the backup saw the gap, caught up, and only then acknowledged
        assert results["lost"]["replicated"] == "applied on the backup", results
        assert after["replicated"] == "applied on the backup"
        assert pair.admin(b, "ds.get", {"path": "/Config/Users/lost"}) is not None
        assert proxy.drop.copies == 2
        assert "a change is missing" in pair.log_text(b)
        pair.kill(a)
        pair.wait_state(b, "Primary", timeout=30)
        assert pair.admin(b, "ds.get", {"path": "/Config/Users/lost"})["path"] == \
            "/Config/Users/lost"
    finally:
        proxy.close()


def test_a_lost_file_change_is_compared_again(make_pair) -> None:
    pair: LocalPair = make_pair(time_scale=SCALE, parameters={"CustomMirrorDir": "+/data"})
    a, b = pair.names
    ra, rb = pair.base / a / "root", pair.base / b / "root"
    (ra / "data").mkdir(parents=True)
    proxy = PeerDrop(pair, b, a)
    try:
        pair.start_active()
        pair.start_backup()
        pair.wait_for(lambda: (pair.status(b) or {}).get("replication", {}).get("files", {})
                      .get("state") == "in sync", 30, "files in sync")
        proxy.drop.arm("File Change")
        (ra / "data/lost.bin").write_bytes(b"lost")
        assert proxy.drop.dropped.wait(10), "the notice was not dropped"
        time.sleep(0.2)
        (ra / "data/after.bin").write_bytes(b"after")  # shows the backup the gap
        pair.wait_for(lambda: (rb / "data/lost.bin").exists()
                      and (rb / "data/after.bin").exists(), 30, "both files mirrored")
        assert (rb / "data/lost.bin").read_bytes() == b"lost"
        assert "a change is missing" in pair.log_text(b)
    finally:
        proxy.close()
