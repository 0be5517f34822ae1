"""The switchover state machine, pure: ``step(state, event, ctx) -> Transition``.

"The Switchover State Machine" and "State Machine Events and Handling" in the reference,
kept as a table beside the actor that executes it (the Binary Star shape). Nothing here
does I/O or reads a clock: SwitchoverMain executes the returned actions, and every step
carries a sentence an operator can read (logged, shown by status, asserted by tests).
Every decision that changes a role is a row here: Init, two actives meeting, discontinue,
the reconnect probes, the cut-off backup's own network, manual switches.

Where the reference is silent or contradicts itself, the choice is written next to the
rule that makes it (see also docs/switching.md):

- A backup whose *own* network is down (NetworkDown) goes to Reconnecting without a
  reconnect timer: switching from a server that is cut off would make two active
  servers ("Switchover NetTest server parameters"). It checks its own network every
  "Switchover Notifier Reconnect Delay"; once the network answers and the primary's
  Notifier still does not, the reconnect timer starts (the normal path).
- Reconnecting ends only when the primary's *Notifier* answers a probe: a host that
  answers its virtual switch but not its Notifier is not a primary one can mirror.
- Primary Unreachable goes to Reconnecting with the reconnect timer running; with
  "Switchover Unreachable Primary Ping Count" = -1 (``unreachable_switch_allowed`` False)
  no timer is started, so the backup waits for the primary for as long as it takes.
- The Upgrade states never switch automatically (Appendix C); a manual switch works.
- Inactive (stale) never becomes active again until the host is restarted.
- The reference's first reason to switch, "the maximum number of reconnect attempts",
  has no parameter in the reference; the reconnect timeout bounds the attempts instead.
"""
from __future__ import annotations

from dataclasses import dataclass
from enum import Enum

from actors.state_actions import (
    Action,
    AskPeerToHandOver,
    BecomeActive,
    CancelReconnectTimer,
    CloseLinks,
    Discontinue,
    GoStale,
    Log,
    OpenLinks,
    ProbeNotifier,
    QueryPeer,
    Resync,
    ScheduleSwitchAfterStartup,
    StartMonitors,
    StartReconnectTimer,
    StopMonitors,
    TellPeerDiscontinue,
    WatchOwnNetwork,
)
from actors.state_events import (
    DiscontinueRequested,
    Event,
    Fatal,
    HandedOver,
    HandOverRequested,
    HandOverTimedOut,
    LinksRestored,
    ManualSwitch,
    ModuleDown,
    NetworkDown,
    NotifierDown,
    OwnNetworkChecked,
    PauseChanged,
    PeerAnswered,
    PeerQueryDue,
    PeerView,
    PrimaryUnreachable,
    ReconnectExpired,
    ReconnectProbed,
    ReconnectProbeDue,
    RejoinRequested,
    StartupComplete,
    Stop,
)


class State(str, Enum):
    INIT = "Init"
    PRIMARY = "Primary"
    BACKUP = "Backup"
    RECONNECTING = "Reconnecting"
    UPGRADE_HIGHER = "UpgradeHigher"
    UPGRADE_LOWER = "UpgradeLower"
    INACTIVE = "Inactive"
    STOPPING = "Stopping"
    ERROR = "Error"


#: States in which this host serves as the active server.
ACTIVE_STATES = frozenset({State.PRIMARY})
#: States in which this host mirrors an active peer.
BACKUP_STATES = frozenset(
    {State.BACKUP, State.RECONNECTING, State.UPGRADE_HIGHER, State.UPGRADE_LOWER}
)
UPGRADE_STATES = frozenset({State.UPGRADE_HIGHER, State.UPGRADE_LOWER})

#: The reference's switch reasons ("Why did a switchover occur?"), exactly as logged
#: before "Switchover Service: Switch Initiated".
REASON_NOTIFIER = "Loss of Connection to Notifier"
REASON_TS_PING = "TS Ping Failure"
REASON_MANUAL = "Manual Switchover"
#: Beyond the reference: the active stopped (SIGTERM) and handed over to its backup.
REASON_HANDOVER = "Planned Hand-over"
SWITCH_REASONS = (REASON_NOTIFIER, REASON_TS_PING, REASON_MANUAL, REASON_HANDOVER)

