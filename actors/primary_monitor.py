"""The primary monitor: the backup's central watcher ("Primary Monitor").

It pings the primary's Notifier on the remote connections, receives the module
monitor's events, and when something fails it stops the module monitor, diagnoses the
connections and the network, and posts exactly one state-machine event: NetworkDown,
NotifierDown, PrimaryUnreachable or ModuleDown -- or, when the module answers again,
none ("module up, no error": the module monitor is restarted).

Layers as in :mod:`actors.module_monitor`: :class:`PrimaryMonitorCore` (pure decisions:
ping outcomes, retry counting, the verdict of "Handling Module Monitor Notifications",
module-monitor stall detection), :class:`PrimaryMonitorDriver` (the I/O, never
blocking: requests through Links, waits on the clock, ICMP echoes on an executor),
and the Pykka actor :class:`PrimaryMonitor`.

Choices where the reference is silent:

- Notifier pings go on the main connection, or on aux when main is down ("The
  auxiliary is used when there are issues with the main connection").
- "Switchover Primary Monitor Ping Delay" 0 (the default) is taken as
  :data:`MIN_PING_DELAY` (1 reference second), not as a busy loop.
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
from concurrent.futures import Executor, Future, ThreadPoolExecutor
from dataclasses import dataclass, replace
from typing import Any, Callable, Generator, Mapping

import pykka

from actors.links import AUX, MAIN, Links
from actors.module_monitor import (
    CHANNEL_WORDS,
    MODULE_DOWN,
    ModuleMonitorControl,
    ModuleMonitorEvent,
    MonitorSettings,
    StartMonitoring,
    StopMonitoring,
    UpdateSettings,
    extract_pid,
    flag,
    param,
)
from actors.network import (
    Diagnosis,
    NetworkPlan,
    NetworkStatus,
    Probe,
    Prober,
    diagnose,
    local_gateways,
    ping_sets_for,
)
from actors.statemachine import ModuleDown, NetworkDown, NotifierDown, PrimaryUnreachable
from switchover.clock import Clock, TimerHandle
from transport.outcome import CANCELLED, CONNECTION_LOST, OK, Outcome

log = logging.getLogger("PrimaryMonitor")

NOTIFIER_TARGET = "Notifier"
NOTIFIER_EID = "Ping"
#: The shortest interval between notifier pings (reference seconds).
MIN_PING_DELAY = 1.0

Verdict = ModuleDown | NetworkDown | NotifierDown | PrimaryUnreachable


# --- settings -----------------------------------------------------------------------


def _addresses(value: Any) -> tuple[str, ...]:
    if not value:
        return ()
    if isinstance(value, (list, tuple)):
        return tuple(str(v).strip() for v in value if str(v).strip())
    return tuple(a.strip() for a in str(value).replace(",", ";").split(";") if a.strip())


@dataclass(frozen=True)
class PrimaryMonitorSettings:
    """The primary monitor's parameters, in reference seconds."""

    module: MonitorSettings = MonitorSettings()
    ping_delay: float = 0.0  # "Switchover Primary Monitor Ping Delay"
    timeout: float = 0.0  # "Switchover Primary Monitor Timeout" (0: half the module's)
    retry_delay: float = 0.0  # "Switchover Primary Monitor Retry Ping Delay"
    retry_count: int = 2  # "Switchover Primary Monitor Retry Count"
    gateway_ping: bool = False  # "Switchover Disable Gateway Ping" is No/0
    gateways: tuple[str, ...] = ()
    nettest: tuple[str, ...] = ()  # "Switchover NetTest A"/"B", whichever is this server's
    nettest_timeout: float = 1.0  # "Switchover NetTest Timeout"
    primary_address: str = ""
    unreachable_ping_count: int = 0  # "Switchover Unreachable Primary Ping Count"
    unreachable_ping_delay: float = 10.0  # "Switchover Unreachable Primary Ping Delay"
    #: Where gateways come from when none were found at start (a link that was down
    #: then had no default route): read again at each diagnosis.
    gateway_source: Callable[[], tuple[str, ...]] = local_gateways

    @classmethod
    def from_params(
        cls,
        params: Mapping[str, Any] | Any,
        *,
        this_server: str,
        primary_address: str,
        gateways: tuple[str, ...] | None = None,
    ) -> "PrimaryMonitorSettings":
        """Read the parameters by the reference's names; `this_server` is the backup.

        NetTest: "Switchover NetTest A" when this server is "SwitchoverServer A", else
        "Switchover NetTest B". Gateways default to the routing table's.
        """
        d = cls()
        server_a = str(param(params, "SwitchoverServer A", ""))
        is_a = bool(server_a) and server_a.lower() == this_server.lower()
        nettest = param(params, "Switchover NetTest A" if is_a else "Switchover NetTest B", "")
        disable = param(params, "Switchover Disable Gateway Ping", True)
        gateway_ping = not flag(disable)
        return cls(
            module=MonitorSettings.from_params(params),
            ping_delay=float(param(params, "Switchover Primary Monitor Ping Delay", d.ping_delay)),
            timeout=float(param(params, "Switchover Primary Monitor Timeout", d.timeout)),
            retry_delay=float(
                param(params, "Switchover Primary Monitor Retry Ping Delay", d.retry_delay)
            ),
            retry_count=max(
                1, int(param(params, "Switchover Primary Monitor Retry Count", d.retry_count))
            ),
            gateway_ping=gateway_ping,
            gateways=(local_gateways() if gateways is None and gateway_ping else gateways or ()),
            nettest=_addresses(nettest),
            nettest_timeout=float(param(params, "Switchover NetTest Timeout", d.nettest_timeout)),
            primary_address=primary_address,
            unreachable_ping_count=int(
                param(params, "Switchover Unreachable Primary Ping Count", 0)
            ),
            unreachable_ping_delay=float(
                param(params, "Switchover Unreachable Primary Ping Delay", 10)
            ),
        )

    @property
    def ping_timeout(self) -> float:
        return self.timeout if self.timeout > 0 else self.module.timeout / 2

    @property
    def ping_interval(self) -> float:
        return max(MIN_PING_DELAY, self.ping_delay)

    @property
    def unreachable_switch_allowed(self) -> bool:
        return self.unreachable_ping_count != -1

    def network_plan(self) -> NetworkPlan:
        return NetworkPlan(
            gateway_ping=self.gateway_ping,
            gateways=self.gateways or (tuple(self.gateway_source()) if self.gateway_ping
                                       else ()),
            nettest=self.nettest,
            nettest_timeout=self.nettest_timeout,
            primary_address=self.primary_address,
            ping_sets=ping_sets_for(self.unreachable_ping_count),
            set_delay=self.unreachable_ping_delay,
        )


