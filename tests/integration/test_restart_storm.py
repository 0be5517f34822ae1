"""Restart storms: SIGKILL and restart one host's process ten times, one second apart.

The findings this holds down ("One decision core that tells the truth"): the module's
queued registration and its reconnect arrived together after the active's restart, the
Notifier refused the second and reported the module gone, the backup's fast path was
answered with a rejection and switched ("TS Ping Failure") a healthy pair; and each
restart of the active took a new generation, so the restarted active outranked the
backup's switch and both stayed active. Each outage here is far shorter than
"Switchover Reconnect Timeout" (300 reference seconds, 15 s at this scale), so the
reference allows no switch at all: "If reconnection succeeds ... the Switchover system
will return to the backup state and performs a re-synchronization."
"""
from __future__ import annotations

import threading
import time

import pytest

from switchover.localpair import LocalPair

pytestmark = pytest.mark.integration

SCALE = 0.05
CYCLES = 10


class RoleWatch:
    """Samples both servers' roles while a storm runs; remembers every sample."""

    def __init__(self, pair: LocalPair) -> None:
        self.pair = pair
        self.samples: list[tuple[float, str | None, str | None]] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def __enter__(self) -> "RoleWatch":
        self._thread.start()
        return self

    def __exit__(self, *_: object) -> None:
        self._stop.set()
        self._thread.join(30)

    def _run(self) -> None:
        a, b = self.pair.names
        while not self._stop.is_set():
            roles = [(self.pair.status(name, timeout=0.5) or {}).get("role") for name in (a, b)]
            self.samples.append((time.monotonic(), roles[0], roles[1]))
            self._stop.wait(0.1)

    def both_active_for(self) -> float:
        """The longest stretch (seconds) in which both servers said they were active."""
        longest, since = 0.0, None
        for t, ra, rb in self.samples:
            if ra == rb == "active":
                since = t if since is None else since
                longest = max(longest, t - since)
            else:
                since = None
        return longest


def _storm(pair: LocalPair, name: str) -> None:
    for _ in range(CYCLES):
        pair.kill(name)
        pair.start_host(name)
        time.sleep(1.0)


def _settled(pair: LocalPair, active: str, backup: str) -> tuple[dict, dict]:
    pair.wait_state(active, "Primary", timeout=60)
    pair.wait_state(backup, "Backup", timeout=60)
    pair.wait_for(lambda: (pair.status(backup) or {}).get("peer", {}).get("state")
                  == "Primary", 30, f"{backup} to see {active} as Primary")
    return pair.status(active), pair.status(backup)


@pytest.mark.parametrize("victim", ["active", "backup"])
def test_a_restart_storm_never_switches_a_healthy_pair(make_pair, victim: str) -> None:
    pair = make_pair(time_scale=SCALE, parameters={"Switchover Reconnect Timeout": 300})
    a, b = pair.start_active(), pair.start_backup()
    with RoleWatch(pair) as watch:
        _storm(pair, a if victim == "active" else b)
        status_a, status_b = _settled(pair, a, b)
    # no switch: nothing says "TS Ping Failure" or "Switch Initiated" on either side
    for name in (a, b):
        messages = [e["message"] for e in pair.events(name)]
        assert "TS Ping Failure" not in messages, name
        assert "Switchover Service: Switch Initiated" not in messages, name
    # never two actives for longer than one state query takes to be answered
    assert watch.both_active_for() == 0.0
    # both agree on the generation at the end, and it counts no switch
    assert status_a["generation"] == status_b["peer"]["generation"] == 1
    assert status_b["peer"]["generation"] == status_a["generation"]
    # A's view of B is refreshed every state query (2 reference seconds): wait for it
    pair.wait_for(lambda: (pair.status(a) or {}).get("peer", {}).get("state") == "Backup",
                  10, f"{a} to see {b} as its backup")
