"""The state machine's vocabulary: states, the context a decision reads, the transition
it returns, and the small builders every row uses (`actors.statemachine` has the table).
"""
from __future__ import annotations

from dataclasses import dataclass
from enum import Enum

from switchover.actors.state_actions import (
    Action,
    BecomeActive,
    CancelReconnectTimer,
    CloseLinks,
    Log,
    OpenLinks,
    ProbeNotifier,
    StartMonitors,
    StartReconnectTimer,
    StopMonitors,
    WatchOwnNetwork,
)
from switchover.actors.state_events import Event


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
    #: A [witness] is configured: the key is the right to be active (docs/witness.md).
    witness: bool = False
    #: This server holds the witness key (WitnessAcquired, and not lost since).
    witness_key: bool = False
    #: A start or switch waiting for the key (PendSwitch): its reason, and whether it is
    #: a switch (a new generation) or a start.
    switch_pending: str | None = None
    pending_is_switch: bool = True
    #: This server's name: a witness key held under another name is another server's.
    server_name: str = ""


@dataclass(frozen=True)
class Transition:
    state: State
    actions: tuple[Action, ...]
    reason: str


def stay(state: State, reason: str, *actions: Action) -> Transition:
    return Transition(state, tuple(actions), reason)


def switch(state: State, reason: str, why: str, *, log: str | None = None) -> Transition:
    """Leave a backup state for Primary; `reason` is the reference's switch reason."""
    actions: list[Action] = []
    if log:
        actions.append(Log("error", log))
    if state is State.RECONNECTING:
        actions.append(CancelReconnectTimer())
    actions += [StopMonitors(), CloseLinks(), BecomeActive(reason)]
    return Transition(State.PRIMARY, tuple(actions), why)


def reconnect(why: str, ctx: Context, *, timer: bool, stop_monitors: bool = True) -> Transition:
    """Go to Reconnecting; with a timer unless the connection is given no deadline."""
    actions: list[Action] = [StopMonitors()] if stop_monitors else []
    if timer:
        if ctx.reconnect_timeout <= 0:
            return switch(
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


def cut_off(why: str, ctx: Context) -> Transition:
    """Reconnecting without a timer while this server's own network is down."""
    return Transition(
        State.RECONNECTING,
        (StopMonitors(), CancelReconnectTimer(), WatchOwnNetwork(ctx.reconnect_delay),
         ProbeNotifier(ctx.reconnect_delay)),
        f"{why}, going to StateReconnecting (no switch while this server is cut off)",
    )


def ignored(state: State, event: Event) -> Transition:
    return stay(state, f"no action: {type(event).__name__} ignored in {state.value}")


def watch(ctx: Context, upgrade: str | None) -> tuple[Action, ...]:
    """A backup mirrors in every mode; it monitors only when it may switch by itself."""
    if ctx.manual_switch_only or upgrade:
        return (OpenLinks(),)
    return (OpenLinks(), StartMonitors())

