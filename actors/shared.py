"""A lock-protected snapshot of SwitchoverMain's state for the socket loops.

The virtual switch answers "what is your state?" on its own I/O thread and must not wait
on an actor (a busy actor would make the peer think this host is down and start active).
SwitchoverMain publishes into this object after every step; the loops only read it.
"""
from __future__ import annotations

import threading
from typing import Any


class SharedState:
    def __init__(self, **initial: Any) -> None:
        self._lock = threading.Lock()
        self._data: dict[str, Any] = dict(initial)

    def update(self, **values: Any) -> None:
        with self._lock:
            self._data.update(values)

    def snapshot(self) -> dict[str, Any]:
        with self._lock:
            return dict(self._data)