#: Reference seconds a backup waits for the active to confirm its discontinue in a
#: planned hand-over before it switches anyway (the reference's switch does not wait).
HANDOVER_TIMEOUT = 30.0

#: Reference seconds SwitchoverServer B waits before asking again while both start.
INIT_RETRY = 1.0


def rank(generation: int, letter: str) -> tuple[int, bool]:
    """Order two actives: higher generation first; on a tie SwitchoverServer A stays
    (the reference's "comes up as active first")."""
    return (generation, letter == "A")


@dataclass(frozen=True)
class Context:
    """What the state machine needs to know beyond the event itself."""

    manual_switch_only: bool = False
    #: "Switchover Reconnect Timeout" (reference seconds); 0 = switch at once.
    reconnect_timeout: float = 30.0
    #: False when "Switchover Unreachable Primary Ping Count" is -1.
    unreachable_switch_allowed: bool = True
    #: "Switchover Notifier Reconnect Delay": the spacing of reconnect probes.
    reconnect_delay: float = 5.0
    #: How often each server asks the other for its state (the live peer view).
    peer_query_interval: float = 2.0
    #: This server's SwitchoverServer letter and generation (for two actives meeting).
    letter: str = "A"
    generation: int = 0
    #: /ForceBackup: start as backup whatever the peer says.
    force_backup: bool = False
    #: Reconnecting because this server's own network was down: no timer yet.
    cut_off: bool = False
    #: The peer answered lately as the active server (a manual switch can hand over).
    peer_active: bool = False
    #: The peer answered lately as a backup in auto mode with no warnings: a stop of
    #: this active hands over to it.
    backup_ready: bool = False
    #: A manual switch waits for the active's discontinue (planned hand-over).
    handing_over: bool = False
    #: The pair is paused (maintenance mode): ``manual_switch_only`` is then True too.
    paused: bool = False
    #: "Switchover Auto Rejoin": a stale server rejoins once its peer is a healthy active.
    auto_rejoin: bool = False
    #: This backup is still starting up (first DS compare, InitialMirrorDir copy).
    starting_up: bool = False
    #: The reason of a switch waiting for StartupComplete (ScheduleSwitchAfterStartup).
    switch_scheduled: str | None = None


@dataclass(frozen=True)
class Transition:
    state: State
    actions: tuple[Action, ...]
    reason: str


# --- helpers ------------------------------------------------------------------------


def _stay(state: State, reason: str, *actions: Action) -> Transition:
    return Transition(state, tuple(actions), reason)


def _switch(state: State, reason: str, why: str, *, log: str | None = None) -> Transition:
    """Leave a backup state for Primary; `reason` is the reference's switch reason."""
    actions: list[Action] = []
    if log:
        actions.append(Log("error", log))
    if state is State.RECONNECTING:
        actions.append(CancelReconnectTimer())
    actions += [StopMonitors(), CloseLinks(), BecomeActive(reason)]
    return Transition(State.PRIMARY, tuple(actions), why)


def _reconnect(why: str, ctx: Context, *, timer: bool, stop_monitors: bool = True) -> Transition:
    """Go to Reconnecting; with a timer unless the connection is given no deadline."""
    actions: list[Action] = [StopMonitors()] if stop_monitors else []
    if timer:
        if ctx.reconnect_timeout <= 0:
            return _switch(
                State.BACKUP,
                REASON_NOTIFIER,
                f"{why}; Switchover Reconnect Timeout is 0, "
                "going to StatePrimary and switching now",
            )
        timer_action = StartReconnectTimer(ctx.reconnect_timeout)
        actions.append(timer_action)
        why = f"{why}; {timer_action.message}"
    actions.append(ProbeNotifier(ctx.reconnect_delay))
    return Transition(State.RECONNECTING, tuple(actions), why)


