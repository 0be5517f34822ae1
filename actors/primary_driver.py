"""The primary monitor's driver: the I/O behind its decisions ("Primary Monitor").

:class:`PrimaryMonitorDriver` carries out what :class:`~actors.primary_core.PrimaryMonitorCore`
decides, never blocking: pings of the primary's Notifier (target "Notifier", eid "Ping")
and of the monitored module through Links, scheduled on the clock, and the network
diagnosis (stepped by :mod:`actors.primary_diagnosis`); completions come back as
messages (:mod:`actors.primary_messages`) for :meth:`PrimaryMonitorDriver.handle`. It
also starts and stops the module monitor. Its own module so that the Pykka actor
(:mod:`actors.primary_monitor`) stays a thin shell and the driver runs in tests on a
FakeClock with a Trampoline.

Choices where the reference is silent:

- Notifier pings go on the main connection, or on aux when main is down ("The
  auxiliary is used when there are issues with the main connection").
- After "module monitor indicated ... not responding", the primary monitor pings the
  module itself up to "Switchover Max TS Failures" times, back to back, each with the
  TS Timeout, on main (aux if main is down): the sample's "Sending up to 2 ping(s)",
  and the reference note's "twice again on the Main connection".
- The primary monitor owns the module monitor's lifecycle: starting it starts the
  module monitor, stopping it stops the module monitor.
- A stalled module monitor (no event for longer than ``max_event_interval``) is
  reported by :meth:`PrimaryMonitorDriver.poll` and restarted.
"""
from __future__ import annotations

import logging
from concurrent.futures import Executor
from dataclasses import replace
from typing import Any, Callable

from switchover.actors.links import AUX, MAIN, Links
from switchover.actors.module_core import CHANNEL_WORDS, ModuleMonitorEvent, extract_pid
from switchover.actors.module_monitor import (
    ModuleMonitorControl,
    StartMonitoring,
    StopMonitoring,
    UpdateSettings,
    request_outcome,
)
from switchover.actors.module_settings import MonitorSettings
from switchover.actors.network import Diagnosis, Prober
from switchover.actors.primary_core import (
    DIAGNOSING,
    PINGING,
    STOPPED,
    SUSPENDED,
    TRIGGER_MODULE,
    TRIGGER_NOTIFIER,
    Health,
    PrimaryMonitorCore,
    connection_words,
)
from switchover.actors.primary_diagnosis import DiagnosisSteps
from switchover.actors.primary_messages import (
    ConnectionDropped,
    ModulePingDone,
    ModuleRetryDue,
    PingDone,
    PingDue,
    Poll,
    ProbeDone,
    WaitDone,
)
from switchover.actors.primary_settings import PrimaryMonitorSettings
from switchover.actors.statemachine import ModuleDown
from switchover.clock import Clock, TimerHandle
from switchover.transport.outcome import CANCELLED, CONNECTION_LOST, REJECTED, Outcome

log = logging.getLogger("PrimaryMonitor")

NOTIFIER_TARGET = "Notifier"
NOTIFIER_EID = "Ping"