# --- the pure core ------------------------------------------------------------------

PINGING = "pinging"
DIAGNOSING = "diagnosing"
SUSPENDED = "suspended"  # an event was posted; waiting for the state machine
STOPPED = "stopped"

TRIGGER_NOTIFIER = "notifier"
TRIGGER_MODULE = "module"


@dataclass(frozen=True)
class PingDecision:
    """After a notifier ping: "ping" (standard), "retry", "diagnose" or "none"."""

    action: str
    delay: float = 0.0
    log: str = ""


@dataclass(frozen=True)
class Health:
    """The answer to the state machine's poll about the module monitor."""

    ok: bool
    suspended: bool
    since_last_event: float
    max_interval: float


def connection_words(main_up: bool, aux_up: bool) -> str:
    if main_up and aux_up:
        return "both connections are up"
    if main_up:
        return "only the main connection is up"
    if aux_up:
        return "only the auxiliary connection is up"
    return "both connections are down"


def connection_status(main_up: bool, aux_up: bool) -> str:
    """The "primary connection status" of the reference's signal line."""
    if main_up and aux_up:
        return "both connections up"
    if main_up:
        return "main connection up"
    if aux_up:
        return "auxiliary connection up"
    return "both connections down"


class PrimaryMonitorCore:
    """Decisions of the primary monitor; no clock, no sockets, no threads."""

    def __init__(self, settings: PrimaryMonitorSettings) -> None:
        self.settings = settings
        self.mode = STOPPED
        self.retries = 0
        self.last_module_event = 0.0

    def start(self, now: float) -> None:
        self.mode = PINGING
        self.retries = 0
        self.last_module_event = now

    def on_ping_outcome(self, outcome: Outcome, main_connected: bool) -> PingDecision:
        """"Successful Ping Response" and "Non-Successful Ping Responses"."""
        s = self.settings
        if outcome.status == CANCELLED:
            return PingDecision("none")
        if outcome.status == OK:
            self.retries = 0
            return PingDecision("ping", s.ping_interval)
        if outcome.status == CONNECTION_LOST and main_connected:
            return PingDecision(
                "ping",
                s.ping_interval,
                "Lost a connection to the primary's notifier, the main connection is up: "
                "sending a standard ping",
            )
        what = {CONNECTION_LOST: "lost its connection"}.get(outcome.status, outcome.status)
        if self.retries < s.retry_count:
            self.retries += 1
            return PingDecision(
                "retry",
                s.retry_delay,
                f"Ping to the primary's notifier {what}: sending retry ping "
                f"[{self.retries}] of [{s.retry_count}]",
            )
        self.retries = 0
        return PingDecision(
            "diagnose",
            0.0,
            f"Ping to the primary's notifier {what} after {s.retry_count} retry ping(s), "
            "checking connections",
        )

    def on_module_event(self, event: ModuleMonitorEvent, now: float) -> bool:
        """Note the event; True when it is a MODULE_DOWN to act on."""
        if self.mode != PINGING:
            return False
        self.last_module_event = now
        return event.kind == MODULE_DOWN

    def poll(self, now: float) -> Health:
        max_interval = self.settings.module.max_event_interval
        if self.mode != PINGING:
            return Health(True, True, 0.0, max_interval)
        elapsed = now - self.last_module_event
        return Health(elapsed <= max_interval, False, elapsed, max_interval)

    def verdict(
        self,
        trigger: str,
        main_up: bool,
        aux_up: bool,
        diagnosis: Diagnosis,
    ) -> tuple[Verdict, tuple[str, ...]]:
        """"Handling Module Monitor Notifications": the one event to post, and why."""
        s = self.settings
        module = s.module.module
        net = diagnosis.status
        conn = connection_status(main_up, aux_up)

        def line(status: str, what: str, event: str) -> str:
            return (
                f"Primary connection status=[{status}], network connection status="
                f"[{net.words}]: {what}, posting [event={event}]"
            )

        if diagnosis.local_down:
            return NetworkDown(net.value), (
                line(conn, "the network of this server is down", "eNetworkDown"),
            )
        if net is NetworkStatus.PRIMARY_UNREACHABLE:
            sets = ping_sets_for(s.unreachable_ping_count)
            return PrimaryUnreachable(s.primary_address, sets), (
                line(conn, "the primary's server is unreachable", "ePrimaryUnreachable"),
            )
        if not (main_up and aux_up):
            return NotifierDown(True, main_up, aux_up), (
                line(conn, "the remote notifier is down", "eNotifierDown"),
            )
        if trigger == TRIGGER_MODULE:
            down = "monitored module down"
            return ModuleDown(module), (
                f"module monitor indicated that the [{module}] module is not responding "
                f"(all connections are up), primary connection status is '{down}', "
                "signaling the module is down",
                line(down, f"[{module}] module is down", "eTSDown"),
            )
        return NotifierDown(True, True, True), (
            line(conn, "the remote notifier is not answering", "eNotifierDown"),
        )


