"""What an operator reads about file replication: progress, health checks, warnings.

`Progress` is written by the mirror actor and read by `status` from another thread, so
it is a small lock-protected record, never an actor `ask` (status must answer even while
a large transfer keeps the mirror busy). `HealthCheck` is the reference's "File Monitor
health check": every "Switchover File Monitor Health Check Interval" seconds (0 = off)
the backup asks the active's File Monitor, allowing "... Health Check Timeout" seconds;
a failure is written to the event log and shown by status and the switch confirmation.
"""
from __future__ import annotations

import concurrent.futures
import logging
import threading
from dataclasses import dataclass
from typing import Any, Callable, Mapping

import pykka

from switchover.replication.files import protocol as proto
from switchover.replication.files.settings import HEALTH_INTERVAL, HEALTH_TIMEOUT, param_seconds
from switchover.replication.service import PeerRequests
from switchover.clock import Clock, TimerHandle
from switchover.logs import EventLog
from switchover.transport.channel import preferred
from switchover.transport.outcome import Outcome

log = logging.getLogger("FileMonitor")

#: The reference's "File replication warnings": "For a successful switchover to occur,
#: file replication must be current and running. If it isn't, data loss could occur."
NOT_CURRENT = ("File replication is not current: {why}. If you switch now the latest "
               "files may be missing on {server} and data could be lost.")
NOT_RUNNING = ("File replication is not running: {why}. If you switch now the latest "
               "files may be missing on {server} and data could be lost.")


def describe_progress(files_done: int, files_total: int, bytes_done: int, bytes_total: int,
                      real_elapsed: float, ref_elapsed: float) -> str:
    """"initial mirror: N files, B bytes, R MB/s, T s left" (T in reference seconds)."""
    rate = bytes_done / real_elapsed if real_elapsed > 0 else 0.0
    left_bytes = max(0, bytes_total - bytes_done)
    if bytes_done and ref_elapsed > 0:
        left = f"{left_bytes / (bytes_done / ref_elapsed):.0f} s left"
    else:
        left = "time left unknown"
    return (f"initial mirror: {files_done}/{files_total} files, "
            f"{bytes_done / 1e6:.1f}/{bytes_total / 1e6:.1f} MB, {rate / 1e6:.1f} MB/s, {left}")


class Progress:
    """The mirror's state for status: phase, counters, the start-up copy's progress."""

    def __init__(self, clock: Clock) -> None:
        self._clock = clock
        self._lock = threading.Lock()
        self.state = "not running: not started"
        self.counters: dict[str, int] = {"files_copied": 0, "bytes_copied": 0,
                                         "deleted": 0, "renamed": 0, "failed": 0,
                                         "notices": 0, "resyncs": 0, "publishes": 0}
        self._initial: list[float] | None = None  # files, total, bytes, total, t0
        self.problem: tuple[str, str] | None = None  # ("not current"|"not running", why)

    def set_state(self, state: str) -> None:
        with self._lock:
            self.state = state
            if state != "initial mirror":
                self._initial = None

    def begin_initial(self, files_total: int, bytes_total: int) -> None:
        with self._lock:
            self.state = "initial mirror"
            self._initial = [0, files_total, 0, bytes_total, self._clock.now()]

    def add_total(self, files: int, nbytes: int) -> None:
        with self._lock:
            if self._initial is not None:
                self._initial[1] += files
                self._initial[3] += nbytes

    def file_done(self, size: int) -> None:
        with self._lock:
            self.counters["files_copied"] += 1
            self.counters["bytes_copied"] += size
            if self._initial is not None:
                self._initial[0] += 1
                self._initial[2] += size

    def count(self, name: str, n: int = 1) -> None:
        with self._lock:
            self.counters[name] = self.counters.get(name, 0) + n

    def fail(self, kind: str, why: str) -> None:
        with self._lock:
            self.problem = (kind, why)

    def clear(self, kind: str | None = None) -> None:
        with self._lock:
            if self.problem is not None and (kind is None or self.problem[0] == kind):
                self.problem = None

    def snapshot(self) -> dict[str, Any]:
        with self._lock:
            state = self.state
            if self._initial is not None:
                files, files_total, done, total, t0 = self._initial
                ref = self._clock.now() - t0
                state = describe_progress(int(files), int(files_total), int(done),
                                          int(total), self._clock.real_seconds(ref), ref)
            if self.problem is not None:
                state = f"{self.problem[0]}: {self.problem[1]}"
            return {"state": state, **self.counters}


@dataclass(frozen=True)
class _Tick:
    pass


@dataclass(frozen=True)
class _Result:
    outcome: Outcome | None
    error: str = ""


class HealthCheck(pykka.ThreadingActor):
    """Asks the active's File Monitor whether it is alive, on the reference's schedule."""

    def __init__(self, *, links: PeerRequests, clock: Clock, events: EventLog,
                 params: Callable[[], Mapping[str, object]], peer: str,
                 report: Callable[[str | None], None]) -> None:
        super().__init__()
        self.links, self.clock, self.events = links, clock, events
        self.params, self.peer, self.report = params, peer, report
        self._timer: TimerHandle | None = None
        self.failing = False

    def on_start(self) -> None:
        self._schedule(min(1.0, self._interval() or 1.0))

    def on_stop(self) -> None:
        if self._timer is not None:
            self._timer.cancel()

    def _interval(self) -> float:
        return param_seconds(self.params(), HEALTH_INTERVAL, 60.0)

    def _schedule(self, delay: float) -> None:
        ref = self.actor_ref
        self._timer = self.clock.call_later(delay, lambda: ref.is_alive() and ref.tell(_Tick()))

    def on_receive(self, message: Any) -> None:
        if isinstance(message, _Tick):
            interval = self._interval()
            if interval <= 0:  # turned off: look again later in case it is turned on
                if self.failing:
                    self.failing = False
                    self.report(None)
                self._schedule(1.0)
                return
            timeout = param_seconds(self.params(), HEALTH_TIMEOUT, 10.0)
            channel = preferred(self.links.connected)[0]
            future = self.links.request(channel, proto.SERVICE, proto.HEALTH, timeout=timeout)
            ref = self.actor_ref

            def done(f: concurrent.futures.Future[Outcome]) -> None:
                try:
                    result = _Result(f.result())
                except Exception as exc:  # cancelled at shutdown
                    result = _Result(None, str(exc) or type(exc).__name__)
                if ref.is_alive():
                    ref.tell(result)

            future.add_done_callback(done)
        elif isinstance(message, _Result):
            self._on_result(message)
            self._schedule(max(self._interval(), 0.0) or 1.0)

    def _on_result(self, result: _Result) -> None:
        outcome = result.outcome
        if outcome is not None and outcome.ok:
            if self.failing:
                self.failing = False
                self.events.record("info", f"File Monitor on {self.peer} answers the health "
                                   "check again; file replication is current")
                self.report(None)
            return
        if outcome is None:
            why = result.error
        elif outcome.status == "timeout":
            why = "no answer within Switchover File Monitor Health Check Timeout"
        elif outcome.status == "rejected":
            reason = outcome.response.body.get("reason", "") if outcome.response else ""
            why = f"refused: {reason or outcome.detail}"
        else:
            why = f"{outcome.status} {outcome.detail}".strip()
        text = f"File Monitor on {self.peer} failed its health check ({why})"
        if not self.failing:
            self.failing = True
            self.events.record("error", text)
        else:
            log.warning("%s", text)
        self.report(text)