class PrimaryMonitorDriver:
    """Carries out the core's decisions; never blocks (see module doc).

    `post` receives the state-machine event; `module_control` starts and stops the
    module monitor; `deliver` brings completions back in as messages for
    :meth:`handle`; ICMP echoes run on `executor`.
    """

    def __init__(
        self,
        clock: Clock,
        links: Links,
        prober: Prober,
        settings: PrimaryMonitorSettings,
        post: Callable[[object], None],
        module_control: ModuleMonitorControl,
        deliver: Callable[[object], None],
        executor: Executor | None = None,
    ) -> None:
        self.clock = clock
        self.links = links
        self.core = PrimaryMonitorCore(settings)
        self.post = post
        self.module_control = module_control
        self.deliver = deliver
        self._generation = 0
        self._steps = DiagnosisSteps(prober, deliver,
                                     wait=lambda seconds: self._schedule(WaitDone, seconds),
                                     generation=lambda: self._generation, executor=executor)
        self._timer: TimerHandle | None = None
        self._poll_timer: TimerHandle | None = None
        # the diagnosis in progress
        self._trigger = TRIGGER_NOTIFIER
        self._main_up = self._aux_up = False
        self._module_channel = MAIN
        self._module_pings = 0
        self._reported = False
        self._exited = False

    @property
    def settings(self) -> PrimaryMonitorSettings:
        return self.core.settings

    @property
    def mode(self) -> str:
        return self.core.mode

    # --- messages
    def handle(self, message: object) -> None:
        gen = getattr(message, "generation", None)
        if gen is not None and gen != self._generation:
            return  # stale: from before a stop, restart or phase change
        if isinstance(message, PingDue):
            self._timer = None
            self._send_ping()
        elif isinstance(message, PingDone):
            self._on_ping_done(message.outcome)
        elif isinstance(message, ModuleMonitorEvent):
            self._on_module_event(message)
        elif isinstance(message, ModulePingDone):
            self._on_module_ping_done(message.outcome)
        elif isinstance(message, ModuleRetryDue):
            self._timer = None
            self._ping_module()
        elif isinstance(message, ProbeDone):
            self._continue_diagnosis(message.reached)
        elif isinstance(message, WaitDone):
            self._timer = None
            self._continue_diagnosis(None)
        elif isinstance(message, StartMonitoring):
            self.start()
        elif isinstance(message, StopMonitoring):
            self.stop()
        elif isinstance(message, UpdateSettings):
            self.update_module_settings(message.settings)
        elif isinstance(message, Poll):
            self._poll_timer = None
            if self.core.mode != STOPPED:
                self.poll()
                self._schedule_poll()
        elif isinstance(message, ConnectionDropped):
            self._on_connection_dropped(message.channel)
        else:
            log.warning("ignoring unknown message %r", message)

    def start(self) -> None:
        """Start (or resume after reconnecting): ping the notifier, restart the module monitor."""
        self._reset()
        self.core.start(self.clock.now())
        s = self.settings
        log.info(
            "Monitoring the primary's notifier every %g second(s) (timeout %g, %d retry "
            "ping(s)) and the %s module",
            s.ping_interval, s.ping_timeout, s.retry_count, s.module.module,
        )
        self.module_control.start()
        self._schedule(PingDue, s.ping_interval)
        self._schedule_poll()

    def _schedule_poll(self) -> None:
        if self._poll_timer is not None:
            self._poll_timer.cancel()
        deliver = self.deliver
        self._poll_timer = self.clock.call_later(
            self.settings.module.max_event_interval, lambda: deliver(Poll()))

    def stop(self) -> None:
        was = self.core.mode
        self._reset()
        if self._poll_timer is not None:
            self._poll_timer.cancel()
            self._poll_timer = None
        self.core.mode = STOPPED
        if was != STOPPED:
            self.module_control.stop()
            log.info("Stopped monitoring the primary")

    def close(self) -> None:
        self.stop()
        self._steps.close()

    def update_module_settings(self, module: MonitorSettings) -> None:
        self.core.settings = replace(self.core.settings, module=module)

    def poll(self) -> Health:
        """Is the module monitor alive? A stalled one is restarted (and reported)."""
        health = self.core.poll(self.clock.now())
        if not health.ok:
            log.error(
                "The module monitor has not reported for %g second(s) (maximum %g), "
                "restarting it",
                health.since_last_event, health.max_interval,
            )
            self.core.last_module_event = self.clock.now()
            self.module_control.stop()
            self.module_control.start()
        return health

    def snapshot(self) -> dict[str, Any]:
        return {
            "mode": self.core.mode,
            "retries": self.core.retries,
            "last_module_event": self.core.last_module_event,
        }

    # --- notifier pings
    def _reset(self) -> None:
        self._generation += 1
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        self._steps.cancel()

    def _schedule(self, kind: type, delay: float) -> None:
        generation = self._generation
        self._timer = self.clock.call_later(delay, lambda: self.deliver(kind(generation)))

    def _request(self, channel: str, target: str, eid: str, timeout: float, wrap: type) -> None:
        generation = self._generation
        try:
            future = self.links.request(channel, target, eid, timeout=timeout)
        except Exception as exc:
            self.deliver(wrap(generation, Outcome(CONNECTION_LOST, detail=str(exc))))
            return
        future.add_done_callback(lambda f: self.deliver(wrap(generation, request_outcome(f))))

    def _send_ping(self) -> None:
        if self.core.mode != PINGING:
            return
        channel = MAIN if self.links.connected(MAIN) or not self.links.connected(AUX) else AUX
        log.debug("Pinging the primary's notifier on the %s connection", channel)
        self._request(channel, NOTIFIER_TARGET, NOTIFIER_EID, self.settings.ping_timeout, PingDone)

    def _on_connection_dropped(self, channel: str) -> None:
        if self.core.mode != PINGING or self._timer is None:
            return  # diagnosing already, or a ping in flight that the loss has failed
        log.warning("the %s connection to the primary's notifier went down: pinging now",
                    channel)
        self._timer.cancel()
        self._timer = None
        self._send_ping()

    def _on_ping_done(self, outcome: Outcome) -> None:
        if self.core.mode != PINGING:
            return
        d = self.core.on_ping_outcome(outcome, self.links.connected(MAIN))
        if d.log:
            log.warning(d.log)
        if d.action in ("ping", "retry"):
            self._schedule(PingDue, d.delay)
        elif d.action == "diagnose":
            self._begin(TRIGGER_NOTIFIER)
            self._check_network()

    # --- module monitor events
    def _on_module_event(self, event: ModuleMonitorEvent) -> None:
        if not self.core.on_module_event(event, self.clock.now()):
            return
        self._begin(TRIGGER_MODULE)
        self._reported = event.reported
        self._exited = event.exited
        module = event.module
        log.warning(
            "module monitor indicated the [%s] module is not responding, %s",
            module, connection_words(self._main_up, self._aux_up),
        )
        if not (self._main_up or self._aux_up):
            log.warning("Failed to ping the [%s] module, checking connections", module)
            self._check_network()
            return
        self._module_channel = MAIN if self._main_up else AUX
        self._module_pings = 0
        log.info(
            "Sending up to %d ping(s) to the %s module using the %s connection",
            self.settings.module.max_failures, module, CHANNEL_WORDS[self._module_channel],
        )
        self._ping_module()

    def _begin(self, trigger: str) -> None:
        """Stop pinging and stop the module monitor while the situation is analysed."""
        self._reset()
        self.core.mode = DIAGNOSING
        self._trigger = trigger
        self._main_up = self.links.connected(MAIN)
        self._aux_up = self.links.connected(AUX)
        self.module_control.stop()

    def _ping_module(self) -> None:
        m = self.settings.module
        self._module_pings += 1
        self._request(self._module_channel, m.module, m.eid, m.timeout, ModulePingDone)

    def _on_module_ping_done(self, outcome: Outcome) -> None:
        m = self.settings.module
        channel = CHANNEL_WORDS[self._module_channel]
        if outcome.status == CANCELLED:
            return
        if outcome.ok and extract_pid(outcome.response):
            if self._main_up and self._aux_up:
                log.info(
                    "Received a reply from the %s module on the %s connection: the module "
                    "is up, no error; restarting the module monitor",
                    m.module, channel,
                )
                self.core.start(self.clock.now())
                self.core.retries = 0
                self.module_control.start()
                self._schedule(PingDue, self.settings.ping_interval)
                return
            log.warning(
                "Received a reply from the %s module on the %s connection, but %s: "
                "checking connections",
                m.module, channel, connection_words(self._main_up, self._aux_up),
            )
            self._check_network()
            return
        if (outcome.status == REJECTED and self._reported and not self._exited
                and self._module_pings < max(m.max_failures, 2)):
            # The fast path: a rejection comes at once, and a module re-registering after
            # its host's restart is refused for a moment. Unless the active saw its process
            # exit, confirm again after "Switchover TS Failure Retry Delay" before calling
            # it down. (The module monitor's own path keeps the reference's timing: its
            # pings were already spaced.)
            log.info("The %s module's ping was rejected (%s); confirming again in %g "
                     "second(s)", m.module, outcome.detail or "no reason given",
                     m.retry_delay)
            self._schedule(ModuleRetryDue, m.retry_delay)
            return
        if self._module_pings < m.max_failures:
            self._ping_module()
            return
        log.warning(
            "Did not receive a reply from the %s module after %d ping(s) on the %s connection",
            m.module, self._module_pings, channel,
        )
        log.warning("Failed to ping the [%s] module, checking connections", m.module)
        self._check_network()

    # --- network diagnosis, step by step
    def _check_network(self) -> None:
        if self.core.mode == DIAGNOSING:
            self._diagnosed(self._steps.start(self.settings.network_plan()))

    def _continue_diagnosis(self, answer: bool | None) -> None:
        if self.core.mode == DIAGNOSING:
            self._diagnosed(self._steps.step(answer))

    def _diagnosed(self, diagnosis: Diagnosis | None) -> None:
        if diagnosis is not None:
            self._finish(diagnosis)

    def _finish(self, diagnosis: Diagnosis) -> None:
        for line in diagnosis.logs:
            log.info(line)
        event, lines = self.core.verdict(self._trigger, self._main_up, self._aux_up, diagnosis)
        for line in lines:
            (log.error if isinstance(event, ModuleDown) else log.warning)(line)
        self.core.mode = SUSPENDED
        self.post(event)