# --- the driver ---------------------------------------------------------------------


@dataclass(frozen=True)
class _PingDue:
    generation: int


@dataclass(frozen=True)
class _PingDone:
    generation: int
    outcome: Outcome


@dataclass(frozen=True)
class _ModulePingDone:
    generation: int
    outcome: Outcome


@dataclass(frozen=True)
class _ProbeDone:
    generation: int
    reached: bool


@dataclass(frozen=True)
class _WaitDone:
    generation: int


@dataclass(frozen=True)
class ConnectionDropped:
    """A remote notifier connection went down ("if a connection was up and then goes
    down, the primary monitor then examines the network"): ping now, not at the next
    ping interval."""

    channel: str


@dataclass(frozen=True)
class Poll:
    """Ask (from the state machine's host) whether the module monitor is alive."""


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
        self.prober = prober
        self.core = PrimaryMonitorCore(settings)
        self.post = post
        self.module_control = module_control
        self.deliver = deliver
        self._executor = executor
        self._own_executor = executor is None
        self._generation = 0
        self._timer: TimerHandle | None = None
        # the diagnosis in progress
        self._trigger = TRIGGER_NOTIFIER
        self._main_up = self._aux_up = False
        self._module_channel = MAIN
        self._module_pings = 0
        self._diag: Generator[Any, Any, Diagnosis] | None = None

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
        if isinstance(message, _PingDue):
            self._timer = None
            self._send_ping()
        elif isinstance(message, _PingDone):
            self._on_ping_done(message.outcome)
        elif isinstance(message, ModuleMonitorEvent):
            self._on_module_event(message)
        elif isinstance(message, _ModulePingDone):
            self._on_module_ping_done(message.outcome)
        elif isinstance(message, _ProbeDone):
            self._continue_diagnosis(message.reached)
        elif isinstance(message, _WaitDone):
            self._timer = None
            self._continue_diagnosis(None)
        elif isinstance(message, StartMonitoring):
            self.start()
        elif isinstance(message, StopMonitoring):
            self.stop()
        elif isinstance(message, UpdateSettings):
            self.update_module_settings(message.settings)
        elif isinstance(message, Poll):
            self.poll()
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
        self._schedule(_PingDue, s.ping_interval)

    def stop(self) -> None:
        was = self.core.mode
        self._reset()
        self.core.mode = STOPPED
        if was != STOPPED:
            self.module_control.stop()
            log.info("Stopped monitoring the primary")

    def close(self) -> None:
        self.stop()
        if self._own_executor and self._executor is not None:
            self._executor.shutdown(wait=False, cancel_futures=True)
            self._executor = None

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
        if self._diag is not None:
            self._diag.close()
            self._diag = None

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
        future.add_done_callback(lambda f: self.deliver(wrap(generation, _result(f))))

    def _send_ping(self) -> None:
        if self.core.mode != PINGING:
            return
        channel = MAIN if self.links.connected(MAIN) or not self.links.connected(AUX) else AUX
        log.debug("Pinging the primary's notifier on the %s connection", channel)
        self._request(channel, NOTIFIER_TARGET, NOTIFIER_EID, self.settings.ping_timeout, _PingDone)

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
            self._schedule(_PingDue, d.delay)
        elif d.action == "diagnose":
            self._begin(TRIGGER_NOTIFIER)
            self._check_network()

    # --- module monitor events
    def _on_module_event(self, event: ModuleMonitorEvent) -> None:
        if not self.core.on_module_event(event, self.clock.now()):
            return
        self._begin(TRIGGER_MODULE)
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
        self._request(self._module_channel, m.module, m.eid, m.timeout, _ModulePingDone)

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
                self._schedule(_PingDue, self.settings.ping_interval)
                return
            log.warning(
                "Received a reply from the %s module on the %s connection, but %s: "
                "checking connections",
                m.module, channel, connection_words(self._main_up, self._aux_up),
            )
            self._check_network()
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
        self._diag = diagnose(self.settings.network_plan())
        self._continue_diagnosis(None, first=True)

    def _continue_diagnosis(self, answer: bool | None, first: bool = False) -> None:
        if self._diag is None or self.core.mode != DIAGNOSING:
            return
        try:
            item = next(self._diag) if first else self._diag.send(answer)
        except StopIteration as stop:
            self._diag = None
            self._finish(stop.value)
            return
        generation = self._generation
        if isinstance(item, Probe):
            future = self._pool().submit(self.prober.ping, item.address, item.timeout)
            future.add_done_callback(
                lambda f: self.deliver(_ProbeDone(generation, _reached(f)))
            )
        else:
            self._schedule(_WaitDone, item.seconds)

    def _finish(self, diagnosis: Diagnosis) -> None:
        for line in diagnosis.logs:
            log.info(line)
        event, lines = self.core.verdict(self._trigger, self._main_up, self._aux_up, diagnosis)
        for line in lines:
            (log.error if isinstance(event, ModuleDown) else log.warning)(line)
        self.core.mode = SUSPENDED
        self.post(event)

    def _pool(self) -> Executor:
        if self._executor is None:
            self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="icmp")
        return self._executor


