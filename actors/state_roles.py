"""The rows that start, end and rank a server's activity: Init ("The Init State"), the
active's rows (two actives meeting, Discontinue, a partition healing, a planned
hand-over asked by the backup, a stop), and the stale server's (rejoin). See
`actors.statemachine` for the table.

Whoever stays active after a partition re-runs its commence hooks, with or without a
witness, when the peer may have served meanwhile: it answers as an active (two actives
meet, the winner re-announces) or as a stale server (it served and demoted itself, and
the network's ARP caches may still point at it after its discontinue took the VIP
down). A peer back as a backup never announced the VIP, and announcing again then
could race its switch: a query missed under load, then the peer's switch, would have
the old active announce after the new one.
"""
from __future__ import annotations

from switchover.actors.state_actions import (
    Action,
    BecomeActive,
    CloseLinks,
    Discontinue,
    GoStale,
    Log,
    QueryPeer,
    RerunCommence,
    StopMonitors,
    TellPeerDiscontinue,
)
from switchover.actors.state_base import (
    BACKUP_STATES,
    INIT_RETRY,
    Context,
    State,
    Transition,
    ignored,
    rank,
    stay,
    watch,
)
from switchover.actors.state_events import (
    DiscontinueRequested,
    Event,
    HandOverRequested,
    ManualSwitch,
    PeerAnswered,
    PeerView,
    RejoinRequested,
)


def init(event: Event, ctx: Context) -> Transition:
    """"The Init State": is the companion an active server?"""
    if not isinstance(event, PeerAnswered):
        return ignored(State.INIT, event)
    peer, name = event.peer, event.name
    nxt = QueryPeer(ctx.peer_query_interval)
    if peer is not None and peer.pairing:
        return Transition(State.ERROR, (Log("error", peer.pairing),), f"error: {peer.pairing}")
    if ctx.force_backup or (peer is not None and peer.state == State.PRIMARY.value):
        upgrade = peer.upgrade if peer is not None else None
        target = {"higher": State.UPGRADE_HIGHER, "lower": State.UPGRADE_LOWER}.get(
            upgrade or "", State.BACKUP)
        mode = " in manual switch mode" if ctx.manual_switch_only else ""
        forced = " (forced backup)" if ctx.force_backup else ""
        return Transition(target, watch(ctx, upgrade) + (nxt,),
                          f"starting as backup of {name}{mode}{forced}")
    if peer is None:
        why = f"cannot reach {name} on the virtual switch; starting active (fail-safe)"
    elif peer.state == State.INIT.value and ctx.letter == "B":
        return stay(State.INIT, f"{name} is starting too; SwitchoverServer A comes up "
                     "active first, asking again", QueryPeer(INIT_RETRY))
    elif peer.state == State.INIT.value:
        why = f"{name} is starting too; SwitchoverServer A comes up active first"
    elif peer.state in {s.value for s in BACKUP_STATES}:
        why = (f"{name} is {peer.state}, the backup of this server: "
               "resuming as the active server")
    else:
        why = f"{name} is {peer.state}, not active"
    return Transition(State.PRIMARY, (BecomeActive(why, switch=False), nxt),
                      f"starting as the active server: {why}")


def _outranked(ctx: Context, generation: int, letter: str) -> bool:
    return rank(generation, letter) > rank(ctx.generation, ctx.letter)


def primary(event: Event, ctx: Context) -> Transition:
    s = State.PRIMARY
    if isinstance(event, PeerAnswered):
        nxt = QueryPeer(ctx.peer_query_interval)
        peer = event.peer
        if peer is None:
            return stay(s, f"this server is the active server; {event.name} does not "
                         "answer on the virtual switch", nxt)
        if peer.state == s.value:
            # Back after a silence, it may have announced the VIP meanwhile; answering all
            # along, it is an old active still running its discontinue (told at our switch).
            return _two_actives(event.name, peer.generation, peer.letter, ctx, nxt,
                                rerun=event.returned)
        t = stay(s, f"this server is the active server; {event.name} is {peer.state}", nxt)
        if not event.returned or peer.state != State.INACTIVE.value:
            return t  # a peer back as a backup never served: nothing to announce over
        why = (f"partition healed: {event.name} answers again, stale (it may have served "
               "meanwhile); re-announcing: re-running the commence hooks")
        return Transition(s, t.actions + (RerunCommence(why),), f"{t.reason}; {why}")
    if isinstance(event, DiscontinueRequested):
        # It switched without knowing our generation: it commenced, so announced the VIP.
        return _two_actives(event.peer, event.generation, event.letter, ctx, rerun=True)
    if isinstance(event, HandOverRequested):
        reason = f"planned hand-over: {event.peer} takes over; this server is no longer active"
        return Transition(State.INACTIVE, (CloseLinks(), GoStale(reason, tell_peer=True)),
                          reason)
    if isinstance(event, ManualSwitch):
        return stay(s, "no action: this server is already the primary")
    return ignored(s, event)


