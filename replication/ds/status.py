"""What the backup's replicator shows of itself: read by `DSService.health` from any
thread, without asking the actor, so status answers while a resync holds the worker."""
from __future__ import annotations

import threading
from dataclasses import dataclass, field
from typing import Any

from .remote import RemoteTree


@dataclass
class ReplicatorStatus:
    """What `health()` reads from any thread without asking the actor."""

    following: bool = False
    syncing: bool = False
    applied: int = 0
    active_seq: int = 0
    error: str = ""
    last_sync: str = ""
    resyncs: int = 0
    remote: RemoteTree | None = None
    bytes_total: int = 0
    #: Milliseconds of each phase of the last copy of the active's store (`fullsync.py`).
    copy_phases: dict[str, float] = field(default_factory=dict)
    lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def snapshot(self) -> dict[str, Any]:
        with self.lock:
            out = {k: v for k, v in vars(self).items() if k not in ("lock", "remote")}
            remote = self.remote
        if remote is not None:
            out.update(compared=remote.compared, fetched=remote.fetched,
                       bytes=out["bytes_total"] + remote.bytes)
        return out

    def set(self, **values: Any) -> None:
        with self.lock:
            for k, v in values.items():
                setattr(self, k, v)
