"""The module monitor: pings the monitored module on the primary ("Module Monitor").

The monitor pings "TsServer" (eid "TS Diagnostic Ping") on the main connection, then aux,
and posts SYSTEM_OK or MODULE_DOWN to the primary monitor. Three layers, so that the
rules are tested without threads:

- :class:`~actors.module_core.ModuleMonitorCore` decides, purely (the rules are in
  :mod:`actors.module_core`; the parameters in :mod:`actors.module_settings`).
- :class:`ModuleMonitorDriver`, here, does the I/O the core asks for: a request through
  :class:`~actors.links.Links`, a timer through the clock. It never blocks: completions
  come back as messages through ``deliver`` (an actor's ``tell`` in production, a
  ``Trampoline`` from ``tests/unit/doubles.py`` in tests).
- :class:`ModuleMonitor`, here, is the Pykka actor around the driver.

Also here: the messages both monitors take (StartMonitoring, StopMonitoring,
UpdateSettings) and :class:`ModuleMonitorControl`, how the primary monitor, which owns
the module monitor, starts and stops it.
"""
from __future__ import annotations

import logging
from concurrent.futures import Future
from dataclasses import dataclass
from typing import Any, Callable, Protocol

import pykka

from switchover.actors.links import Links
from switchover.actors.module_core import CHANNEL_WORDS, MODULE_DOWN, ModuleMonitorCore, PingRequest
from switchover.actors.module_settings import MonitorSettings
from switchover.clock import Clock, TimerHandle
from switchover.transport.outcome import CONNECTION_LOST, Outcome

log = logging.getLogger("ModuleMonitor")


# --- messages -----------------------------------------------------------------------


@dataclass(frozen=True)
class StartMonitoring:
    """(Re)start pinging from a clean slate; the first ping after the regular interval."""


@dataclass(frozen=True)
class StopMonitoring:
    pass


@dataclass(frozen=True)
class UpdateSettings:
    """Dynamic parameters changed ("Dynamic monitoring of system parameters")."""

    settings: MonitorSettings


@dataclass(frozen=True)
class _PingDue:
    generation: int


@dataclass(frozen=True)
class _PingDone:
    generation: int
    outcome: Outcome


class ModuleMonitorControl(Protocol):
    """How the primary monitor stops and restarts the module monitor."""

    def start(self) -> None: ...

    def stop(self) -> None: ...


@dataclass(frozen=True)
class TellControl:
    """A ModuleMonitorControl that sends Start/StopMonitoring through `tell`."""

    tell: Callable[[object], None]

    def start(self) -> None:
        self.tell(StartMonitoring())

    def stop(self) -> None:
        self.tell(StopMonitoring())


# --- the driver ---------------------------------------------------------------------


@dataclass
class _Wait:
    timer: TimerHandle
    since: float
    retry: bool


