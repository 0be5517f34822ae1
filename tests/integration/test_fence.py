"""The fence hook with real host processes on 127.0.0.1 (docs/witness.md, "Fencing").

The active's host is SIGKILLed, so the backup loses it without being told ("Loss of
Connection to Notifier" in the reference's "Why did a switchover occur?"): with
`[hooks] fence`, the backup fences it before its commence hooks, and under "Switchover
Fence Policy" Require a failing fence stops the switch.
"""
from __future__ import annotations

from pathlib import Path

import pytest

from switchover.localpair import LocalPair

pytestmark = pytest.mark.integration

SCALE = 0.05
NAMES = ("ICServer1", "ICServer2")


def fence_pair(make_pair, marks: Path, fence_exit: int, **kwargs) -> LocalPair:
    """Both hosts append what their hooks do to one file each, in the order they run."""
    hooks = {
        name: {
            "fence": [f'echo "fence $SWITCHOVER_FENCE_PEER $SWITCHOVER_PEER_ADDRESS" '
                      f'>> {marks}/{name}; echo "cannot reach the power switch" >&2; '
                      f"exit {fence_exit}"],
            "commence": [f'echo "commence $SWITCHOVER_REASON" >> {marks}/{name}'],
        }
        for name in NAMES
    }
    return make_pair(time_scale=SCALE, hooks=hooks, **kwargs)


def lines(marks: Path, name: str) -> list[str]:
    path = marks / name
    return path.read_text().splitlines() if path.exists() else []


def hook_runs(pair: LocalPair, name: str) -> list[tuple[str, str]]:
    """(hook kind, outcome) of every hook command in the host's event log, in order."""
    return [(e["hook"], e["outcome"]) for e in pair.events(name)
            if e.get("kind") == "hook" and "hook" in e]


def test_a_failing_fence_under_require_stops_the_switch(make_pair, short_tmp) -> None:
    marks = short_tmp / "marks"
    marks.mkdir()
    pair = fence_pair(make_pair, marks, fence_exit=3)
    a, b = pair.start_active(), pair.start_backup()
    pair.kill(a)  # SIGKILL: the backup loses the active, nobody tells it
    status = pair.wait_for(
        lambda: (s := pair.status(b)) and "Fence Policy is Require" in s["reason"] and s,
        30, "B refusing to switch after a failed fence")
    assert status["role"] == "backup" and status["state"] != "Primary"
    assert "no switch: the fence hook failed" in status["reason"]
    assert "exit code 3" in status["reason"]
    assert any(w.startswith("fence hook failed") for w in status["warnings"])
    assert lines(marks, b) == [f"fence {a} 127.0.0.1"]  # fenced once, never commenced
    assert hook_runs(pair, b) == [("fence", "failed")]
    (run,) = [e for e in pair.events(b) if e.get("hook") == "fence"]
    assert run["exit_code"] == 3 and run["stderr"] == ["cannot reach the power switch"]
    assert any("Switchover Fence Policy is Require" in e["message"] and e["level"] == "error"
               for e in pair.events(b))
    assert "Switch Initiated" not in [e["message"] for e in pair.events(b)]


def test_a_succeeding_fence_runs_before_commence(make_pair, short_tmp) -> None:
    marks = short_tmp / "marks"
    marks.mkdir()
    pair = fence_pair(make_pair, marks, fence_exit=0)
    a, b = pair.start_active(), pair.start_backup()
    pair.kill(a)
    pair.wait_state(b, "Primary", timeout=30)
    assert "the fence hook succeeded: the old active is fenced, going to StatePrimary" \
        in pair.log_text(b)
    pair.wait_for(lambda: len(hook_runs(pair, b)) == 2, 10, "B's commence hook")
    assert hook_runs(pair, b) == [("fence", "ok"), ("commence", "ok")]
    assert lines(marks, b) == [f"fence {a} 127.0.0.1",
                               "commence Loss of Connection to Notifier"]
    messages = [e["message"] for e in pair.events(b)]
    fenced = messages.index(f"Switchover Service: fencing {a} (127.0.0.1) before taking "
                            "over: Loss of Connection to Notifier")
    assert fenced < messages.index("Switchover Service: Switch Initiated")


def test_a_module_loss_the_active_answered_for_is_not_fenced(make_pair, short_tmp) -> None:
    marks = short_tmp / "marks"
    marks.mkdir()
    pair = fence_pair(make_pair, marks, fence_exit=3)
    a, b = pair.start_active(), pair.start_backup()
    pair.kill(f"{a}/TsServer")
    pair.wait_state(b, "Primary", timeout=30)
    pair.wait_for(lambda: lines(marks, b), 10, "B's commence hook")
    assert lines(marks, b) == ["commence TS Ping Failure"]


def test_a_failing_fence_under_best_effort_switches_with_a_warning(make_pair,
                                                                   short_tmp) -> None:
    marks = short_tmp / "marks"
    marks.mkdir()
    pair = fence_pair(make_pair, marks, fence_exit=3,
                      parameters={"Switchover Fence Policy": "Best Effort"})
    a, b = pair.start_active(), pair.start_backup()
    pair.kill(a)
    status = pair.wait_state(b, "Primary", timeout=30)
    assert "Switchover Fence Policy is Best Effort: going to StatePrimary and switching " \
        "anyway" in pair.log_text(b)
    assert any(w.startswith("fence hook failed") for w in status["warnings"])
    assert hook_runs(pair, b)[0] == ("fence", "failed")
    assert any("both servers may be active" in e["message"] and e["level"] == "warning"
               for e in pair.events(b))