def _cut_off(why: str, ctx: Context) -> Transition:
    """Reconnecting without a timer while this server's own network is down."""
    return Transition(
        State.RECONNECTING,
        (StopMonitors(), CancelReconnectTimer(), WatchOwnNetwork(ctx.reconnect_delay),
         ProbeNotifier(ctx.reconnect_delay)),
        f"{why}, going to StateReconnecting (no switch while this server is cut off)",
    )


def _ignored(state: State, event: Event) -> Transition:
    return _stay(state, f"no action: {type(event).__name__} ignored in {state.value}")


def _watch(ctx: Context, upgrade: str | None) -> tuple[Action, ...]:
    """A backup mirrors in every mode; it monitors only when it may switch by itself."""
    if ctx.manual_switch_only or upgrade:
        return (OpenLinks(),)
    return (OpenLinks(), StartMonitors())


# --- the table ----------------------------------------------------------------------


def step(state: State, event: Event, ctx: Context) -> Transition:
    """Apply one event; unknown (state, event) pairs keep the state and say so."""
    if state is State.STOPPING:
        return _stay(state, f"no action: stopping, {type(event).__name__} ignored")
    if isinstance(event, Stop):
        return _stop(state, ctx)
    if state is State.ERROR:
        return _ignored(state, event)
    if isinstance(event, Fatal):
        return Transition(
            State.ERROR, (StopMonitors(), Log("error", event.reason)), f"error: {event.reason}"
        )
    if isinstance(event, PeerQueryDue):
        return _stay(state, "no action: asking the peer for its state", QueryPeer())
    if state is State.INIT:
        return _init(event, ctx)
    if state is State.PRIMARY:
        return _primary(event, ctx)
    if state is State.BACKUP:
        return _backup(event, ctx)
    if state is State.RECONNECTING:
        return _reconnecting(event, ctx)
    if state in UPGRADE_STATES:
        return _upgrade(state, event, ctx)
    return _inactive(event, ctx)


