"""The backup's rows: the monitors' events (Module Down, Notifier Down, Primary
Unreachable, Network Down), Reconnecting and its probes, the cut-off backup's own
network, manual switches and the planned hand-over, maintenance mode, start-up, the
upgrade states. See `actors.statemachine` for the table and the choices made where the
reference is silent.
"""
from __future__ import annotations

from switchover.actors.state_actions import (
    Action,
    AskPeerToHandOver,
    CancelReconnectTimer,
    CloseLinks,
    Log,
    ProbeNotifier,
    QueryPeer,
    Resync,
    ScheduleSwitchAfterStartup,
    StartMonitors,
    StartReconnectTimer,
    StopMonitors,
    WatchOwnNetwork,
)
from switchover.actors.state_base import (
    HANDOVER_TIMEOUT,
    REASON_HANDOVER,
    REASON_MANUAL,
    REASON_NOTIFIER,
    REASON_TS_PING,
    UPGRADE_STATES,
    Context,
    State,
    Transition,
    cut_off,
    ignored,
    reconnect,
    stay,
    switch,
)
from switchover.actors.state_events import (
    Event,
    HandedOver,
    HandOverTimedOut,
    LinksRestored,
    ManualSwitch,
    ModuleDown,
    NetworkDown,
    NotifierDown,
    OwnNetworkChecked,
    PauseChanged,
    PeerAnswered,
    PrimaryUnreachable,
    ReconnectExpired,
    ReconnectProbed,
    ReconnectProbeDue,
    StartupComplete,
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
    return switch(state, REASON_TS_PING, "Module is down, switching now and going to StatePrimary")


def _manual_switch(state: State, event: ManualSwitch, ctx: Context) -> Transition:
    how = "immediate " if event.immediate else ""
    if ctx.handing_over:
        return stay(state, "no action: a planned hand-over is already under way")
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
        return stay(
            state,
            "Received switch request [event=eInternalSwitchReq]: asking the active server "
            "to discontinue first (planned hand-over)",
            *actions, StopMonitors(), AskPeerToHandOver(HANDOVER_TIMEOUT),
        )
    t = switch(
        state, REASON_MANUAL, f"Received {how}switch request [event=eInternalSwitchReq], "
        "going to StatePrimary and switching now",
    )
    return Transition(t.state, tuple(actions) + t.actions, t.reason)


def _hand_over(state: State, event: HandedOver | HandOverTimedOut, ctx: Context) -> Transition:
    """The second half of a planned hand-over, on the backup."""
    if isinstance(event, HandOverTimedOut):
        if not ctx.handing_over:
            return ignored(state, event)
        return switch(
            state, REASON_MANUAL, "The active server did not confirm its discontinue, "
            "going to StatePrimary and switching now",
            log=f"The active server did not confirm its discontinue within "
            f"{HANDOVER_TIMEOUT:g} second(s): switching without it, as the reference does",
        )
    if ctx.handing_over:
        return switch(state, REASON_MANUAL, f"{event.peer} has discontinued, going to "
                       "StatePrimary and switching now (planned hand-over)")
    if ctx.manual_switch_only or state in UPGRADE_STATES:
        return stay(state, f"{event.peer} has stopped and discontinued; not taking over "
                     f"in {'manual switch mode' if ctx.manual_switch_only else state.value}",
                     Log("warning", f"{event.peer} has stopped: no active server until an "
                                    "operator switches"))
    return switch(state, REASON_HANDOVER, f"{event.peer} is stopping and has discontinued, "
                   "going to StatePrimary and switching now (planned hand-over)")


def _mirroring(state: State, event: Event, ctx: Context) -> Transition | None:
    """Rows every backup state shares: the peer view and the manual switch."""
    if isinstance(event, PeerAnswered):
        return stay(state, f"no action: this server is {state.value}",
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
            return switch(state, ctx.switch_scheduled, "Startup has completed, performing "
                           "the scheduled switch: going to StatePrimary and switching now")
        return stay(state, "no action: startup complete"
                     f"{' (' + event.detail + ')' if event.detail else ''}, no switch scheduled")
    if isinstance(event, LinksRestored):
        if state is State.BACKUP and not ctx.manual_switch_only:
            return stay(state, "no action: the monitors watch the connections")
        if state is State.RECONNECTING:
            return stay(state, "no action: the reconnect probe decides")
        return stay(state, f"A connection to the primary is back in {state.value}"
                     f"{' (manual switch mode)' if ctx.manual_switch_only else ''}: "
                     "resynchronizing", Resync())
    return None


def _pause(state: State, event: PauseChanged, ctx: Context) -> Transition:
    """Maintenance mode: a paused backup mirrors but never switches by itself."""
    if state in UPGRADE_STATES:
        return stay(state, f"no action: {state.value} never switches automatically anyway")
    if event.paused:
        if state is State.BACKUP:
            return stay(state, "paused: automatic switching is off until resumed "
                         "(maintenance mode)", StopMonitors())
        return stay(state, "paused: the reconnect timer no longer switches "
                     "(maintenance mode)")
    if ctx.manual_switch_only:
        return stay(state, "resumed; still in manual switch mode")
    if state is State.BACKUP:
        return stay(state, "resumed: automatic switching is on again", StartMonitors())
    if ctx.cut_off or ctx.reconnect_timeout <= 0:
        return stay(state, "resumed: waiting for the primary")
    timer = StartReconnectTimer(ctx.reconnect_timeout)
    return stay(state, f"resumed: {timer.message}", timer)


def backup(event: Event, ctx: Context) -> Transition:
    s = State.BACKUP
    shared = _mirroring(s, event, ctx)
    if shared is not None:
        return shared
    if isinstance(event, ModuleDown):
        return _module_down(s, ctx)
    if isinstance(event, NetworkDown):
        return cut_off(f"Network is down [{event.status}]", ctx)
    if isinstance(event, NotifierDown):
        if ctx.manual_switch_only:
            return reconnect(
                "Notifier is down, manual switch mode: going to StateReconnecting",
                ctx,
                timer=False,
                stop_monitors=False,
            )
        if not event.main_up and not event.aux_up:
            return reconnect(
                "Notifier is down, both connections are down, going to StateReconnecting",
                ctx,
                timer=True,
            )
        up = "both connections are up" if event.main_up and event.aux_up else (
            "the main connection is up" if event.main_up else "the auxiliary connection is up"
        )
        return reconnect(f"Notifier is down, {up}, going to StateReconnecting", ctx, timer=True)
    if isinstance(event, PrimaryUnreachable):
        where = f" [{event.address}]" if event.address else ""
        if not ctx.unreachable_switch_allowed:
            return reconnect(
                f"Primary{where} is unreachable, going to StateReconnecting and waiting "
                "for it (Switchover Unreachable Primary Ping Count is -1)",
                ctx,
                timer=False,
                stop_monitors=True,
            )
        return reconnect(
            f"Primary{where} is unreachable, going to StateReconnecting", ctx, timer=True
        )
    return ignored(s, event)


def reconnecting(event: Event, ctx: Context) -> Transition:
    s = State.RECONNECTING
    shared = _mirroring(s, event, ctx)
    if shared is not None:
        return shared
    lost = "Lost connections to the primary, going to StatePrimary and switching now"
    if isinstance(event, ReconnectExpired):
        if ctx.manual_switch_only:
            return stay(s, "no action: reconnect period expired in manual switch mode")
        return switch(
            s,
            REASON_NOTIFIER,
            lost,
            log="Reconnect period expired, posting [event=eConnectionsDown] "
            "to initiate a switchover",
        )
    if isinstance(event, ReconnectProbeDue):
        return stay(s, "no action: pinging the primary's notifier", ProbeNotifier())
    if isinstance(event, ReconnectProbed):
        if not event.ok:
            return stay(s, "no action: the primary's notifier does not answer yet",
                         ProbeNotifier(ctx.reconnect_delay))
        actions: list[Action] = [CancelReconnectTimer(), Resync()]
        if not ctx.manual_switch_only:
            actions.append(StartMonitors())
        return Transition(State.BACKUP, tuple(actions),
                          "Connections to the primary are restored, going to StateBackup "
                          "and resynchronizing")
    if isinstance(event, OwnNetworkChecked):
        if not ctx.cut_off:
            return stay(s, "no action: this server's network is not in question")
        if not event.ok:
            return stay(s, "no action: this server's network is still down",
                         WatchOwnNetwork(ctx.reconnect_delay))
        if ctx.manual_switch_only or ctx.reconnect_timeout <= 0:
            timer: tuple[Action, ...] = ()
        else:
            timer = (StartReconnectTimer(ctx.reconnect_timeout),)
        return stay(s, "The network of this server is restored; the primary's notifier "
                     "does not answer yet: "
                     + (timer[0].message if timer else "waiting for it"), *timer)
    if isinstance(event, PrimaryUnreachable):
        if ctx.manual_switch_only or not ctx.unreachable_switch_allowed:
            return stay(s, "no action: primary unreachable, waiting for it to return")
        return switch(
            s,
            REASON_NOTIFIER,
            "Primary is unreachable, going to StatePrimary and switching now",
        )
    if isinstance(event, ModuleDown):
        return _module_down(s, ctx)
    if isinstance(event, NetworkDown):
        return cut_off(f"Network is down [{event.status}], cancelling the reconnect timer", ctx)
    return ignored(s, event)


def upgrade(state: State, event: Event, ctx: Context) -> Transition:
    shared = _mirroring(state, event, ctx)
    if shared is not None:
        return shared
    if isinstance(event, (ModuleDown, NotifierDown, PrimaryUnreachable, NetworkDown,
                          ReconnectExpired)):
        return stay(
            state,
            f"no action: {type(event).__name__} in {state.value}; an upgrade state never "
            "switches automatically, only a manual switch",
            Log("warning", f"{type(event).__name__} received in {state.value}: not switching"),
        )
    return ignored(state, event)


