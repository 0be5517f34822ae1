"""The fence's rows and `switch --force` (actors/state_fence.py, docs/witness.md).

A switch from an active that was lost, not told ("Loss of Connection to Notifier" in
the reference's "Why did a switchover occur?"), runs `[hooks] fence` before commencing;
"Switchover Fence Policy" decides what a failed fence means. A forced switch becomes
active without the witness key, and is fenced too.
"""
from __future__ import annotations

import dataclasses

import pytest

from switchover.actors.statemachine import (
    REASON_MANUAL,
    REASON_NOTIFIER,
    REASON_TS_PING,
    AbandonSwitch,
    BecomeActive,
    CancelReconnectTimer,
    CloseLinks,
    Context,
    FenceDone,
    HandedOver,
    Log,
    ManualSwitch,
    ModuleDown,
    PrimaryUnreachable,
    ReconnectExpired,
    RunFence,
    State,
    StopMonitors,
    TakeWitness,
    step,
)
from switchover.actors.witness_messages import Holder, WitnessAcquired

S = State
FENCE = Context(fence=True)
FENCING = Context(fence=True, fencing=True)
BEST_EFFORT = Context(fence=True, fence_required=False)
WIT = Context(witness=True)
WIT_FENCE = Context(witness=True, fence=True)
KEY_FENCE = Context(witness=True, witness_key=True, fence=True, switch_pending=REASON_NOTIFIER)

LOST_OK = FenceDone(True, "ipmi-off succeeded after 0.10 s", REASON_NOTIFIER)
LOST_FAILED = FenceDone(False, "ipmi-off failed with exit code 1", REASON_NOTIFIER)
FORCED_OK = FenceDone(True, "ipmi-off succeeded after 0.10 s", REASON_MANUAL, forced=True)
FORCED_FAILED = FenceDone(False, "ipmi-off timed out after 10.00 s", REASON_MANUAL,
                          forced=True)
SWITCH = [CancelReconnectTimer, StopMonitors, CloseLinks, BecomeActive]

ROWS = [
    # --- when the fence runs: the active was lost, not told ---------------------------
    ("lost-active-fenced-first", S.RECONNECTING, ReconnectExpired(), FENCE, S.RECONNECTING,
     [Log, CancelReconnectTimer, StopMonitors, RunFence],
     "running the fence hook first (the active was lost, not told to stop)"),
    ("unreachable-active-fenced-first", S.RECONNECTING, PrimaryUnreachable("10.0.0.1", 3),
     FENCE, S.RECONNECTING, [CancelReconnectTimer, StopMonitors, RunFence],
     "running the fence hook first"),
    ("no-fence-hook-no-fence", S.RECONNECTING, ReconnectExpired(), Context(), S.PRIMARY,
     [Log] + SWITCH, "switching now"),
    ("module-down-not-fenced", S.BACKUP, ModuleDown(), FENCE, S.PRIMARY,
     [StopMonitors, CloseLinks, BecomeActive], "Module is down"),
    ("manual-switch-not-fenced", S.RECONNECTING, ManualSwitch(immediate=True), FENCE,
     S.PRIMARY, SWITCH, "switch request"),
    ("hand-over-not-fenced", S.BACKUP, HandedOver("ICServer1"),
     dataclasses.replace(FENCE, handing_over=True), S.PRIMARY,
     [StopMonitors, CloseLinks, BecomeActive], "has discontinued"),
    ("any-switch-waits-while-fencing", S.RECONNECTING, ManualSwitch(), FENCING,
     S.RECONNECTING, [CancelReconnectTimer, StopMonitors],
     "still waiting for the fence hook before switching"),
    ("witness-key-then-fence", S.RECONNECTING, WitnessAcquired(Holder("ICServer2", 3), 10),
     KEY_FENCE, S.RECONNECTING, [CancelReconnectTimer, StopMonitors, RunFence],
     "took the witness key (generation 3): going to StatePrimary; running the fence hook"),
    # --- what the fence's outcome means ------------------------------------------------
    ("fenced-switches", S.RECONNECTING, LOST_OK, FENCE, S.PRIMARY, SWITCH,
     "the fence hook succeeded: the old active is fenced"),
    ("fenced-switches-with-the-key", S.RECONNECTING, LOST_OK, KEY_FENCE, S.PRIMARY, SWITCH,
     "the old active is fenced"),
    ("fence-failed-require-stops", S.RECONNECTING, LOST_FAILED, FENCE, S.RECONNECTING,
     [Log, AbandonSwitch], "no switch: the fence hook failed (ipmi-off failed with exit "
     "code 1) and Switchover Fence Policy is Require"),
    ("fence-failed-best-effort-switches", S.RECONNECTING, LOST_FAILED, BEST_EFFORT,
     S.PRIMARY, [Log] + SWITCH, "Best Effort: going to StatePrimary and switching anyway"),
    ("fence-done-not-a-backup", S.PRIMARY, LOST_OK, FENCE, S.PRIMARY, [],
     "no action: the fence hook succeeded; this server is Primary"),
    # --- switch --force -----------------------------------------------------------------
    ("force-without-witness-refused", S.BACKUP, ManualSwitch(force=True), Context(),
     S.BACKUP, [], "switch --force refused: no [witness] is configured"),
    ("force-switches-without-the-key", S.RECONNECTING, ManualSwitch(force=True), WIT,
     S.PRIMARY, [Log] + SWITCH + [TakeWitness], "going to StatePrimary without the witness key"),
    ("force-in-upgrade-warns-twice", S.UPGRADE_LOWER, ManualSwitch(force=True), WIT,
     S.PRIMARY, [Log, Log, StopMonitors, CloseLinks, BecomeActive, TakeWitness],
     "without the witness key"),
    ("force-is-fenced", S.RECONNECTING, ManualSwitch(force=True), WIT_FENCE, S.RECONNECTING,
     [Log, CancelReconnectTimer, StopMonitors, RunFence],
     "running the fence hook first (the switch is forced)"),
    ("forced-fenced-switches-without-the-key", S.RECONNECTING, FORCED_OK, WIT_FENCE,
     S.PRIMARY, SWITCH + [TakeWitness], "the old active is fenced"),
    ("forced-fence-failed-require-stops", S.RECONNECTING, FORCED_FAILED, WIT_FENCE,
     S.RECONNECTING, [Log, AbandonSwitch], "Switchover Fence Policy is Require"),
    ("forced-fence-failed-best-effort", S.RECONNECTING, FORCED_FAILED,
     dataclasses.replace(WIT_FENCE, fence_required=False), S.PRIMARY,
     [Log] + SWITCH + [TakeWitness], "switching anyway"),
    ("force-on-the-active-no-action", S.PRIMARY, ManualSwitch(force=True), WIT, S.PRIMARY,
     [], "already the primary"),
]


