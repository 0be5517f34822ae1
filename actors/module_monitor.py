"""The module monitor: pings the monitored module on the primary ("Module Monitor").

Three layers, so that the rules are tested without threads:

- :class:`ModuleMonitorCore` decides, purely: which channel the next ping goes on, what
  an outcome means (error count, PID restarts), what to log, what to post, and how long
  to wait before the next ping.
- :class:`ModuleMonitorDriver` does the I/O the core asks for: a request through
  :class:`~actors.links.Links`, a timer through the clock. It never blocks: completions
  come back as messages through ``deliver`` (an actor's ``tell`` in production, a
  :class:`~actors.links.Trampoline` in tests).
- :class:`ModuleMonitor` is the Pykka actor around the driver.

Rules as the reference gives them ("Ping"), with the reconciliation of the TS ping
failure sample:

- success (a response carrying a PID): error count reset, back to the normal channel,
  SYSTEM_OK posted, next ping after "Switchover TS Timeout" (the TS Timeout "also
  specifies the number of seconds ... after a TS success before it sends another ping").
- timeout, connection loss or an empty response (no PID): the error count goes up and the
  ping is retried after "Switchover TS Failure Retry Delay".
- rejected: the reference says the Ping method returns 0 for a rejection "since the state
  of the module cannot be determined" (so the next ping is at the *regular* interval),
  while its TS ping failure sample logs "Ping rejected ...: error count [1] is within
  maximum [2], ping will be reissued with regular timeout". Both hold here: a rejection
  counts as an error (the sample's count), and the next ping waits the regular TS Timeout
  (the return value 0). That gives the sample's 10-second spacing and its module-down
  30 seconds after the first rejected ping.
- reaching "Switchover Max TS Failures" on the normal channel resets the count and moves
  to the other channel; reaching it there reverts to the normal channel, posts
  MODULE_DOWN and stops pinging until restarted (the primary monitor takes over).
- "Switchover Ping on Aux Connection" makes aux the normal channel (main the alternate).
- a new PID while the last PID is non-zero is a restart; MODULE_DOWN (error count set to
  the maximum) when the restarts within "Switchover Max Restarts Period" reach
  "Switchover Max Restarts", or consecutive restarts reach "Switchover Max Sequential
  Restarts" (the reference: "The maximum ... restart count has been reached").
"""
from __future__ import annotations

import collections
import logging
from dataclasses import dataclass, replace
from typing import Any, Callable, Deque, Mapping, Protocol

import pykka

from actors.links import AUX, MAIN, Links
from switchover.clock import Clock, TimerHandle
from transport.outcome import CANCELLED, CONNECTION_LOST, OK, REJECTED, Outcome

log = logging.getLogger("ModuleMonitor")

SYSTEM_OK = "SYSTEM_OK"
MODULE_DOWN = "MODULE_DOWN"
PING_EID = "TS Diagnostic Ping"
CHANNEL_WORDS = {MAIN: "main", AUX: "auxiliary"}


# --- settings -----------------------------------------------------------------------


def param(params: Any, name: str, default: Any) -> Any:
    """`params[name]`, or `default` when the parameter is not set."""
    try:
        value = params[name]
    except (KeyError, LookupError):
        return default
    return default if value is None or value == "" else value


def flag(value: Any) -> bool:
    """A reference Yes/No parameter: "Yes", "1", 1, True are true."""
    if isinstance(value, str):
        return value.strip().lower() in ("yes", "1", "true", "on", "y")
    return bool(value)


