"""Planned hand-over: the old active's discontinue hooks run before the new active's
commence hooks, on a manual switch and on a graceful stop (SIGTERM) of the active.

The order is read from one hooks' log both servers append to, never from durations. The
reference's manual switch does not wait for the old side; when it does not confirm in
time the backup switches anyway (tests/unit/test_main.py covers that timeout).
"""
from __future__ import annotations

import signal
import time
from pathlib import Path

import pytest

from switchover.localpair import LocalPair

pytestmark = pytest.mark.integration

SCALE = 0.05
SWITCHED = "Switchover Service: Switch Initiated"


def _pair(make_pair, marks: Path, **kwargs) -> LocalPair:
    """Hooks that append "SERVER KIND REASON" to one shared log, slowly for discontinue
    (so a commence that did not wait for it would come first)."""
    hooks = {
        name: {
            "commence": [f'echo "{name} commence $SWITCHOVER_REASON" >> {marks}'],
            "discontinue": [f'sleep 0.3; echo "{name} discontinue" >> {marks}'],
        }
        for name in ("ICServer1", "ICServer2")
    }
    # A long reconnect timeout: only a hand-over can switch quickly.
    return make_pair(time_scale=SCALE, hooks=hooks,
                     parameters={"Switchover Reconnect Timeout": 600}, **kwargs)


def _lines(marks: Path) -> list[str]:
    return marks.read_text().splitlines() if marks.exists() else []


def _up(pair: LocalPair, marks: Path) -> tuple[str, str]:
    a, b = pair.start_active(), pair.start_backup()
    pair.wait_for(lambda: f"{a} commence" in " ".join(_lines(marks)), 10, "A's commence")
    def in_sync() -> bool:
        peer = (pair.status(a) or {}).get("peer", {})
        return peer.get("state") == "Backup" and peer.get("warnings") == []

    pair.wait_for(in_sync, 20, "A to see B as its backup, in sync")
    marks.write_text("")
    return a, b


def _reason(pair: LocalPair, name: str) -> str:
    messages = [e["message"] for e in pair.events(name)]
    return messages[messages.index(SWITCHED) - 1]


def test_a_manual_switch_hands_over_in_order(make_pair, short_tmp) -> None:
    marks = short_tmp / "hooks.log"
    pair = _pair(make_pair, marks)
    a, b = _up(pair, marks)
    assert pair.admin(b, "switch", {})["accepted"]
    pair.wait_state(b, "Primary", timeout=30)
    pair.wait_state(a, "Inactive", timeout=30)
    pair.wait_for(lambda: len(_lines(marks)) >= 2, 10, "both hooks")
    assert _lines(marks)[:2] == [f"{a} discontinue", f"{b} commence Manual Switchover"]
    assert _reason(pair, b) == "Manual Switchover"


def test_sigterm_of_the_active_hands_over_at_once(make_pair, short_tmp) -> None:
    marks = short_tmp / "hooks.log"
    pair = _pair(make_pair, marks)
    a, b = _up(pair, marks)
    stopped = time.monotonic()
    pair.kill(a, sig=signal.SIGTERM)
    pair.wait_state(b, "Primary", timeout=20)
    took = time.monotonic() - stopped
    assert took < 600 * SCALE / 2  # far inside the reconnect timeout (30 s here)
    assert _lines(marks)[:2] == [f"{a} discontinue", f"{b} commence Planned Hand-over"]
    assert _reason(pair, b) == "Planned Hand-over"
    assert "planned hand-over" in pair.status(b)["reason"]


def test_sigterm_of_a_lone_active_just_stops_with_its_discontinue_hooks(
        make_pair, short_tmp) -> None:
    marks = short_tmp / "hooks.log"
    pair = _pair(make_pair, marks)
    a = pair.start_active()
    pair.kill(a, sig=signal.SIGTERM)
    # the discontinue hooks run at start (start clean), then the stop runs them again
    assert _lines(marks) == [f"{a} discontinue", f"{a} commence cannot reach ICServer2 on "
                             "the virtual switch; starting active (fail-safe)",
                             f"{a} discontinue"]
