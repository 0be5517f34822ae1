"""A rolling upgrade end to end (the reference's Appendix B and Appendix C's states).

B is restarted on a newer release (UpgradeHigher: filtered replication, no automatic
switch), an operator switches to it, A restarted on the old release comes up as
UpgradeLower, and A restarted on the new release is an ordinary backup again, with the
same DS as the active.
"""
from __future__ import annotations

import pytest

from switchover.localpair import LocalPair
from tests.integration.test_ds_replication import tree_hash, user

pytestmark = pytest.mark.integration

SCALE = 0.05
OLD, NEW = "2026.1.0", "2026.2.0"


def _restart(pair: LocalPair, name: str, release: str, state: str) -> dict:
    pair.kill(name, sig=15)
    pair.releases[name] = release
    pair.write_config(name)
    pair.start_host(name)
    return pair.wait_state(name, state, timeout=30)


def test_rolling_upgrade_back_to_normal_replication(make_pair) -> None:
    pair = make_pair(time_scale=SCALE)
    a, b = pair.start_active(), pair.start_backup()
    pair.admin(a, "ds.set", user(1))

    status = _restart(pair, b, NEW, "UpgradeHigher")
    assert status["mode"] == "upgrade higher"

    pair.admin(b, "switch", {})
    pair.wait_state(b, "Primary", timeout=30)
    pair.wait_state(a, "Inactive", timeout=30)

    status = _restart(pair, a, OLD, "UpgradeLower")
    assert status["peer"]["state"] == "Primary"

    _restart(pair, a, NEW, "Backup")
    pair.admin(b, "ds.set", user(2))
    pair.wait_for(lambda: tree_hash(pair, a) == tree_hash(pair, b), 30, "identical DS")
    assert pair.admin(a, "ds.get", {"path": "/Config/Users/u0002"})["attributes"] == {
        "Extension": ["1002"]}
    assert pair.status(a)["mode"] == "auto"