@dataclass(frozen=True)
class MonitorSettings:
    """The module monitor's parameters, in reference seconds."""

    module: str = "TsServer"  # "Switchover Monitoring"
    timeout: float = 10.0  # "Switchover TS Timeout" (or "Switchover IP Timeout")
    retry_delay: float = 1.0  # "Switchover TS Failure Retry Delay" (or "... IP Retry Delay")
    max_failures: int = 2  # "Switchover Max TS Failures"
    ping_on_aux: bool = False  # "Switchover Ping on Aux Connection"
    max_restarts: int = 2  # "Switchover Max Restarts"
    max_restarts_period: float = 300.0  # "Switchover Max Restarts Period"
    max_sequential_restarts: int = 2  # "Switchover Max Sequential Restarts"
    eid: str = PING_EID

    @classmethod
    def from_params(cls, params: Mapping[str, Any] | Any) -> "MonitorSettings":
        """Read the parameters by the reference's names (``params["Switchover TS Timeout"]``)."""
        d = cls()
        module = str(param(params, "Switchover Monitoring", d.module))
        if module.strip().upper() == "IP":
            timeout = param(params, "Switchover IP Timeout", d.timeout)
            retry = param(params, "Switchover IP Retry Delay", d.retry_delay)
        else:
            timeout = param(params, "Switchover TS Timeout", d.timeout)
            retry = param(params, "Switchover TS Failure Retry Delay", d.retry_delay)
        return cls(
            module=module,
            timeout=float(timeout),
            retry_delay=float(retry),
            max_failures=max(1, int(param(params, "Switchover Max TS Failures", d.max_failures))),
            ping_on_aux=flag(param(params, "Switchover Ping on Aux Connection", False)),
            max_restarts=int(param(params, "Switchover Max Restarts", d.max_restarts)),
            max_restarts_period=float(
                param(params, "Switchover Max Restarts Period", d.max_restarts_period)
            ),
            max_sequential_restarts=int(
                param(params, "Switchover Max Sequential Restarts", d.max_sequential_restarts)
            ),
        )

    @property
    def normal_channel(self) -> str:
        return AUX if self.ping_on_aux else MAIN

    @property
    def alternate_channel(self) -> str:
        return MAIN if self.ping_on_aux else AUX

    @property
    def max_event_interval(self) -> float:
        """The longest gap between two events of a healthy monitor (for stall detection).

        From a success: one regular wait, then up to max_failures pings on each channel,
        each a full timeout plus a retry delay; plus one regular interval of slack.
        """
        per_ping = self.timeout + self.retry_delay
        return self.timeout + 2 * self.max_failures * per_ping + self.timeout


# --- what the monitor posts ---------------------------------------------------------


@dataclass(frozen=True)
class ModuleMonitorEvent:
    """SYSTEM_OK or MODULE_DOWN, posted to the primary monitor."""

    kind: str
    module: str
    channel: str
    pid: int = 0
    detail: str = ""


# --- the pure core ------------------------------------------------------------------


@dataclass(frozen=True)
class PingRequest:
    channel: str
    target: str
    eid: str
    timeout: float


@dataclass(frozen=True)
class Decision:
    """What to do after an outcome: log, post, and when to ping next (None: stop)."""

    next_delay: float | None
    event: ModuleMonitorEvent | None = None
    logs: tuple[tuple[str, str], ...] = ()  # (level, message)
    retry: bool = False  # the wait is a retry delay rather than the regular interval


def extract_pid(response: Any) -> int:
    """The module's process ID from a ping response; 0 when there is none.

    Accepts an envelope (``.body``), a mapping (``{"pid": ...}`` or ``{"body": {...}}``)
    or a bare number, so the core does not depend on the transport's types.
    """
    if response is None:
        return 0
    body = getattr(response, "body", response)
    if isinstance(body, Mapping):
        if "pid" in body:
            body = body["pid"]
        elif isinstance(body.get("body"), Mapping):
            body = body["body"].get("pid")
        else:
            return 0
    try:
        pid = int(body)
    except (TypeError, ValueError):
        return 0
    return pid if pid > 0 else 0


