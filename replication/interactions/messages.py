"""What reaches the InteractionRecovery actor: its messages, the inboxes other threads
fill, and what the service gives it (`Deps`).

The Notifier's thread and the channels' threads only put work in `Inbox`es and tell the
actor to drain them, so a burst costs one message and one transaction, not one per
change.
"""
from __future__ import annotations

import collections
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Iterable, Mapping

from switchover.clock import Clock

from .status import Status
from .sync import SnapshotFetch, SnapshotSessions


class Inbox:
    """Work handed over by other threads; the actor is told once per burst."""

    def __init__(self) -> None:
        self._items: collections.deque[Any] = collections.deque()
        self._lock = threading.Lock()
        self._told = False
        self.tell: Callable[[Any], None] | None = None

    def put(self, item: Any, message: Any) -> None:
        self.put_many((item,), message)

    def put_many(self, items: Iterable[Any], message: Any) -> None:
        with self._lock:
            self._items.extend(items)
            if self._told or self.tell is None:
                return
            self._told = True
        self.tell(message)

    def take(self) -> list[Any]:
        with self._lock:
            items, self._items = list(self._items), collections.deque()
            self._told = False
        return items

    def __len__(self) -> int:
        return len(self._items)


@dataclass(frozen=True)
class DrainRequests:
    pass


@dataclass(frozen=True)
class DrainChanges:
    pass


@dataclass(frozen=True)
class Role:
    role: str


@dataclass(frozen=True)
class Resync:
    pass


@dataclass(frozen=True)
class Tick:
    pass


@dataclass(frozen=True)
class GapCheck:
    pass


@dataclass(frozen=True)
class SnapshotOpen:
    body: Mapping[str, Any]
    reply: Callable[..., None]


@dataclass(frozen=True)
class Acked:
    seqs: Mapping[str, int]


@dataclass(frozen=True)
class AckDone:
    pass


@dataclass(frozen=True)
class SyncOpened:
    fetch: SnapshotFetch


@dataclass(frozen=True)
class SyncFailed:
    fetch: SnapshotFetch
    reason: str


@dataclass
class Deps:
    path: Path
    clock: Clock
    params: Callable[[], Any]
    publish: Callable[[Mapping[str, Any], Any], None]
    peer_request: Callable[[str, Mapping[str, Any], float], Any]  # blocking -> Outcome
    peer_send: Callable[[str, Mapping[str, Any], Callable[[], None]], None]  # async
    status: Status
    sessions: SnapshotSessions
    requests: Inbox
    changes: Inbox
    sync_timeout: float  # reference seconds for one snapshot request
    ack_wait: float  # real seconds an acknowledgement waits for the backup
    tick: float = 1.0  # reference seconds between parameter polls
