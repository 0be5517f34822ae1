"""The switchover state machine, pure: ``step(state, event, ctx) -> Transition``.

"The Switchover State Machine" and "State Machine Events and Handling" in the reference,
kept as a table beside the actor that executes it (the Binary Star shape). Nothing here
does I/O or reads a clock: SwitchoverMain executes the returned actions, and every step
carries a sentence an operator can read (logged, shown by status, asserted by tests).
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
class BecomeActive:
    """Serve as the active server: Commence hooks, promote shadows, bump generation."""

    reason: str


@dataclass(frozen=True)
class GoStale:
    """Stop serving: Discontinue hooks; never active again until restarted."""

    reason: str


Action = Log | StartMonitors | StopMonitors | BecomeActive | GoStale
Event = StartActive | StartBackup | Stop | Discontinue | Fatal


@dataclass(frozen=True)
class Context:
    """What the state machine needs to know beyond the event itself."""

    manual_switch_only: bool = False


@dataclass(frozen=True)
class Transition:
    state: State
    actions: tuple[Action, ...]
    reason: str


def step(state: State, event: Event, ctx: Context) -> Transition:
    """Apply one event; unknown (state, event) pairs keep the state and say so."""
    if isinstance(event, Stop):
        return Transition(State.STOPPING, (StopMonitors(),), "stopping: shutdown requested")
    if isinstance(event, Fatal):
        return Transition(
            State.ERROR, (StopMonitors(), Log("error", event.reason)), f"error: {event.reason}"
        )
    if state is State.INIT:
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
            return Transition(target, watch, f"starting as backup of {event.peer}")
    if isinstance(event, Discontinue) and state is State.PRIMARY:
        reason = (
            f"{event.peer} is active with generation {event.generation}; "
            "this server is no longer active"
        )
        return Transition(State.INACTIVE, (GoStale(reason),), reason)
    return Transition(state, (), f"no action: {type(event).__name__} ignored in {state.value}")