class ModuleMonitorCore:
    """The module monitor's decisions; no clock, no sockets, no threads."""

    def __init__(self, settings: MonitorSettings) -> None:
        self.settings = settings
        self.reset()

    def reset(self) -> None:
        self.error_count = 0
        self.channel = self.settings.normal_channel
        self.last_pid = 0
        self.sequential_restarts = 0
        self.restarts: Deque[float] = collections.deque()

    def update_settings(self, settings: MonitorSettings) -> None:
        was_on_normal = self.channel == self.settings.normal_channel
        self.settings = settings
        self.channel = settings.normal_channel if was_on_normal else settings.alternate_channel

    def ping(self) -> PingRequest:
        s = self.settings
        return PingRequest(self.channel, s.module, s.eid, s.timeout)

    def on_outcome(self, outcome: Outcome, now: float) -> Decision:
        if outcome.status == CANCELLED:
            return Decision(next_delay=None)
        if outcome.status == OK:
            pid = extract_pid(outcome.response)
            if pid:
                return self._success(pid, now)
            return self._failure("returned no process ID", retry=True)
        if outcome.status == REJECTED:
            return self._failure("rejected", retry=False)
        if outcome.status == CONNECTION_LOST:
            return self._failure("lost its connection", retry=True)
        return self._failure("timed out", retry=True)  # TIMEOUT and anything unknown

    # outcomes
    def _success(self, pid: int, now: float) -> Decision:
        s = self.settings
        logs: list[tuple[str, str]] = [("debug", f"Received ping from the {s.module} module")]
        if self.last_pid and pid != self.last_pid:
            self.restarts.append(now)
            while self.restarts and self.restarts[0] <= now - s.max_restarts_period:
                self.restarts.popleft()
            self.sequential_restarts += 1
            logs.append(
                (
                    "warning",
                    f"The {s.module} module has restarted: process ID [{self.last_pid}] is "
                    f"now [{pid}] ({len(self.restarts)} restart(s) within "
                    f"{s.max_restarts_period:g} second(s), {self.sequential_restarts} "
                    "sequential)",
                )
            )
            self.last_pid = pid
            too_many = None
            if self.sequential_restarts >= s.max_sequential_restarts:
                too_many = (
                    f"reached maximum sequential restart count [{s.max_sequential_restarts}]"
                )
            elif len(self.restarts) >= s.max_restarts:
                too_many = (
                    f"reached maximum restart count [{s.max_restarts}] within "
                    f"{s.max_restarts_period:g} second(s)"
                )
            if too_many:
                self.error_count = s.max_failures
                return self._down(
                    logs,
                    f"The {s.module} module is restarting too frequently: {too_many}, "
                    "signaling that the module is down",
                    too_many,
                    pid,
                )
        else:
            self.sequential_restarts = 0
            self.last_pid = pid
        self.error_count = 0
        channel, self.channel = self.channel, s.normal_channel
        event = ModuleMonitorEvent(SYSTEM_OK, s.module, channel, pid)
        return Decision(next_delay=s.timeout, event=event, logs=tuple(logs))

    def _failure(self, what: str, *, retry: bool) -> Decision:
        s = self.settings
        self.error_count += 1
        on = CHANNEL_WORDS[self.channel]
        reissue = (
            f"ping will be reissued in {s.retry_delay:g} second(s)"
            if retry
            else "ping will be reissued with regular timeout"
        )
        delay = s.retry_delay if retry else s.timeout
        if what == "rejected":
            subject = f"Ping rejected to the {s.module} module"
        else:
            subject = f"Ping to the {s.module} module {what} on the {on} connection"
        if self.error_count < s.max_failures:
            msg = (
                f"{subject}: error count [{self.error_count}] is within maximum "
                f"[{s.max_failures}], {reissue}"
            )
            return Decision(next_delay=delay, logs=(("warning", msg),), retry=retry)
        if self.channel == s.normal_channel:
            msg = (
                f"Reached maximum error count [{self.error_count}] pinging the {s.module} "
                f"module on the {on} connection, resetting error count and trying the "
                "alternate connection"
            )
            self.error_count = 0
            self.channel = s.alternate_channel
            return Decision(next_delay=delay, logs=(("warning", msg),), retry=retry)
        if what == "rejected":
            subject = f"Ping was rejected to the {s.module} module"
        else:
            subject = f"Ping to the {s.module} module {what}"
        detail = f"reached maximum error count [{self.error_count}]"
        return self._down([], f"{subject}: {detail}, signaling that the module is down", detail, 0)

    def _down(
        self, logs: list[tuple[str, str]], msg: str, detail: str, pid: int
    ) -> Decision:
        s = self.settings
        channel = self.channel
        self.error_count = 0
        self.channel = s.normal_channel
        self.sequential_restarts = 0
        self.restarts.clear()
        logs.append(("error", msg))
        event = ModuleMonitorEvent(MODULE_DOWN, s.module, channel, pid, detail)
        return Decision(next_delay=None, event=event, logs=tuple(logs))


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
            lambda f: self.deliver(_PingDone(generation, _result(f)))
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


def _result(future: Any) -> Outcome:
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


def with_changes(settings: MonitorSettings, **changes: Any) -> MonitorSettings:
    """A copy of `settings` with some fields changed (for dynamic parameters)."""
    return replace(settings, **changes)


__all__ = [
    "MODULE_DOWN",
    "SYSTEM_OK",
    "Decision",
    "ModuleMonitor",
    "ModuleMonitorControl",
    "ModuleMonitorCore",
    "ModuleMonitorDriver",
    "ModuleMonitorEvent",
    "MonitorSettings",
    "PingRequest",
    "StartMonitoring",
    "StopMonitoring",
    "TellControl",
    "UpdateSettings",
    "extract_pid",
]