def _kinds(t) -> list[type]:
    return [type(a) for a in t.actions]


@pytest.mark.parametrize("state, event, ctx, expected, action_types, fragment",
                         [row[1:] for row in ROWS], ids=[row[0] for row in ROWS])
def test_fence_rule(state, event, ctx, expected, action_types, fragment):
    t = step(state, event, ctx)
    assert t.state is expected
    assert _kinds(t) == action_types
    assert fragment in t.reason


def test_the_witness_key_comes_before_the_fence():
    """A fence is no use to a backup that may not become active: the key first."""
    t = step(S.RECONNECTING, ReconnectExpired(), WIT_FENCE)
    assert t.state is S.RECONNECTING
    assert RunFence not in _kinds(t) and TakeWitness in _kinds(t)


def test_the_fence_carries_the_switch_reason_through():
    (fence,) = [a for a in step(S.RECONNECTING, ReconnectExpired(), FENCE).actions
                if isinstance(a, RunFence)]
    assert fence == RunFence(REASON_NOTIFIER, forced=False)
    t = step(S.RECONNECTING, FenceDone(True, "", fence.reason, fence.forced), FENCE)
    (become,) = [a for a in t.actions if isinstance(a, BecomeActive)]
    assert (become.reason, become.switch) == (REASON_NOTIFIER, True)


def test_a_failed_fence_under_require_says_so_in_the_event_log():
    t = step(S.RECONNECTING, LOST_FAILED, FENCE)
    (log,) = [a for a in t.actions if isinstance(a, Log)]
    assert log.level == "error" and "ipmi-off failed with exit code 1" in log.message


def test_best_effort_warns_that_both_may_be_active():
    (log, *_) = step(S.RECONNECTING, LOST_FAILED, BEST_EFFORT).actions
    assert log.level == "warning" and "both servers may be active" in log.message


def test_a_forced_switch_logs_what_it_risks():
    (log, *_) = step(S.BACKUP, ManualSwitch(force=True), WIT).actions
    assert log == Log("warning", "Forced switchover: the witness cannot confirm the active is "
                                 "gone; if it is alive, both servers may be active")


def test_only_a_forced_switch_becomes_active_without_the_witness_key():
    """The witness's invariant holds for everything else, fence outcomes included."""
    for event in (ManualSwitch(), ManualSwitch(immediate=True), ModuleDown(),
                  ReconnectExpired(), LOST_OK, FenceDone(False, "x", REASON_TS_PING)):
        for ctx in (WIT, WIT_FENCE, dataclasses.replace(WIT_FENCE, fence_required=False)):
            for state in (S.BACKUP, S.RECONNECTING):
                assert step(state, event, ctx).state is not S.PRIMARY, (event, ctx, state)
