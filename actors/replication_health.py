"""The replication services' health as the switchover core needs it: the warnings this
server reports to its peer and to status (published for the virtual switch by
`WarningsPublisher`), and what a starting backup still waits for.
"""
from __future__ import annotations

import logging
import threading
from concurrent.futures import Executor
from typing import Sequence

from switchover.actors.shared import SharedState
from switchover.clock import Clock, TimerHandle
from switchover.replication.service import ReplicationService

log = logging.getLogger("SwitchoverMain")


def service_warnings(services: Sequence[ReplicationService]) -> list[str]:
    """The replication warnings this server reports to its peer and to status."""
    out: list[str] = []
    for service in services:
        try:
            out += service.warnings()
        except Exception:
            log.exception("SwitchoverMain: %s replication warnings failed", service.name)
    return out


def startup_progress(services: Sequence[ReplicationService],
                     taking: str | None = None) -> str | None:
    """What a starting backup still waits for: the services taking the role (`taking`,
    see service_roles.py), its first DS compare-and-update ("in sync") and its
    InitialMirrorDir copy; None when all are done."""
    if taking is not None:
        return f"replication services taking the role {taking}"
    waiting: list[str] = []
    for service in services:
        try:
            health = service.health()
        except Exception:
            log.exception("SwitchoverMain: %s health failed", service.name)
            continue
        state = str(health.get("state", ""))
        if service.name == "ds" and state != "in sync" and \
                not state.startswith(("lagging", "not running: ")):
            progress = health.get("progress") or {}
            waiting.append(f"DS {state or 'starting'}" + (
                f" ({progress.get('compared', 0)} compared, "
                f"{progress.get('fetched', 0)} fetched)" if progress else ""))
        elif service.name == "files" and state.startswith("initial mirror"):
            waiting.append(state)
    return ", ".join(waiting) or None


class WarningsPublisher:
    """Keeps the replication warnings in `SharedState` so that the virtual switch answers
    the peer's state query (every 2 reference seconds) from memory: its loop thread also
    serves hand-overs and must not wait on the DS store. The warnings are computed on the
    host's executor, never on the clock's thread, which fires every actor's timers."""

    #: Reference seconds between refreshes: the peer asks every 2, so an answer is at most
    #: one refresh older than the services' own view.
    PERIOD = 1.0

    def __init__(self, clock: Clock, executor: Executor, shared: SharedState,
                 services: Sequence[ReplicationService]) -> None:
        self._clock, self._executor = clock, executor
        self._shared, self._services = shared, services
        self._lock = threading.Lock()
        self._timer: TimerHandle | None = None
        self._stopped = False

    def start(self) -> None:
        self.refresh()

    def refresh(self) -> None:
        """Publish the warnings now and schedule the next refresh."""
        self._shared.update(warnings=service_warnings(self._services))
        with self._lock:
            if not self._stopped:
                self._timer = self._clock.call_later(self.PERIOD, self._due)

    def stop(self) -> None:
        with self._lock:
            self._stopped = True
            if self._timer is not None:
                self._timer.cancel()

    def _due(self) -> None:
        try:
            self._executor.submit(self.refresh)
        except RuntimeError:  # the executor is shutting down with the host
            pass
