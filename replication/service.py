"""The contract between the host and a replication service (DS, files, interactions).

Each service owns one kind of mirrored data and its Pykka actors. The host starts the
services after its sockets and SwitchoverMain, tells them every role change, forwards
them the active's events, asks them for health, warnings and operator commands, and
stops them first at shutdown. A service never imports actors/: everything it needs of
the host comes through `ServiceContext`.
"""
from __future__ import annotations

import concurrent.futures
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Iterable, Mapping, Protocol, Sequence

from switchover.clock import Clock
from switchover.config import Config
from switchover.logs import EventLog
from switchover.params import ServerParameters
from switchover.transport.envelope import Envelope
from switchover.transport.outcome import Outcome

#: Roles a service is told about. "backup" includes the upgrade states (see `upgrade`).
ACTIVE, BACKUP, STALE, STOPPING = "active", "backup", "stale", "stopping"

AdminCommand = tuple[str, Callable[[Mapping[str, Any]], Any]]  # (right needed, run)


class ServiceCommandError(Exception):
    """An admin command's clear refusal (e.g. 409: a write on the backup), not a crash."""

    def __init__(self, errno: int, reason: str) -> None:
        super().__init__(reason)
        self.errno = errno


class PeerRequests(Protocol):
    """The backup's two channels to the active's Notifier (timeouts in reference seconds)."""

    def request(self, channel: str, target: str, eid: str, *, timeout: float,
                body: Mapping[str, Any] | None = None,
                bulk: Sequence[bytes] = ()) -> concurrent.futures.Future[Outcome]: ...

    def connected(self, channel: str) -> bool: ...

    def wait_connected(self, timeout: float,
                       cancel: threading.Event | Iterable[threading.Event] | None = None
                       ) -> bool:
        """Block (a worker thread, never an actor) until "main" or "aux" is connected:
        True once one is, False after `timeout` or soon after `cancel` (one event, or
        several: any of them) is set."""
        ...


class LocalNotifier(Protocol):
    """This host's Notifier: serve requests from the peer, publish events to it."""

    def register_service(self, name: str, handler: Callable[..., None]) -> None: ...

    def publish(self, env: Envelope, bulk: Sequence[bytes] = ()) -> None: ...


@dataclass
class ServiceContext:
    config: Config
    clock: Clock
    events: EventLog
    notifier: LocalNotifier
    links: PeerRequests
    executor: concurrent.futures.Executor
    #: The parameters in force now (from DS once DS holds them, else from the config).
    params: Callable[[], ServerParameters]
    #: A service that owns the parameters (DS) reports changes here; the host passes them
    #: on to the monitors (dynamic monitoring of system parameters).
    set_params: Callable[[ServerParameters], None]
    #: A failure this host cannot serve through (e.g. the initial mirror ran past
    #: "Switchover Initial Mirror Timeout": "it does not start"): the host goes to the
    #: Error state, which status shows with the reason.
    fail: Callable[[str], None] = lambda reason: None

    @property
    def data_dir(self) -> Path:
        return self.config.data_dir

    @property
    def root(self) -> Path:
        return self.config.root


class ReplicationService(Protocol):
    name: str

    def start(self) -> None:
        """Open stores and register Notifier services; the role is not known yet."""

    def on_role(self, role: str, upgrade: str | None) -> None:
        """This host became `role` (ACTIVE, BACKUP, STALE, STOPPING); `upgrade` is None,
        "higher" or "lower" in a backup's upgrade state (Appendix C)."""

    def resync(self) -> None:
        """The backup reconnected to the active: compare and update again."""

    def events(self) -> Sequence[str]:
        """The eids of the active's events this service handles. The backup's links
        deliver each such event once to `on_peer_event`, although it comes on main and
        on aux."""

    def on_peer_event(self, env: Envelope, bulk: tuple[bytes, ...]) -> None:
        """An event of `events()` (on a channel's loop thread: hand it on, never block)."""

    def health(self) -> Mapping[str, Any]:
        """For `status`: at least {"state": "..."} in words an operator reads."""

    def warnings(self) -> list[str]:
        """Warnings for `status` and the manual switch confirmation."""

    def commands(self) -> Mapping[str, AdminCommand]:
        """Admin commands this service adds (name -> (right, run))."""

    def stop(self) -> None:
        """Stop actors and close stores."""
