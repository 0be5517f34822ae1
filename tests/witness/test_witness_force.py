"""`switchover switch --force` on a pair whose witness is down (real etcd, 127.0.0.1).

docs/witness.md, "etcd down and the active's host dies": no automatic switch, because
the backup cannot take the key; an operator's `switch --force` is the way out. It asks
its confirmation naming the risk, needs the master right, and is fenced like every
switch whose old active nobody saw go.
"""
from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from switchover.localpair import LocalPair
from tests.integration.conftest import make_pair  # noqa: F401  (the fixture)

pytestmark = pytest.mark.integration

SCALE = 0.05
NAMES = ("ICServer1", "ICServer2")


def cli(*args: str, stdin: str = "") -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "switchover.cli", *args], input=stdin,
                          capture_output=True, text=True, timeout=60)


def test_force_switches_without_the_witness_and_fences_first(make_pair, etcd,
                                                              short_tmp: Path) -> None:
    marks = short_tmp / "marks"
    marks.mkdir()
    hooks = {name: {"fence": [f'echo "fence $SWITCHOVER_FENCE_PEER" >> {marks}/{name}'],
                    "commence": [f'echo "commence $SWITCHOVER_REASON" >> {marks}/{name}']}
             for name in NAMES}
    pair: LocalPair = make_pair(
        time_scale=SCALE, hooks=hooks,
        witness={"endpoints": etcd.endpoints, "prefix": "/switchover/force"},
        parameters={"Switchover Witness Lease TTL": 5})
    a, b = pair.start_active(), pair.start_backup()
    etcd.stop()
    pair.kill(a)
    pair.wait_for(lambda: "witness" in (pair.status(b) or {}).get("reason", ""), 60,
                  "B to say it waits for the witness")
    config = str(pair.config_path(b))

    asked = cli("switch", "--config", config, "--force", stdin="n\n")
    assert asked.returncode != 0
    assert ("the witness cannot confirm the active is gone; if it is alive, both servers "
            "may be active") in asked.stdout
    assert pair.status(b)["state"] != "Primary"

    forced = cli("switch", "--config", config, "--force", "--yes")
    assert forced.returncode == 0, forced.stderr
    status = pair.wait_state(b, "Primary", timeout=30)
    assert status["witness"]["held_here"] is False  # etcd is still down
    pair.wait_for(lambda: (marks / b).exists() and len((marks / b).read_text().split("\n"))
                  > 2, 10, "B's commence hook")
    assert (marks / b).read_text().splitlines() == [f"fence {a}", "commence Manual Switchover"]
    messages = [e["message"] for e in pair.events(b)]
    assert any(m.startswith("Manual switchover requested by") and "(forced" in m
               for m in messages)
    assert "Forced switchover: the witness cannot confirm the active is gone; if it is " \
           "alive, both servers may be active" in messages
    assert messages[messages.index("Switchover Service: Switch Initiated") - 1] == \
        "Manual Switchover"


def test_force_without_a_witness_is_refused_saying_so(make_pair) -> None:
    pair: LocalPair = make_pair(time_scale=SCALE)
    pair.start_active(), pair.start_backup()
    refused = cli("switch", "--config", str(pair.config_path(NAMES[1])), "--force", "--yes")
    assert refused.returncode != 0
    assert "--force refused: no [witness] is configured on ICServer2" in refused.stderr
    assert pair.status(NAMES[1])["state"] == "Backup"
