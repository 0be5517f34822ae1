"""The switchover state machine, pure: ``step(state, event, ctx) -> Transition``.

"The Switchover State Machine" and "State Machine Events and Handling" in the reference,
kept as a table beside the actor that executes it (the Binary Star shape). Nothing here
does I/O or reads a clock: SwitchoverMain executes the returned actions, and every step
carries a sentence an operator can read (logged, shown by status, asserted by tests).

Where the reference is silent or contradicts itself, the choice is written next to the
rule that makes it (see also docs/switching.md):

- A backup whose *own* network is down (NetworkDown, or NotifierDown with network_ok
  False) goes to Reconnecting without a reconnect timer: switching from a server that is
  cut off would make two active servers ("Switchover NetTest server parameters").
- Primary Unreachable goes to Reconnecting with the reconnect timer running; with
  "Switchover Unreachable Primary Ping Count" = -1 (``unreachable_switch_allowed`` False)
  no timer is started, so the backup waits for the primary for as long as it takes.
- The Upgrade states never switch automatically (Appendix C); a manual switch works.
- Inactive (stale) never becomes active again until the host is restarted.
"""
from __future__ import annotations

from dataclasses import dataclass
from enum import Enum


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
SWITCH_REASONS = (REASON_NOTIFIER, REASON_TS_PING, REASON_MANUAL)


# --- events -------------------------------------------------------------------------


@dataclass(frozen=True)
class StartActive:
    """Init decided to start active ("The Init State"): first up, or peer unreachable."""

    reason: str


@dataclass(frozen=True)
class StartBackup:
    """Init found an active peer; `upgrade` is None, "higher" or "lower" (Appendix C)."""

    peer: str
    upgrade: str | None = None


@dataclass(frozen=True)
class Stop:
    """The host is shutting down (SIGTERM)."""


@dataclass(frozen=True)
class Discontinue:
    """The peer, now active with a newer generation, told us we are no longer active."""

    peer: str
    generation: int


@dataclass(frozen=True)
class Fatal:
    """An error the host cannot carry on from ("The Error State")."""

    reason: str


@dataclass(frozen=True)
class NetworkDown:
    """The primary monitor found this server's own network down (gateway or NetTest)."""

    status: str = "GatewayUnreachable"


@dataclass(frozen=True)
class NetworkRestored:
    """This server's network answers again (beyond the reference: resume by itself)."""


@dataclass(frozen=True)
class ModuleDown:
    """The monitored module is down and network and connections are good (eTSDown)."""

    module: str = "TsServer"


@dataclass(frozen=True)
class NotifierDown:
    """The remote notifier does not answer; the four cases of "Notifier Down"."""

    network_ok: bool = True
    main_up: bool = False
    aux_up: bool = False


@dataclass(frozen=True)
class PrimaryUnreachable:
    """ICMP to the primary's server failed for every ping set."""

    address: str = ""
    ping_sets: int = 0


@dataclass(frozen=True)
class ReconnectExpired:
    """The reconnect timer fired ("Reconnect period expired ... eConnectionsDown")."""


@dataclass(frozen=True)
class ReconnectAttemptsExhausted:
    """The host made its maximum number of reconnect attempts."""

    attempts: int = 0


@dataclass(frozen=True)
class ConnectionsRestored:
    """Reconnection succeeded, or the monitored module answers again."""


@dataclass(frozen=True)
class ManualSwitch:
    """An operator asked for a switch (eInternalSwitchReq); `immediate` = /Immediate."""

    immediate: bool = False


@dataclass(frozen=True)
class StartupComplete:
    """This server finished starting up; a scheduled switch may now happen."""


Event = (
    StartActive
    | StartBackup
    | Stop
    | Discontinue
    | Fatal
    | NetworkDown
    | NetworkRestored
    | ModuleDown
    | NotifierDown
    | PrimaryUnreachable
    | ReconnectExpired
    | ReconnectAttemptsExhausted
    | ConnectionsRestored
    | ManualSwitch
    | StartupComplete
)


# --- actions ------------------------------------------------------------------------


@dataclass(frozen=True)
class Log:
    level: str  # "info" | "warning" | "error"
    message: str


@dataclass(frozen=True)
class StartMonitors:
    """SysMonitor starts PrimaryMonitor and ModuleMonitor (skipped in manual mode)."""


@dataclass(frozen=True)
class StopMonitors:
    pass


