"""Injected time.

Every duration in the reference ("Switchover TS Timeout" = 10 s, "Switchover Reconnect
Timeout" = 30 s) is written in *reference seconds*. Components ask the clock for the time
and for timers in those units; the clock alone knows how long a reference second really
is. `RealClock(time_scale=0.01)` runs the reference's timings a hundred times faster, so
integration tests keep the reference's defaults and ranges; `FakeClock` lets unit tests
step time by hand with no threads and no sleeping.
"""
from __future__ import annotations

import heapq
import itertools
import threading
import time
from typing import Callable, Protocol


class TimerHandle(Protocol):
    def cancel(self) -> None: ...


class Clock(Protocol):
    """What components need of time: a monotonic reading and one-shot timers."""

    def now(self) -> float:
        """Monotonic time in reference seconds."""

    def call_later(self, delay: float, callback: Callable[[], None]) -> TimerHandle:
        """Run `callback` once after `delay` reference seconds (on a timer thread)."""

    def real_seconds(self, delay: float) -> float:
        """How many wall seconds `delay` reference seconds last (for socket timeouts)."""


class RealClock:
    """Monotonic time divided by `time_scale`; timers on a single scheduler thread."""

    def __init__(self, time_scale: float = 1.0) -> None:
        if time_scale <= 0:
            raise ValueError(f"time_scale must be > 0, got {time_scale}")
        self.time_scale = time_scale
        self._heap: list[tuple[float, int, _RealTimer]] = []
        self._seq = itertools.count()
        self._cond = threading.Condition()
        self._stopped = False
        self._thread = threading.Thread(target=self._run, name="clock", daemon=True)
        self._thread.start()

    def now(self) -> float:
        return time.monotonic() / self.time_scale

    def real_seconds(self, delay: float) -> float:
        return max(0.0, delay) * self.time_scale

    def call_later(self, delay: float, callback: Callable[[], None]) -> TimerHandle:
        timer = _RealTimer(callback)
        due = time.monotonic() + self.real_seconds(delay)
        with self._cond:
            heapq.heappush(self._heap, (due, next(self._seq), timer))
            self._cond.notify()
        return timer

    def stop(self) -> None:
        with self._cond:
            self._stopped = True
            self._cond.notify()
        self._thread.join(timeout=2)

    def _run(self) -> None:
        while True:
            with self._cond:
                while not self._stopped:
                    if not self._heap:
                        self._cond.wait()
                        continue
                    wait = self._heap[0][0] - time.monotonic()
                    if wait <= 0:
                        break
                    self._cond.wait(wait)
                if self._stopped:
                    return
                _, _, timer = heapq.heappop(self._heap)
            timer.fire()


class _RealTimer:
    def __init__(self, callback: Callable[[], None]) -> None:
        self._callback: Callable[[], None] | None = callback

    def cancel(self) -> None:
        self._callback = None

    def fire(self) -> None:
        callback, self._callback = self._callback, None
        if callback is not None:
            try:
                callback()
            except Exception:  # a timer must never kill the scheduler thread
                import logging

                logging.getLogger("Clock").exception("timer callback failed")


class FakeClock:
    """A clock that moves only when a test calls `advance`; timers run on the caller."""

    def __init__(self, start: float = 0.0) -> None:
        self._now = start
        self._heap: list[tuple[float, int, _RealTimer]] = []
        self._seq = itertools.count()

    def now(self) -> float:
        return self._now

    def real_seconds(self, delay: float) -> float:
        return max(0.0, delay)

    def call_later(self, delay: float, callback: Callable[[], None]) -> TimerHandle:
        timer = _RealTimer(callback)
        heapq.heappush(self._heap, (self._now + max(0.0, delay), next(self._seq), timer))
        return timer

    def advance(self, seconds: float) -> None:
        """Move time forward, firing every timer that falls due, in order."""
        end = self._now + seconds
        while self._heap and self._heap[0][0] <= end:
            due, _, timer = heapq.heappop(self._heap)
            self._now = max(self._now, due)
            timer.fire()
        self._now = end

    def pending(self) -> int:
        return sum(1 for _, _, t in self._heap if t._callback is not None)