def _result(future: Future[Outcome]) -> Outcome:
    try:
        return future.result()
    except Exception as exc:
        return Outcome(CONNECTION_LOST, detail=f"request failed: {exc}")


def _reached(future: Future[bool]) -> bool:
    try:
        return bool(future.result())
    except Exception as exc:
        log.warning("ICMP echo failed: %s", exc)
        return False


# --- the actor ----------------------------------------------------------------------


class PrimaryMonitor(pykka.ThreadingActor):
    """The primary monitor as a Pykka actor; monitoring starts when the actor starts.

    Messages (``tell``): StartMonitoring, StopMonitoring, UpdateSettings, and the module
    monitor's ModuleMonitorEvents (wire the ModuleMonitor's `post` to this actor's
    ``tell``). Proxy calls: ``poll()`` -> :class:`Health`, ``snapshot()``.
    """

    def __init__(
        self,
        clock: Clock,
        links: Links,
        prober: Prober,
        settings: PrimaryMonitorSettings,
        post: Callable[[object], None],
        module_monitor_control: ModuleMonitorControl,
        *,
        executor: Executor | None = None,
        autostart: bool = True,
    ) -> None:
        super().__init__()
        self._autostart = autostart
        self._driver = PrimaryMonitorDriver(
            clock, links, prober, settings, post, module_monitor_control,
            self._tell_self, executor,
        )

    def _tell_self(self, message: object) -> None:
        try:
            self.actor_ref.tell(message)
        except pykka.ActorDeadError:
            pass

    def on_start(self) -> None:
        if self._autostart:
            self._driver.start()

    def on_stop(self) -> None:
        self._driver.close()

    def on_receive(self, message: Any) -> Any:
        try:
            self._driver.handle(message)
        except Exception:
            log.exception("failed to handle %r", message)

    def poll(self) -> Health:
        return self._driver.poll()

    def snapshot(self) -> dict[str, Any]:
        return self._driver.snapshot()
