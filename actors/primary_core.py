"""The primary monitor's decisions, pure: no clock, no sockets, no threads ("Primary Monitor").

:class:`PrimaryMonitorCore` decides what a notifier ping's outcome means (the
reference's "Successful Ping Response" and "Non-Successful Ping Responses": ping again,
retry up to "Switchover Primary Monitor Retry Count", or diagnose), notes the module
monitor's events, detects a stalled module monitor (:class:`Health`), and gives the
verdict of "Handling Module Monitor Notifications": exactly one state-machine event,
NetworkDown, NotifierDown, PrimaryUnreachable or ModuleDown, with the lines that say why.
Its own module so that these rules are table-tested without the driver
(:mod:`actors.primary_driver`) or the actor (:mod:`actors.primary_monitor`).
"""
from __future__ import annotations

from dataclasses import dataclass

from switchover.actors.module_core import MODULE_DOWN, ModuleMonitorEvent
from switchover.actors.network import Diagnosis, NetworkStatus, ping_sets_for
from switchover.actors.primary_settings import PrimaryMonitorSettings
from switchover.actors.statemachine import ModuleDown, NetworkDown, NotifierDown, PrimaryUnreachable
from switchover.transport.outcome import CANCELLED, CONNECTION_LOST, OK, Outcome

Verdict = ModuleDown | NetworkDown | NotifierDown | PrimaryUnreachable

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
            return NotifierDown(main_up, aux_up), (
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
        return NotifierDown(True, True), (
            line(conn, "the remote notifier is not answering", "eNotifierDown"),
        )