def _init(event: Event, ctx: Context) -> Transition:
    """"The Init State": is the companion an active server?"""
    if not isinstance(event, PeerAnswered):
        return _ignored(State.INIT, event)
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
        return Transition(target, _watch(ctx, upgrade) + (nxt,),
                          f"starting as backup of {name}{mode}{forced}")
    if peer is None:
        why = f"cannot reach {name} on the virtual switch; starting active (fail-safe)"
    elif peer.state == State.INIT.value and ctx.letter == "B":
        return _stay(State.INIT, f"{name} is starting too; SwitchoverServer A comes up "
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


def _primary(event: Event, ctx: Context) -> Transition:
    s = State.PRIMARY
    if isinstance(event, PeerAnswered):
        nxt = QueryPeer(ctx.peer_query_interval)
        peer = event.peer
        if peer is None:
            return _stay(s, f"this server is the active server; {event.name} does not "
                         "answer on the virtual switch", nxt)
        if peer.state != s.value:
            return _stay(s, f"this server is the active server; {event.name} is "
                         f"{peer.state}", nxt)
        return _two_actives(event.name, peer.generation, peer.letter, ctx, nxt)
    if isinstance(event, DiscontinueRequested):
        return _two_actives(event.peer, event.generation, event.letter, ctx)
    if isinstance(event, HandOverRequested):
        reason = f"planned hand-over: {event.peer} takes over; this server is no longer active"
        return Transition(State.INACTIVE, (CloseLinks(), GoStale(reason, tell_peer=True)),
                          reason)
    if isinstance(event, ManualSwitch):
        return _stay(s, "no action: this server is already the primary")
    return _ignored(s, event)


def _two_actives(peer: str, generation: int, letter: str, ctx: Context,
                 *more: Action) -> Transition:
    """Two actives meet (after a partition, or a Discontinue): the newer switch stays."""
    if _outranked(ctx, generation, letter):
        reason = (f"{peer} is active with generation {generation} (ours {ctx.generation}); "
                  "this server is no longer active")
        return Transition(State.INACTIVE, (CloseLinks(), GoStale(reason)) + more, reason)
    return _stay(
        State.PRIMARY,
        f"{peer} claims to be active with generation {generation}, not newer than ours "
        f"({ctx.generation}); telling it that it is no longer active",
        Log("warning", f"{peer} is also active with generation {generation} (ours "
                       f"{ctx.generation}): telling it that it is no longer active"),
        TellPeerDiscontinue(), *more,
    )


def _stop(state: State, ctx: Context) -> Transition:
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


def _module_down(state: State, ctx: Context) -> Transition:
    if ctx.manual_switch_only:
        return Transition(
            State.STOPPING,
            (StopMonitors(), CloseLinks()),
            "Module is down, but switchover is in manual mode: going to StateStopping",
        )
    if ctx.starting_up:
        # "Module Down" case 3: the backup is still starting up; switching now would
        # promote half-synchronised data.
        actions: list[Action] = []
        if state is State.RECONNECTING:
            actions.append(CancelReconnectTimer())
        actions += [StopMonitors(), ScheduleSwitchAfterStartup(REASON_TS_PING)]
        return Transition(
            State.BACKUP, tuple(actions),
            "Module is down, but this server is starting up: switching to StatePrimary "
            "once startup has completed",
        )
    return _switch(state, REASON_TS_PING, "Module is down, switching now and going to StatePrimary")


def _manual_switch(state: State, event: ManualSwitch, ctx: Context) -> Transition:
    how = "immediate " if event.immediate else ""
    if ctx.handing_over:
        return _stay(state, "no action: a planned hand-over is already under way")
    actions: list[Action] = []
    if state in UPGRADE_STATES:
        actions.append(
            Log(
                "warning",
                f"Manual switchover in {state.value}: data not replicated during the "
                "upgrade state may be lost (Appendix C)",
            )
        )
    if ctx.peer_active and not event.immediate:
        return _stay(
            state,
            "Received switch request [event=eInternalSwitchReq]: asking the active server "
            "to discontinue first (planned hand-over)",
            *actions, StopMonitors(), AskPeerToHandOver(HANDOVER_TIMEOUT),
        )
    t = _switch(
        state, REASON_MANUAL, f"Received {how}switch request [event=eInternalSwitchReq], "
        "going to StatePrimary and switching now",
    )
    return Transition(t.state, tuple(actions) + t.actions, t.reason)


def _hand_over(state: State, event: HandedOver | HandOverTimedOut, ctx: Context) -> Transition:
    """The second half of a planned hand-over, on the backup."""
    if isinstance(event, HandOverTimedOut):
        if not ctx.handing_over:
            return _ignored(state, event)
        return _switch(
            state, REASON_MANUAL, "The active server did not confirm its discontinue, "
            "going to StatePrimary and switching now",
            log=f"The active server did not confirm its discontinue within "
            f"{HANDOVER_TIMEOUT:g} second(s): switching without it, as the reference does",
        )
    if ctx.handing_over:
        return _switch(state, REASON_MANUAL, f"{event.peer} has discontinued, going to "
                       "StatePrimary and switching now (planned hand-over)")
    if ctx.manual_switch_only or state in UPGRADE_STATES:
        return _stay(state, f"{event.peer} has stopped and discontinued; not taking over "
                     f"in {'manual switch mode' if ctx.manual_switch_only else state.value}",
                     Log("warning", f"{event.peer} has stopped: no active server until an "
                                    "operator switches"))
    return _switch(state, REASON_HANDOVER, f"{event.peer} is stopping and has discontinued, "
                   "going to StatePrimary and switching now (planned hand-over)")


def _mirroring(state: State, event: Event, ctx: Context) -> Transition | None:
    """Rows every backup state shares: the peer view and the manual switch."""
    if isinstance(event, PeerAnswered):
        return _stay(state, f"no action: this server is {state.value}",
                     QueryPeer(ctx.peer_query_interval))
    if isinstance(event, ManualSwitch):
        return _manual_switch(state, event, ctx)
    if isinstance(event, (HandedOver, HandOverTimedOut)):
        return _hand_over(state, event, ctx)
    if isinstance(event, PauseChanged):
        return _pause(state, event, ctx)
    if isinstance(event, StartupComplete):
        if ctx.switch_scheduled and state is not State.UPGRADE_HIGHER \
                and state is not State.UPGRADE_LOWER:
            return _switch(state, ctx.switch_scheduled, "Startup has completed, performing "
                           "the scheduled switch: going to StatePrimary and switching now")
        return _stay(state, "no action: startup complete"
                     f"{' (' + event.detail + ')' if event.detail else ''}, no switch scheduled")
    if isinstance(event, LinksRestored):
        if state is State.BACKUP and not ctx.manual_switch_only:
            return _stay(state, "no action: the monitors watch the connections")
        if state is State.RECONNECTING:
            return _stay(state, "no action: the reconnect probe decides")
        return _stay(state, f"A connection to the primary is back in {state.value}"
                     f"{' (manual switch mode)' if ctx.manual_switch_only else ''}: "
                     "resynchronizing", Resync())
    return None


def _pause(state: State, event: PauseChanged, ctx: Context) -> Transition:
    """Maintenance mode: a paused backup mirrors but never switches by itself."""
    if state in UPGRADE_STATES:
        return _stay(state, f"no action: {state.value} never switches automatically anyway")
    if event.paused:
        if state is State.BACKUP:
            return _stay(state, "paused: automatic switching is off until resumed "
                         "(maintenance mode)", StopMonitors())
        return _stay(state, "paused: the reconnect timer no longer switches "
                     "(maintenance mode)")
    if ctx.manual_switch_only:
        return _stay(state, "resumed; still in manual switch mode")
    if state is State.BACKUP:
        return _stay(state, "resumed: automatic switching is on again", StartMonitors())
    if ctx.cut_off or ctx.reconnect_timeout <= 0:
        return _stay(state, "resumed: waiting for the primary")
    timer = StartReconnectTimer(ctx.reconnect_timeout)
    return _stay(state, f"resumed: {timer.message}", timer)


def _backup(event: Event, ctx: Context) -> Transition:
    s = State.BACKUP
    shared = _mirroring(s, event, ctx)
    if shared is not None:
        return shared
    if isinstance(event, ModuleDown):
        return _module_down(s, ctx)
    if isinstance(event, NetworkDown):
        return _cut_off(f"Network is down [{event.status}]", ctx)
    if isinstance(event, NotifierDown):
        if ctx.manual_switch_only:
            return _reconnect(
                "Notifier is down, manual switch mode: going to StateReconnecting",
                ctx,
                timer=False,
                stop_monitors=False,
            )
        if not event.main_up and not event.aux_up:
            return _reconnect(
                "Notifier is down, both connections are down, going to StateReconnecting",
                ctx,
                timer=True,
            )
        up = "both connections are up" if event.main_up and event.aux_up else (
            "the main connection is up" if event.main_up else "the auxiliary connection is up"
        )
        return _reconnect(f"Notifier is down, {up}, going to StateReconnecting", ctx, timer=True)
    if isinstance(event, PrimaryUnreachable):
        where = f" [{event.address}]" if event.address else ""
        if not ctx.unreachable_switch_allowed:
            return _reconnect(
                f"Primary{where} is unreachable, going to StateReconnecting and waiting "
                "for it (Switchover Unreachable Primary Ping Count is -1)",
                ctx,
                timer=False,
                stop_monitors=True,
            )
        return _reconnect(
            f"Primary{where} is unreachable, going to StateReconnecting", ctx, timer=True
        )
    return _ignored(s, event)


def _reconnecting(event: Event, ctx: Context) -> Transition:
    s = State.RECONNECTING
    shared = _mirroring(s, event, ctx)
    if shared is not None:
        return shared
    lost = "Lost connections to the primary, going to StatePrimary and switching now"
    if isinstance(event, ReconnectExpired):
        if ctx.manual_switch_only:
            return _stay(s, "no action: reconnect period expired in manual switch mode")
        return _switch(
            s,
            REASON_NOTIFIER,
            lost,
            log="Reconnect period expired, posting [event=eConnectionsDown] "
            "to initiate a switchover",
        )
    if isinstance(event, ReconnectProbeDue):
        return _stay(s, "no action: pinging the primary's notifier", ProbeNotifier())
    if isinstance(event, ReconnectProbed):
        if not event.ok:
            return _stay(s, "no action: the primary's notifier does not answer yet",
                         ProbeNotifier(ctx.reconnect_delay))
        actions: list[Action] = [CancelReconnectTimer(), Resync()]
        if not ctx.manual_switch_only:
            actions.append(StartMonitors())
        return Transition(State.BACKUP, tuple(actions),
                          "Connections to the primary are restored, going to StateBackup "
                          "and resynchronizing")
    if isinstance(event, OwnNetworkChecked):
        if not ctx.cut_off:
            return _stay(s, "no action: this server's network is not in question")
        if not event.ok:
            return _stay(s, "no action: this server's network is still down",
                         WatchOwnNetwork(ctx.reconnect_delay))
        if ctx.manual_switch_only or ctx.reconnect_timeout <= 0:
            timer: tuple[Action, ...] = ()
        else:
            timer = (StartReconnectTimer(ctx.reconnect_timeout),)
        return _stay(s, "The network of this server is restored; the primary's notifier "
                     "does not answer yet: "
                     + (timer[0].message if timer else "waiting for it"), *timer)
    if isinstance(event, PrimaryUnreachable):
        if ctx.manual_switch_only or not ctx.unreachable_switch_allowed:
            return _stay(s, "no action: primary unreachable, waiting for it to return")
        return _switch(
            s,
            REASON_NOTIFIER,
            "Primary is unreachable, going to StatePrimary and switching now",
        )
    if isinstance(event, ModuleDown):
        return _module_down(s, ctx)
    if isinstance(event, NetworkDown):
        return _cut_off(f"Network is down [{event.status}], cancelling the reconnect timer", ctx)
    return _ignored(s, event)


def _upgrade(state: State, event: Event, ctx: Context) -> Transition:
    shared = _mirroring(state, event, ctx)
    if shared is not None:
        return shared
    if isinstance(event, (ModuleDown, NotifierDown, PrimaryUnreachable, NetworkDown,
                          ReconnectExpired)):
        return _stay(
            state,
            f"no action: {type(event).__name__} in {state.value}; an upgrade state never "
            "switches automatically, only a manual switch",
            Log("warning", f"{type(event).__name__} received in {state.value}: not switching"),
        )
    return _ignored(state, event)


def _inactive(event: Event, ctx: Context) -> Transition:
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
        return _stay(s, "no action: this server is stale; `switchover rejoin` or a restart "
                     "makes it a backup again", nxt)
    return _stay(
        s,
        f"no action: {type(event).__name__} ignored, this server is stale "
        "and must rejoin (switchover rejoin) or be restarted to be a backup again",
    )


def _rejoin(peer: PeerView | None, name: str, ctx: Context, why: str) -> Transition:
    """Stale -> backup of a healthy active, with a full resynchronisation."""
    if peer is None or peer.state != "Primary":
        what = "does not answer" if peer is None else f"is {peer.state}"
        return _stay(State.INACTIVE, f"rejoin refused: {name} {what}, not a healthy active "
                     "server; this server stays stale")
    target = {"higher": State.UPGRADE_HIGHER, "lower": State.UPGRADE_LOWER}.get(
        peer.upgrade or "", State.BACKUP)
    # The services start over as a backup on the role change: a full resynchronisation.
    return Transition(target, _watch(ctx, peer.upgrade),
                      f"rejoining as backup of {name} ({why}): resynchronizing everything")

