"""What the state machine is told: the events of "State Machine Events and Handling".

Immutable, because Pykka does not copy messages. The monitors post the reference's events
(eTSDown, eNotifierDown, ePrimaryUnreachable, eNetworkDown); SwitchoverMain posts the
peer's answers, timers and operator requests, so that every decision about a role is
taken in `actors.statemachine.step` and nowhere else.
"""
from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class PeerView:
    """What the peer's virtual switch said about itself ("is your companion active?").

    Built by SwitchoverMain from a reply; `upgrade` is "higher" or "lower" when this
    server's release is newer or older than the peer's (Appendix C), None when equal.
    `pairing` is empty when the peer names the same SwitchoverServer A and B as we do,
    otherwise the sentence that tells the operator how the two configurations differ.
    """

    server: str
    state: str
    generation: int = 0
    letter: str = ""
    upgrade: str | None = None
    pairing: str = ""


@dataclass(frozen=True)
class PeerAnswered:
    """The peer's virtual switch answered a state query, or not (`peer` is None).

    `returned` is True for an answer after the previous query went unanswered, from a
    peer that had answered before: it was out of reach (a partition, or a restart) and
    answers again."""

    peer: PeerView | None
    name: str = ""  # the peer's configured name, for the reasons
    returned: bool = False


@dataclass(frozen=True)
class PeerQueryDue:
    """Time to ask the peer's virtual switch for its state again."""


@dataclass(frozen=True)
class DiscontinueRequested:
    """The peer's virtual switch request: "you are no longer active"."""

    peer: str
    generation: int
    letter: str


@dataclass(frozen=True)
class PeerCheckEnded:
    """The deadline of a CheckPeer passed: whether the peer answered since it was asked."""

    answered: bool
    within: float


@dataclass(frozen=True)
class Stop:
    """The host is shutting down (SIGTERM)."""


@dataclass(frozen=True)
class Fatal:
    """An error the host cannot carry on from ("The Error State")."""

    reason: str


@dataclass(frozen=True)
class NetworkDown:
    """The primary monitor found this server's own network down (gateway or NetTest)."""

    status: str = "GatewayUnreachable"


@dataclass(frozen=True)
class OwnNetworkChecked:
    """A cut-off backup checked its own network again (gateway / NetTest)."""

    ok: bool


@dataclass(frozen=True)
class ModuleDown:
    """The monitored module is down and network and connections are good (eTSDown)."""

    module: str = "TsServer"


@dataclass(frozen=True)
class NotifierDown:
    """The remote notifier does not answer while this server's network is good.

    A notifier that is down while this server's own network is down is NetworkDown:
    the primary monitor diagnoses the network first ("Handling Module Monitor
    Notifications"), so it never posts a NotifierDown for a server that is cut off.
    """

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
class ReconnectProbeDue:
    """Reconnecting: time to ping the primary's Notifier again."""


@dataclass(frozen=True)
class ReconnectProbed:
    """The primary's Notifier answered the reconnect probe (`ok`), or did not."""

    ok: bool


@dataclass(frozen=True)
class LinksRestored:
    """A channel to the primary is up again after both were down."""


@dataclass(frozen=True)
class ManualSwitch:
    """An operator asked for a switch (eInternalSwitchReq); `immediate` = /Immediate."""

    immediate: bool = False


@dataclass(frozen=True)
class HandOverRequested:
    """The backup asks this active to discontinue before it takes over (a manual switch)."""

    peer: str


@dataclass(frozen=True)
class HandedOver:
    """The old active has run its discontinue hooks: the new one may commence now."""

    peer: str


@dataclass(frozen=True)
class HandOverTimedOut:
    """The old active did not confirm its discontinue in time."""


@dataclass(frozen=True)
class PauseChanged:
    """The pair's pause (maintenance mode) was set or lifted, here or on the peer."""

    paused: bool


@dataclass(frozen=True)
class RejoinRequested:
    """An operator ran `switchover rejoin` on this stale server; `peer` is the peer's
    latest report (None when it does not answer)."""

    peer: PeerView | None
    name: str = ""


@dataclass(frozen=True)
class StartupComplete:
    """This backup finished starting up: its first DS compare-and-update and its
    InitialMirrorDir copy are done (or "Switchover Initial Mirror Timeout" ran out)."""

    detail: str = ""


# The witness's reports (docs/witness.md) are events of the state machine as they are.
from switchover.actors.witness_messages import (  # noqa: E402
    WitnessAcquired,
    WitnessHeldBy,
    WitnessLost,
    WitnessUnreachable,
)

Event = (
    PeerAnswered
    | PeerQueryDue
    | PeerCheckEnded
    | DiscontinueRequested
    | Stop
    | Fatal
    | NetworkDown
    | OwnNetworkChecked
    | ModuleDown
    | NotifierDown
    | PrimaryUnreachable
    | ReconnectExpired
    | ReconnectProbeDue
    | ReconnectProbed
    | LinksRestored
    | ManualSwitch
    | HandOverRequested
    | HandedOver
    | HandOverTimedOut
    | PauseChanged
    | RejoinRequested
    | StartupComplete
    | WitnessAcquired
    | WitnessHeldBy
    | WitnessUnreachable
    | WitnessLost
)