@dataclass(frozen=True)
class StartReconnectTimer:
    """Post ReconnectExpired after `seconds` reference seconds (replacing any earlier)."""

    seconds: float

    @property
    def message(self) -> str:
        return f"Scheduling reconnect timeout to execute in {self.seconds:g} second(s)"


@dataclass(frozen=True)
class CancelReconnectTimer:
    pass


@dataclass(frozen=True)
class BecomeActive:
    """Serve as the active server: Commence hooks, promote shadows, bump generation.

    `reason` is one of SWITCH_REASONS; the host logs it before "Switch Initiated".
    """

    reason: str


@dataclass(frozen=True)
class Resync:
    """Compare-and-update DS, files and interactions against the primary again."""


@dataclass(frozen=True)
class ScheduleSwitchAfterStartup:
    """Remember to switch (with `reason`) once this server has finished starting up.

    The host keeps the reason in ``Context.switch_scheduled`` and posts StartupComplete.
    """

    reason: str


@dataclass(frozen=True)
class GoStale:
    """Stop serving: Discontinue hooks; never active again until restarted."""

    reason: str


Action = (
    Log
    | StartMonitors
    | StopMonitors
    | StartReconnectTimer
    | CancelReconnectTimer
    | BecomeActive
    | Resync
    | ScheduleSwitchAfterStartup
    | GoStale
)


@dataclass(frozen=True)
class Context:
    """What the state machine needs to know beyond the event itself."""

    manual_switch_only: bool = False
    #: This server is still starting up: a Module Down switch waits for StartupComplete.
    starting_up: bool = False
    #: "Switchover Reconnect Timeout" (reference seconds); 0 = switch at once.
    reconnect_timeout: float = 30.0
    #: False when "Switchover Unreachable Primary Ping Count" is -1.
    unreachable_switch_allowed: bool = True
    #: Set by the host after a ScheduleSwitchAfterStartup: the pending switch's reason.
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
    actions += [StopMonitors(), BecomeActive(reason)]
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
    return Transition(State.RECONNECTING, tuple(actions), why)


def _ignored(state: State, event: Event) -> Transition:
    return _stay(state, f"no action: {type(event).__name__} ignored in {state.value}")


# --- the table ----------------------------------------------------------------------


def step(state: State, event: Event, ctx: Context) -> Transition:
    """Apply one event; unknown (state, event) pairs keep the state and say so."""
    if state is State.STOPPING:
        return _stay(state, f"no action: stopping, {type(event).__name__} ignored")
    if isinstance(event, Stop):
        return Transition(State.STOPPING, (StopMonitors(),), "stopping: shutdown requested")
    if state is State.ERROR:
        return _ignored(state, event)
    if isinstance(event, Fatal):
        return Transition(
            State.ERROR, (StopMonitors(), Log("error", event.reason)), f"error: {event.reason}"
        )
    if state is State.INIT:
        return _init(event, ctx)
    if state is State.PRIMARY:
        return _primary(event)
    if state is State.BACKUP:
        return _backup(event, ctx)
    if state is State.RECONNECTING:
        return _reconnecting(event, ctx)
    if state in UPGRADE_STATES:
        return _upgrade(state, event)
    # Inactive: stale until restarted; nothing makes it active again.
    return _stay(
        state,
        f"no action: {type(event).__name__} ignored, this server is stale "
        "and must be restarted to rejoin as backup",
    )


def _init(event: Event, ctx: Context) -> Transition:
    if isinstance(event, StartActive):
        return Transition(
            State.PRIMARY,
            (BecomeActive(event.reason),),
            f"starting as the active server: {event.reason}",
        )
    if isinstance(event, StartBackup):
        if event.upgrade == "higher":
            target = State.UPGRADE_HIGHER
        elif event.upgrade == "lower":
            target = State.UPGRADE_LOWER
        else:
            target = State.BACKUP
        watch = () if ctx.manual_switch_only or event.upgrade else (StartMonitors(),)
        mode = " in manual switch mode" if ctx.manual_switch_only else ""
        return Transition(target, watch, f"starting as backup of {event.peer}{mode}")
    return _ignored(State.INIT, event)


def _primary(event: Event) -> Transition:
    if isinstance(event, Discontinue):
        reason = (
            f"{event.peer} is active with generation {event.generation}; "
            "this server is no longer active"
        )
        return Transition(State.INACTIVE, (GoStale(reason),), reason)
    if isinstance(event, ManualSwitch):
        return _stay(State.PRIMARY, "no action: this server is already the primary")
    return _ignored(State.PRIMARY, event)


