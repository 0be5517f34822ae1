"""Role changes of the replication services, as a job beside SwitchoverMain.

SwitchoverMain decides a role and goes on at once; the services take it here, on a
thread of their own, one change after the other in the order decided. Taking a role can
take seconds (a file service stops its actors, DS re-reads its store), and SwitchoverMain
must stay free meanwhile: an operator's `status` asks it with a 5 s timeout, and the
next probe or switch request must not wait behind a file transfer. When a change is
done, `done` is called with the role and the seconds it took: the host logs it, and
status shows a change still under way (`ServiceRoles.taking`).
"""
from __future__ import annotations

import logging
import queue
import threading
import time
from typing import Any, Callable

log = logging.getLogger("SwitchoverMain")

_STOP = None
_RESYNC = object()  # a queued resync, in place of a role


class ServiceRoles:
    """A queue of role changes (and resyncs, which must follow the role they are for)
    and the thread that passes them on, in order."""

    def __init__(self, apply: Callable[[str, str | None], None], resync: Callable[[], None],
                 done: Callable[[str, float], None] = lambda role, seconds: None) -> None:
        self._apply, self._resync, self._done = apply, resync, done
        self._queue: queue.Queue[tuple[Any, str | None] | None] = queue.Queue()
        self._lock = threading.Lock()
        #: The role the services are taking (None when every change is done).
        self.taking: str | None = None
        self._pending = 0
        self._thread = threading.Thread(target=self._run, name="service-roles", daemon=True)
        self._thread.start()

    def change(self, role: str, upgrade: str | None) -> None:
        """Called by SwitchoverMain: returns at once."""
        with self._lock:
            self._pending += 1
            self.taking = role
        self._queue.put((role, upgrade))

    def resync(self) -> None:
        """The backup reconnected: the services compare again, after any role change
        told before (a resync reaching a service still in its old role is lost)."""
        self._queue.put((_RESYNC, None))

    def close(self, timeout: float) -> bool:
        """The host stops: let the changes queued (stopping, last) finish, at most
        `timeout` seconds; True when they did."""
        self._queue.put(_STOP)
        self._thread.join(timeout)
        return not self._thread.is_alive()

    def _run(self) -> None:
        while True:
            item = self._queue.get()
            if item is _STOP:
                return
            role, upgrade = item
            if role is _RESYNC:
                self._resync()
                continue
            started = time.monotonic()
            try:
                self._apply(role, upgrade)
            except Exception:
                log.exception("SwitchoverMain: the services failed to take the role %s", role)
            with self._lock:
                self._pending -= 1
                if not self._pending:
                    self.taking = None
            try:
                self._done(role, time.monotonic() - started)
            except Exception:
                log.exception("SwitchoverMain: reporting the role %s failed", role)
