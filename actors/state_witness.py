"""The witness's rows (docs/witness.md): the key in etcd is the right to be active.

With `[witness]` configured, no server becomes active without the key: every transition
into Primary that the other rows decide (a start as active, a switch) waits for
WitnessAcquired instead, asking the active peer — when it answers — to discontinue and
release first. An active that loses the key and cannot reach its peer demotes itself
before etcd can give the key to the backup; one that loses the key while its peer
answers stays (the witness is down, not the pair). Without `[witness]` these rows never
apply and the reference's behaviour stands.
"""
from __future__ import annotations

from switchover.actors.state_actions import (
    AskPeerToHandOver,
    BecomeActive,
    CancelReconnectTimer,
    CloseLinks,
    GoStale,
    Log,
    PendSwitch,
    StopMonitors,
    TakeWitness,
)
from switchover.actors.state_base import (
    ACTIVE_STATES,
    BACKUP_STATES,
    HANDOVER_TIMEOUT,
    Context,
    State,
    Transition,
    stay,
)
from switchover.actors.state_events import (
    Event,
    WitnessAcquired,
    WitnessHeldBy,
    WitnessLost,
    WitnessUnreachable,
)

WITNESS_EVENTS = (WitnessAcquired, WitnessHeldBy, WitnessUnreachable, WitnessLost)


def gate(before: State, t: Transition, ctx: Context) -> Transition:
    """A transition into Primary waits for the witness key when a witness is configured."""
    if not ctx.witness or ctx.witness_key or before in ACTIVE_STATES \
            or t.state not in ACTIVE_STATES:
        return t
    become = next(a for a in t.actions if isinstance(a, BecomeActive))
    kept = [a for a in t.actions if not isinstance(a, (BecomeActive, CloseLinks))]
    if ctx.switch_pending is not None:
        # Already waiting (the active's hand-over confirmation for our own request, say):
        # the switch keeps the reason it was decided for.
        return Transition(before, tuple(kept) + (TakeWitness(),),
                          f"still waiting for the witness key to switch "
                          f"({ctx.switch_pending})")
    if ctx.peer_active and not ctx.handing_over and before in BACKUP_STATES:
        kept.append(AskPeerToHandOver(HANDOVER_TIMEOUT))  # an active alive releases the key
    return Transition(
        before, tuple(kept) + (PendSwitch(become.reason, become.switch), TakeWitness()),
        f"{t.reason}; waiting for the witness key first (the right to be active)",
    )


def witness_rows(state: State, event: Event, ctx: Context) -> Transition:
    """WitnessAcquired / HeldBy / Unreachable / Lost, in any state."""
    pending = ctx.switch_pending is not None and (state is State.INIT or state in BACKUP_STATES)
    if isinstance(event, WitnessAcquired):
        if not pending:
            return stay(state, "no action: the witness key is held by this server")
        actions = ([CancelReconnectTimer()] if state is State.RECONNECTING else []) + [
            StopMonitors(), CloseLinks(),
            BecomeActive(ctx.switch_pending or "", ctx.pending_is_switch)]
        return Transition(State.PRIMARY, tuple(actions),
                          f"took the witness key (generation {event.holder.generation}): "
                          "going to StatePrimary")
    if isinstance(event, WitnessHeldBy):
        if not pending:
            return stay(state, f"no action: the witness key is held by {event.holder.server}")
        return stay(state, f"waiting for the witness key, held by {event.holder.server} "
                    f"(generation {event.holder.generation}); no switch until it is free")
    if isinstance(event, WitnessUnreachable):
        if pending:
            return stay(state, f"no automatic switch: the witness is unreachable "
                        f"({event.reason})",
                        Log("warning", f"No automatic switch: the witness is unreachable "
                                       f"({event.reason}); `switchover switch --force` "
                                       "switches without it and may make two actives"))
        return stay(state, f"no action: the witness is unreachable ({event.reason})")
    if state not in ACTIVE_STATES:
        return stay(state, "no action: the witness key was lost, this server is not active")
    if ctx.peer_reachable:
        return stay(state, f"the witness key is lost ({event.reason}), but the peer answers: "
                    "staying active and asking for the key again",
                    Log("warning", "Witness key lost while the peer answers: staying active; "
                                   "no automatic switch is possible until the witness is back"),
                    TakeWitness())
    reason = (f"cannot renew the witness key ({event.reason}) and cannot reach the peer: "
              "demoting itself before the key can expire")
    return Transition(State.INACTIVE, (StopMonitors(), CloseLinks(), GoStale(reason)), reason)