def _module_down(state: State, ctx: Context) -> Transition:
    if ctx.manual_switch_only:
        return Transition(
            State.STOPPING,
            (StopMonitors(),),
            "Module is down, but switchover is in manual mode: going to StateStopping",
        )
    if ctx.starting_up:
        actions: list[Action] = []
        if state is State.RECONNECTING:
            actions.append(CancelReconnectTimer())
        actions += [StopMonitors(), ScheduleSwitchAfterStartup(REASON_TS_PING)]
        return Transition(
            State.BACKUP,
            tuple(actions),
            "Module is down, but this server is starting up: "
            "switching to StatePrimary once startup has completed",
        )
    return _switch(state, REASON_TS_PING, "Module is down, switching now and going to StatePrimary")


def _manual_switch(state: State, event: ManualSwitch) -> Transition:
    how = "immediate " if event.immediate else ""
    actions: list[Action] = []
    if state in UPGRADE_STATES:
        actions.append(
            Log(
                "warning",
                f"Manual switchover in {state.value}: data not replicated during the "
                "upgrade state may be lost (Appendix C)",
            )
        )
    t = _switch(
        state, REASON_MANUAL, f"Received {how}switch request [event=eInternalSwitchReq], "
        "going to StatePrimary and switching now",
    )
    return Transition(t.state, tuple(actions) + t.actions, t.reason)


def _backup(event: Event, ctx: Context) -> Transition:
    s = State.BACKUP
    if isinstance(event, ModuleDown):
        return _module_down(s, ctx)
    if isinstance(event, NetworkDown):
        return _reconnect(
            f"Network is down [{event.status}], going to StateReconnecting "
            "(no switch while this server is cut off)",
            ctx,
            timer=False,
        )
    if isinstance(event, NotifierDown):
        if not event.network_ok:
            return _reconnect(
                "Notifier is down and the network is down, going to StateReconnecting "
                "(no switch while this server is cut off)",
                ctx,
                timer=False,
            )
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
    if isinstance(event, ManualSwitch):
        return _manual_switch(s, event)
    if isinstance(event, StartupComplete):
        if ctx.switch_scheduled:
            return _switch(
                s,
                ctx.switch_scheduled,
                "Startup has completed, performing the scheduled switch: "
                "going to StatePrimary and switching now",
            )
        return _stay(s, "no action: startup complete, no switch scheduled")
    return _ignored(s, event)


def _reconnecting(event: Event, ctx: Context) -> Transition:
    s = State.RECONNECTING
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
    if isinstance(event, ReconnectAttemptsExhausted):
        if ctx.manual_switch_only:
            return _stay(s, "no action: reconnect attempts exhausted in manual switch mode")
        return _switch(
            s,
            REASON_NOTIFIER,
            lost,
            log=f"Made the maximum number of reconnect attempts [{event.attempts}], "
            "posting [event=eConnectionsDown] to initiate a switchover",
        )
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
    if isinstance(event, (ConnectionsRestored, NetworkRestored)):
        what = (
            "Connections to the primary are"
            if isinstance(event, ConnectionsRestored)
            else "The network is"
        )
        actions: list[Action] = [CancelReconnectTimer(), Resync()]
        if not ctx.manual_switch_only:
            actions.append(StartMonitors())
        return Transition(
            State.BACKUP,
            tuple(actions),
            f"{what} restored, going to StateBackup and resynchronizing",
        )
    if isinstance(event, NetworkDown):
        return _stay(
            s,
            f"Network is down [{event.status}], cancelling the reconnect timer "
            "(no switch while this server is cut off)",
            CancelReconnectTimer(),
        )
    if isinstance(event, ManualSwitch):
        return _manual_switch(s, event)
    return _ignored(s, event)


def _upgrade(state: State, event: Event) -> Transition:
    if isinstance(event, ManualSwitch):
        return _manual_switch(state, event)
    if isinstance(event, (ModuleDown, NotifierDown, PrimaryUnreachable, NetworkDown,
                          ReconnectExpired, ReconnectAttemptsExhausted)):
        return _stay(
            state,
            f"no action: {type(event).__name__} in {state.value}; an upgrade state never "
            "switches automatically, only a manual switch",
            Log("warning", f"{type(event).__name__} received in {state.value}: not switching"),
        )
    return _ignored(state, event)
