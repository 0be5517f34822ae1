"""The witness's rows (docs/witness.md): the key in etcd is the right to be active.

With `[witness]` configured, no server becomes active without the key: every transition
into Primary that the other rows decide (a start as active, a switch) waits for
WitnessAcquired instead, asking the active peer — when it answers — to discontinue and
release first. An active that loses the key asks its peer at once and demotes itself
unless the peer answers within a third of the margin WitnessLost leaves, so that its
discontinue ends before etcd can give the key to the backup; one whose peer answers
stays (the witness is down, not the pair) until the peer stops answering, and one that
hears another server holds the key demotes itself at once. Without `[witness]` these
rows never apply and the reference's behaviour stands.
"""
from __future__ import annotations

from switchover.actors.state_actions import (
    AskPeerToHandOver,
    BecomeActive,
    CancelReconnectTimer,
    CheckPeer,
    CloseLinks,
    GoStale,
    Log,
    PendSwitch,
    QueryPeer,
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
    PeerAnswered,
    PeerCheckEnded,
    WitnessAcquired,
    WitnessHeldBy,
    WitnessLost,
    WitnessUnreachable,
)

WITNESS_EVENTS = (WitnessAcquired, WitnessHeldBy, WitnessUnreachable, WitnessLost)

#: The share of WitnessLost's margin the peer has to answer in; the rest is for the
#: discontinue hooks, which must end before etcd can give the key to the backup.
CHECK_SHARE = 1 / 3


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
        if state in ACTIVE_STATES and event.holder.server != ctx.server_name:
            return _demote(f"the witness key is held by {event.holder}: that server has "
                           "the right to be active, demoting itself")
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
    if event.margin <= 0:
        return _demote(f"the witness key is lost ({event.reason}) with no margin left: "
                       "another server may take it now")
    within = event.margin * CHECK_SHARE
    return stay(state, f"the witness key is lost ({event.reason}), {event.margin:.1f} s "
                f"before it can expire: asking the peer at once, demoting itself unless it "
                f"answers within {within:.1f} s; asking for the key again",
                CheckPeer(within), TakeWitness())


def peer_check_ended(state: State, event: PeerCheckEnded, ctx: Context) -> Transition:
    """An active that lost the key stays only if the peer answered in time: then the
    witness is what is down, not the pair, and the peer is watched on (the next row)."""
    if state not in ACTIVE_STATES or not ctx.witness:
        return stay(state, "no action: the peer check ended, this server is not active "
                    "under a witness")
    if ctx.witness_key:
        return stay(state, "no action: the peer check ended; the witness key is held again")
    if event.answered:
        return stay(state, f"the witness key is lost, but the peer answered within "
                    f"{event.within:.1f} s: staying active; no automatic switch is possible "
                    "until the witness is back",
                    Log("warning", "Witness key lost while the peer answers: staying "
                                   "active; no automatic switch is possible until the "
                                   "witness is back"))
    return _demote(f"cannot renew the witness key and the peer did not answer within "
                   f"{event.within:.1f} s: demoting itself before the key can expire")


def primary_without_key(event: Event, ctx: Context) -> Transition | None:
    """An active without the key whose peer stops answering demotes itself at once: the
    peer may be taking the key (its lease ran out or was never renewed) to become active."""
    if not ctx.witness or ctx.witness_key or not isinstance(event, PeerAnswered) \
            or event.peer is not None:
        return None
    t = _demote(f"the witness key is not held and {event.name} does not answer: demoting "
                "itself, since the peer may take the key and become active")
    return Transition(t.state, t.actions + (QueryPeer(ctx.peer_query_interval),), t.reason)


def _demote(reason: str) -> Transition:
    return Transition(State.INACTIVE, (StopMonitors(), CloseLinks(), GoStale(reason)), reason)