class ModuleMonitorDriver:
    """Carries out the core's decisions with a clock and links; never blocks.

    `post` receives ModuleMonitorEvents; `deliver` brings timer and request completions
    back in as messages, handled one at a time by :meth:`handle`.
    """

    def __init__(
        self,
        clock: Clock,
        links: Links,
        settings: MonitorSettings,
        post: Callable[[object], None],
        deliver: Callable[[object], None],
    ) -> None:
        self.clock = clock
        self.links = links
        self.core = ModuleMonitorCore(settings)
        self.post = post
        self.deliver = deliver
        self.running = False
        self._generation = 0
        self._wait: _Wait | None = None
        self._in_flight: PingRequest | None = None

    @property
    def settings(self) -> MonitorSettings:
        return self.core.settings

    def handle(self, message: object) -> None:
        if isinstance(message, _PingDue):
            if message.generation == self._generation and self.running:
                self._wait = None
                self._send()
        elif isinstance(message, _PingDone):
            if message.generation == self._generation and self.running:
                self._in_flight = None
                self._decide(message.outcome)
        elif isinstance(message, StartMonitoring):
            self.start()
        elif isinstance(message, StopMonitoring):
            self.stop()
        elif isinstance(message, UpdateSettings):
            self.update_settings(message.settings)
        else:
            log.warning("ignoring unknown message %r", message)

    def start(self) -> None:
        self.stop(quiet=True)
        self.core.reset()
        self.running = True
        log.info(
            "Monitoring the %s module every %g second(s) on the %s connection",
            self.settings.module,
            self.settings.timeout,
            CHANNEL_WORDS[self.settings.normal_channel],
        )
        self._schedule(self.settings.timeout, retry=False)

    def stop(self, quiet: bool = False) -> None:
        if self.running and not quiet:
            log.info("Stopped monitoring the %s module", self.settings.module)
        self.running = False
        self._generation += 1
        self._in_flight = None
        if self._wait is not None:
            self._wait.timer.cancel()
            self._wait = None

    def update_settings(self, settings: MonitorSettings) -> None:
        """Apply changed TS Timeout / Retry Delay / Max TS Failures at once.

        A ping already in flight keeps the timeout it was sent with; a pending wait is
        re-timed from when it started with the new interval.
        """
        self.core.update_settings(settings)
        log.info(
            "Parameters changed: timeout=%g retry delay=%g max failures=%d",
            settings.timeout, settings.retry_delay, settings.max_failures,
        )
        wait = self._wait
        if wait is not None and self.running:
            wait.timer.cancel()
            delay = settings.retry_delay if wait.retry else settings.timeout
            remaining = max(0.0, wait.since + delay - self.clock.now())
            self._wait = None
            self._schedule(remaining, retry=wait.retry, since=wait.since)

    def snapshot(self) -> dict[str, Any]:
        c = self.core
        return {
            "running": self.running,
            "module": self.settings.module,
            "channel": c.channel,
            "error_count": c.error_count,
            "last_pid": c.last_pid,
            "in_flight": self._in_flight is not None,
        }

    # internals
    def _schedule(self, delay: float, *, retry: bool, since: float | None = None) -> None:
        generation = self._generation
        timer = self.clock.call_later(delay, lambda: self.deliver(_PingDue(generation)))
        self._wait = _Wait(timer, self.clock.now() if since is None else since, retry)

    def _send(self) -> None:
        req = self.core.ping()
        self._in_flight = req
        generation = self._generation
        log.debug("Pinging the %s module on the %s connection", req.target, req.channel)
        try:
            future = self.links.request(req.channel, req.target, req.eid, timeout=req.timeout)
        except Exception as exc:  # a broken link is a lost connection, not a crash
            self.deliver(_PingDone(generation, Outcome(CONNECTION_LOST, detail=str(exc))))
            return
        future.add_done_callback(
            lambda f: self.deliver(_PingDone(generation, request_outcome(f)))
        )

    def _decide(self, outcome: Outcome) -> None:
        decision = self.core.on_outcome(outcome, self.clock.now())
        for level, message in decision.logs:
            getattr(log, level)(message)
        if decision.event is not None:
            self.post(decision.event)
        if decision.next_delay is None:
            if decision.event is not None and decision.event.kind == MODULE_DOWN:
                self.running = False  # stopped until the primary monitor restarts it
                self._generation += 1
            return
        self._schedule(decision.next_delay, retry=decision.retry)


def request_outcome(future: Future[Outcome]) -> Outcome:
    """The outcome of a finished request through Links; a failed future is a lost connection."""
    try:
        return future.result()
    except Exception as exc:
        return Outcome(CONNECTION_LOST, detail=f"request failed: {exc}")


# --- the actor ----------------------------------------------------------------------


class ModuleMonitor(pykka.ThreadingActor):
    """The module monitor as a Pykka actor; pings start when the actor starts.

    Messages (``tell``): StartMonitoring, StopMonitoring, UpdateSettings. Proxy calls:
    ``update_settings(settings)``, ``snapshot()``.
    """

    def __init__(
        self,
        clock: Clock,
        links: Links,
        settings: MonitorSettings,
        post: Callable[[object], None],
        *,
        autostart: bool = True,
    ) -> None:
        super().__init__()
        self._autostart = autostart
        self._driver = ModuleMonitorDriver(clock, links, settings, post, self._tell_self)

    def _tell_self(self, message: object) -> None:
        try:
            self.actor_ref.tell(message)
        except pykka.ActorDeadError:
            pass  # a late timer or reply after stop

    def on_start(self) -> None:
        if self._autostart:
            self._driver.start()

    def on_stop(self) -> None:
        self._driver.stop()

    def on_receive(self, message: Any) -> Any:
        try:
            self._driver.handle(message)
        except Exception:  # bad input must not kill the monitor
            log.exception("failed to handle %r", message)

    def update_settings(self, settings: MonitorSettings) -> None:
        self._driver.update_settings(settings)

    def snapshot(self) -> dict[str, Any]:
        return self._driver.snapshot()
