"""The fence's rows and the forced switch (docs/witness.md, "Fencing" and "switch --force").

A backup that takes over from an active it *lost* (it stopped answering: "Loss of
Connection to Notifier") has not seen that active go: it may be frozen, or cut off and
still serving. With `[hooks] fence` configured, such a switch runs the fence commands
against the old active first (power it off, cut its storage, take its VIP away) and
commences only once they report back; "Switchover Fence Policy" says what a failed fence
means: Require stops the switch, Best Effort switches anyway with a warning. A switch
whose old active was *told* (a module loss the active answered for, a planned hand-over,
an operator's manual switch) is not fenced: the active was alive and asked to
discontinue, or an operator decided.

`switchover switch --force` is the operator's way past an unreachable witness: the
backup becomes active without the key (and asks for it, so it holds the key once etcd
answers). Nobody confirmed that the old active is gone, so a forced switch is fenced too.
"""
from __future__ import annotations

from switchover.actors.state_actions import (
    AbandonSwitch,
    Action,
    BecomeActive,
    CloseLinks,
    Log,
    RunFence,
    TakeWitness,
)
from switchover.actors.state_base import (
    ACTIVE_STATES,
    BACKUP_STATES,
    REASON_MANUAL,
    REASON_NOTIFIER,
    UPGRADE_STATES,
    Context,
    State,
    Transition,
    stay,
    switch,
)
from switchover.actors.state_events import Event, FenceDone, ManualSwitch
from switchover.witness_config import FORCE_RISK


def takes(state: State, event: Event) -> bool:
    """The events these rows decide: a fence's outcome, a forced switch on a backup."""
    return isinstance(event, FenceDone) or (
        isinstance(event, ManualSwitch) and event.force and state in BACKUP_STATES)


def without_witness(event: Event) -> bool:
    """A forced switch (and its fence's outcome) becomes active without the witness key."""
    return (isinstance(event, ManualSwitch) and event.force) or (
        isinstance(event, FenceDone) and event.forced)


def rows(state: State, event: Event, ctx: Context) -> Transition:
    if isinstance(event, FenceDone):
        return _fence_done(state, event, ctx)
    return _forced(state, ctx)


def _forced(state: State, ctx: Context) -> Transition:
    """`switch --force` on a backup."""
    if not ctx.witness:
        return stay(state, "switch --force refused: no [witness] is configured, so there is "
                    "no witness key to switch without; `switchover switch` switches (with "
                    "--immediate, without waiting for the active)")
    warn: list[Action] = [Log("warning", f"Forced switchover: {FORCE_RISK}")]
    if state in UPGRADE_STATES:
        warn.append(Log("warning", f"Manual switchover in {state.value}: data not replicated "
                                   "during the upgrade state may be lost (Appendix C)"))
    t = switch(state, REASON_MANUAL, "Received forced switch request "
               "[event=eInternalSwitchReq]: going to StatePrimary without the witness key")
    # The new active asks for the key at once: it holds it as soon as etcd answers.
    return Transition(t.state, tuple(warn) + t.actions + (TakeWitness(),), t.reason)


def gate(before: State, event: Event, t: Transition, ctx: Context) -> Transition:
    """A switch from an active that was lost, not told, runs the fence hook first."""
    if not ctx.fence or isinstance(event, FenceDone) or before in ACTIVE_STATES \
            or t.state not in ACTIVE_STATES:
        return t
    become = next(a for a in t.actions if isinstance(a, BecomeActive))
    kept = tuple(a for a in t.actions
                 if not isinstance(a, (BecomeActive, CloseLinks, TakeWitness)))
    if ctx.fencing:
        return Transition(before, kept, "still waiting for the fence hook before switching")
    forced = isinstance(event, ManualSwitch) and event.force
    if not become.switch or (become.reason != REASON_NOTIFIER and not forced):
        return t
    why = "the switch is forced" if forced else "the active was lost, not told to stop"
    return Transition(before, kept + (RunFence(become.reason, forced),),
                      f"{t.reason}; running the fence hook first ({why})")


def _fence_done(state: State, event: FenceDone, ctx: Context) -> Transition:
    outcome = "succeeded" if event.ok else f"failed ({event.detail})"
    if state not in BACKUP_STATES:
        return stay(state, f"no action: the fence hook {outcome}; this server is "
                    f"{state.value}, nothing to switch")
    more: tuple[Action, ...] = (TakeWitness(),) if event.forced else ()
    if event.ok:
        t = switch(state, event.reason, "the fence hook succeeded: the old active is fenced, "
                   "going to StatePrimary and switching now")
        return Transition(t.state, t.actions + more, t.reason)
    if ctx.fence_required:
        reason = (f"no switch: the fence hook failed ({event.detail}) and Switchover Fence "
                  "Policy is Require, so the old active may still be serving; fix the fence, "
                  "or switch by hand once it is down")
        return stay(state, reason, Log("error", f"Switchover Service: {reason}"),
                    AbandonSwitch())
    t = switch(state, event.reason, "the fence hook failed; Switchover Fence Policy is "
               "Best Effort: going to StatePrimary and switching anyway")
    warn = Log("warning", f"Switchover Service: the fence hook failed ({event.detail}); "
                          "switching anyway (Switchover Fence Policy is Best Effort): if the "
                          "old active is alive, both servers may be active")
    return Transition(t.state, (warn,) + t.actions + more, t.reason)
