"""The module monitor's decisions, pure: no clock, no sockets, no threads ("Module Monitor").

:class:`ModuleMonitorCore` decides which channel the next ping goes on, what an outcome
means (error count, PID restarts), what to log, what to post (a
:class:`ModuleMonitorEvent`) and how long to wait before the next ping. Its own module so
that the rules are table-tested without the driver or the actor
(:mod:`actors.module_monitor`).

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
from dataclasses import dataclass
from typing import Any, Deque, Mapping

from switchover.actors.links import AUX, MAIN
from switchover.actors.module_settings import MonitorSettings
from switchover.transport.outcome import CANCELLED, CONNECTION_LOST, OK, REJECTED, Outcome

SYSTEM_OK = "SYSTEM_OK"
MODULE_DOWN = "MODULE_DOWN"
CHANNEL_WORDS = {MAIN: "main", AUX: "auxiliary"}


# --- what the monitor posts ---------------------------------------------------------


@dataclass(frozen=True)
class ModuleMonitorEvent:
    """SYSTEM_OK or MODULE_DOWN, posted to the primary monitor."""

    kind: str
    module: str
    channel: str
    pid: int = 0
    detail: str = ""
    #: Told by the active's Notifier (the fast path), not found by this monitor's pings.
    reported: bool = False
    #: The active saw the module's process end (docs/switching.md, "the fast path").
    exited: bool = False


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
