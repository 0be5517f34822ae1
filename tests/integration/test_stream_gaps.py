"""A change lost between the hosts on both channels, while the connections stay up (a
high-water mark reached, a reconnect between two sends): the backup sees the gap by the
stream's numbers, synchronises again, and only then confirms; an acknowledged change is
never missing after a switchover.
"""
from __future__ import annotations

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
