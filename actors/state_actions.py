"""What the state machine asks SwitchoverMain to do; SwitchoverMain does nothing else.

Every timer, probe and peer notice a decision needs is an action here, so the schedule
itself ("when to ask the peer again", "when to ping the primary's Notifier again") is
part of the tested table rather than of the actor.
"""
from __future__ import annotations

from dataclasses import dataclass


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
class OpenLinks:
    """Open the two channels to the peer's Notifier (mirroring goes on in every backup
    state, manual mode and the upgrade states too)."""


@dataclass(frozen=True)
class CloseLinks:
    """Close the channels to the peer: this server no longer mirrors it."""


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
class ProbeNotifier:
    """Ping the primary's Notifier after `after` reference seconds (main, else aux)."""

    after: float = 0.0


@dataclass(frozen=True)
class WatchOwnNetwork:
    """This server is cut off: check its own network (gateway / NetTest) after `after`
    reference seconds, and until then start no reconnect timer."""

    after: float


@dataclass(frozen=True)
class QueryPeer:
    """Ask the peer's virtual switch for its state after `after` reference seconds."""

    after: float = 0.0


@dataclass(frozen=True)
class CheckPeer:
    """Ask the peer's virtual switch now, even with a query in flight, and post
    PeerCheckEnded `within` reference seconds later: a deadline that a query's own
    timeout (never under a real second) cannot keep."""

    within: float


@dataclass(frozen=True)
class TellPeerDiscontinue:
    """Tell the peer it is no longer active, with this server's generation."""


@dataclass(frozen=True)
class BecomeActive:
    """Serve as the active server: Commence hooks, promote shadows.

    `reason` is logged before "Switch Initiated" when `switch` is True (the reference's
    switch reasons). A switch takes a new generation, one above the highest either
    server has seen; a start as the active server (`switch` False) keeps the highest
    generation seen, so a restart never outranks a switch that happened meanwhile.
    """

    reason: str
    switch: bool = True


@dataclass(frozen=True)
class Resync:
    """Compare-and-update DS, files and interactions against the primary again."""


@dataclass(frozen=True)
class Discontinue:
    """Run the discontinue hooks; with `tell_peer`, tell the peer once they have run, so
    that its commence hooks follow this server's discontinue (a planned hand-over)."""

    reason: str
    tell_peer: bool = False


@dataclass(frozen=True)
class ScheduleSwitchAfterStartup:
    """Remember to switch (with `reason`) once this backup has finished starting up; the
    host keeps it in ``Context.switch_scheduled`` until StartupComplete."""

    reason: str


@dataclass(frozen=True)
class GoStale:
    """Stop serving: Discontinue hooks; never active again until restarted."""

    reason: str
    tell_peer: bool = False


@dataclass(frozen=True)
class AskPeerToHandOver:
    """Ask the active peer to discontinue first; HandedOver or HandOverTimedOut follows
    (within `timeout` reference seconds)."""

    timeout: float


@dataclass(frozen=True)
class TakeWitness:
    """Ask the witness for the pair's key (the right to be active), and keep it; asked
    again while it is trying, it tries at once (the holder may just have released it)."""


@dataclass(frozen=True)
class PendSwitch:
    """Remember a start as active (`switch` False) or a switch (with `reason`) that waits
    for the witness key; it happens on WitnessAcquired."""

    reason: str
    switch: bool = True


@dataclass(frozen=True)
class RerunCommence:
    """Run the commence hooks again (re-announce the VIP after a partition healed)."""

    reason: str


Action = (
    Log
    | StartMonitors
    | StopMonitors
    | OpenLinks
    | CloseLinks
    | StartReconnectTimer
    | CancelReconnectTimer
    | ProbeNotifier
    | WatchOwnNetwork
    | QueryPeer
    | CheckPeer
    | TellPeerDiscontinue
    | BecomeActive
    | Resync
    | Discontinue
    | ScheduleSwitchAfterStartup
    | GoStale
    | AskPeerToHandOver
    | TakeWitness
    | PendSwitch
    | RerunCommence
)
