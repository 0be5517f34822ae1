"""A pair with a witness on a real etcd (127.0.0.1): the key is the right to be active.

docs/witness.md's "Failure -> outcome" rows that need no namespace: the active holds the
key; a module death moves the key with the role (the active discontinues and releases,
the backup takes it and commences); etcd down while the pair is healthy changes nothing
but warns; etcd down and the active's host killed: no automatic switch, with the reason.
"""
from __future__ import annotations

import time

import pytest

from switchover.localpair import LocalPair
from tests.integration.conftest import make_pair  # noqa: F401  (the fixture)

pytestmark = pytest.mark.integration

SCALE = 0.05
SWITCHED = "Switchover Service: Switch Initiated"


def _pair(make_pair, etcd) -> LocalPair:
    return make_pair(time_scale=SCALE,
                     witness={"endpoints": etcd.endpoints, "prefix": "/switchover/test"},
                     parameters={"Switchover Witness Lease TTL": 5})


def _witness(pair: LocalPair, name: str) -> dict:
    return (pair.status(name) or {}).get("witness") or {}


def test_the_key_moves_with_the_role(make_pair, etcd) -> None:
    pair = _pair(make_pair, etcd)
    a, b = pair.start_active(), pair.start_backup()
    assert _witness(pair, a)["held_here"] is True
    assert "no witness" not in " ".join(pair.status(a)["warnings"])
    pair.kill(f"{a}/TsServer")
    pair.wait_state(b, "Primary", timeout=60)
    pair.wait_for(lambda: _witness(pair, b).get("held_here"), 20, "B to hold the key")
    assert pair.status(a)["state"] == "Inactive"
    messages = [e["message"] for e in pair.events(b)]
    assert messages[messages.index(SWITCHED) - 1] == "TS Ping Failure"


def test_witness_down_healthy_pair_stays_and_warns(make_pair, etcd) -> None:
    pair = _pair(make_pair, etcd)
    a, b = pair.start_active(), pair.start_backup()
    etcd.stop()
    pair.wait_for(lambda: "witness unreachable: no automatic switch possible" in
                  (pair.status(a) or {}).get("warnings", []), 60, "A to warn")
    time.sleep(3.0)
    assert pair.status(a)["state"] == "Primary"
    assert pair.status(b)["state"] == "Backup"


def test_witness_down_and_the_active_dies_no_automatic_switch(make_pair, etcd) -> None:
    pair = _pair(make_pair, etcd)
    a, b = pair.start_active(), pair.start_backup()
    etcd.stop()
    pair.wait_for(lambda: (pair.status(b) or {}).get("witness", {}).get("reachable") is False
                  or True, 5, "")
    pair.kill(a)
    pair.wait_for(lambda: "witness" in (pair.status(b) or {}).get("reason", ""), 60,
                  "B to say it waits for the witness")
    time.sleep(3.0)
    status = pair.status(b)
    assert status["state"] != "Primary"
    assert all(e["message"] != SWITCHED for e in pair.events(b))


def test_without_a_witness_status_says_what_a_partition_can_do(make_pair) -> None:
    pair = make_pair(time_scale=SCALE)
    a = pair.start_active()
    assert "no witness: a partition can make both servers active" in pair.status(a)["warnings"]