def _two_actives(peer: str, generation: int, letter: str, ctx: Context,
                 *more: Action, rerun: bool) -> Transition:
    """Two actives meet (after a partition, or a Discontinue): the newer switch stays,
    and re-runs its commence hooks when the other may have announced the VIP after it."""
    if _outranked(ctx, generation, letter):
        reason = (f"{peer} is active with generation {generation} (ours {ctx.generation}); "
                  "this server is no longer active")
        return Transition(State.INACTIVE, (CloseLinks(), GoStale(reason)) + more, reason)
    reason = (f"{peer} claims to be active with generation {generation}, not newer than ours "
              f"({ctx.generation}); telling it that it is no longer active")
    actions: tuple[Action, ...] = (
        Log("warning", f"{peer} is also active with generation {generation} (ours "
                       f"{ctx.generation}): telling it that it is no longer active"),
        TellPeerDiscontinue(),
    )
    if rerun:
        reason += ", and re-running the commence hooks (re-announcing)"
        actions += (RerunCommence(f"partition healed: {peer} was active too (generation "
                                  f"{generation}, ours {ctx.generation}) and is told to "
                                  "stop; re-announcing"),)
    return stay(State.PRIMARY, reason, *actions, *more)


def stop(state: State, ctx: Context) -> Transition:
    """SIGTERM: an active with a ready backup hands over; any active runs its
    discontinue hooks before it stops."""
    if state is not State.PRIMARY:
        return Transition(State.STOPPING, (StopMonitors(), CloseLinks()),
                          "stopping: shutdown requested")
    if ctx.backup_ready and not ctx.paused:
        return Transition(
            State.STOPPING,
            (StopMonitors(), CloseLinks(),
             Discontinue("stopping: handing over to the backup (planned hand-over)",
                         tell_peer=True)),
            "stopping: shutdown requested; the backup is ready: running the discontinue "
            "hooks, then handing over (planned hand-over)",
        )
    return Transition(
        State.STOPPING,
        (StopMonitors(), CloseLinks(), Discontinue("stopping: shutdown requested")),
        "stopping: shutdown requested; "
        + ("the pair is paused" if ctx.paused else "no backup ready to take over")
        + ": running the discontinue hooks",
    )



def inactive(event: Event, ctx: Context) -> Transition:
    """Inactive (stale): never active again; a backup again by `switchover rejoin`, by
    "Switchover Auto Rejoin", or by a restart."""
    s = State.INACTIVE
    if isinstance(event, RejoinRequested):
        return _rejoin(event.peer, event.name, ctx, "an operator asked")
    if isinstance(event, PeerAnswered):
        nxt = QueryPeer(ctx.peer_query_interval)
        if ctx.auto_rejoin and event.peer is not None and event.peer.state == "Primary":
            t = _rejoin(event.peer, event.name, ctx, "Switchover Auto Rejoin is Yes")
            return Transition(t.state, t.actions + (nxt,), t.reason)
        return stay(s, "no action: this server is stale; `switchover rejoin` or a restart "
                     "makes it a backup again", nxt)
    return stay(
        s,
        f"no action: {type(event).__name__} ignored, this server is stale "
        "and must rejoin (switchover rejoin) or be restarted to be a backup again",
    )


def _rejoin(peer: PeerView | None, name: str, ctx: Context, why: str) -> Transition:
    """Stale -> backup of a healthy active, with a full resynchronisation."""
    if peer is None or peer.state != "Primary":
        what = "does not answer" if peer is None else f"is {peer.state}"
        return stay(State.INACTIVE, f"rejoin refused: {name} {what}, not a healthy active "
                     "server; this server stays stale")
    target = {"higher": State.UPGRADE_HIGHER, "lower": State.UPGRADE_LOWER}.get(
        peer.upgrade or "", State.BACKUP)
    # The services start over as a backup on the role change: a full resynchronisation.
    return Transition(target, watch(ctx, peer.upgrade),
                      f"rejoining as backup of {name} ({why}): resynchronizing everything")


