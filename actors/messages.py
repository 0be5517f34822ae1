"""Messages SwitchoverMain receives. Immutable, because Pykka does not copy messages."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Mapping


@dataclass(frozen=True)
class Begin:
    """Enter the Init state: ask the peer's virtual switch who is active."""


@dataclass(frozen=True)
class PeerAnswer:
    """The peer's virtual switch answered (or not: `reply` is None)."""

    reply: Mapping[str, Any] | None
    purpose: str  # "init" | "probe"


@dataclass(frozen=True)
class ConnectionChanged:
    channel: str
    up: bool


@dataclass(frozen=True)
class DiscontinueRequest:
    """The peer's virtual switch request: "you are no longer active"."""

    server: str
    generation: int
    letter: str


@dataclass(frozen=True)
class Tick:
    """A timer named by `name` fired (peer probe as active, Init retry)."""

    name: str


@dataclass(frozen=True)
class GetStatus:
    pass


@dataclass(frozen=True)
class Shutdown:
    pass


@dataclass(frozen=True)
class PostEvent:
    """A state-machine event from a monitor (or a timer) for SwitchoverMain to apply."""

    event: Any


@dataclass(frozen=True)
class RequestSwitch:
    """An operator's manual switch ("Manually start a switchover on the backup server")."""

    immediate: bool
    origin: str
    #: `switch --force`: become active without the witness key (actors/state_fence.py).
    force: bool = False


@dataclass(frozen=True)
class SetPause:
    """Pause or resume the pair (maintenance mode): from an operator (`version` None, a
    new version is taken) or from the peer, which passes its version on."""

    paused: bool
    origin: str
    version: int | None = None


@dataclass(frozen=True)
class Rejoin:
    """An operator's `switchover rejoin` on a stale server."""

    origin: str
