"""The primary monitor: its pure core, FakeClock replays of the reference's samples
through the state machine, the time-to-switch formulas of docs/switching.md, and one
test of the two Pykka actors together."""
from __future__ import annotations

import logging
import threading

import pytest

from switchover.actors.links import AUX, MAIN
from switchover.actors.module_core import SYSTEM_OK, ModuleMonitorEvent
from switchover.actors.module_monitor import (
    ModuleMonitor,
    ModuleMonitorDriver,
    StartMonitoring,
    StopMonitoring,
    TellControl,
)
from switchover.actors.module_settings import MonitorSettings
from switchover.actors.network import Diagnosis, NetworkStatus
from switchover.actors.primary_core import (
    DIAGNOSING,
    PINGING,
    STOPPED,
    SUSPENDED,
    TRIGGER_MODULE,
    TRIGGER_NOTIFIER,
    PrimaryMonitorCore,
)
from switchover.actors.primary_driver import PrimaryMonitorDriver
from switchover.actors.primary_messages import ConnectionDropped
from switchover.actors.primary_monitor import PrimaryMonitor
from switchover.actors.primary_settings import PrimaryMonitorSettings
from switchover.actors.statemachine import (
    REASON_NOTIFIER,
    REASON_TS_PING,
    BecomeActive,
    Context,
    ModuleDown,
    NetworkDown,
    NotifierDown,
    PrimaryUnreachable,
    ReconnectExpired,
    StartMonitors,
    StartReconnectTimer,
    State,
    StopMonitors,
    step,
)
from switchover.clock import FakeClock
from switchover.params import ServerParameters
from tests.unit.actor_support import pump
from tests.unit.doubles import (
    SILENCE,
    FakeLinks,
    FakeProber,
    InlineExecutor,
    Reply,
    Trampoline,
)
from switchover.transport.outcome import CANCELLED, CONNECTION_LOST, OK, REJECTED, TIMEOUT, Outcome

GATEWAY = "172.17.112.1"
PRIMARY = "172.17.112.171"
SAMPLE = PrimaryMonitorSettings(gateway_ping=True, gateways=(GATEWAY,), primary_address=PRIMARY)


# --- settings -----------------------------------------------------------------------


def test_settings_from_params():
    params = {
        "SwitchoverServer A": "ICServer1",
        "SwitchoverServer B": "ICServer2",
        "Switchover NetTest A": "135.89.3.43",
        "Switchover NetTest B": "86.45.2.1",
        "Switchover NetTest Timeout": 2,
        "Switchover Disable Gateway Ping": "No",
        "Switchover Primary Monitor Retry Count": 3,
        "Switchover Unreachable Primary Ping Count": -1,
        "Switchover Unreachable Primary Ping Delay": 5,
        "Switchover TS Timeout": 12,
    }
    a = PrimaryMonitorSettings.from_params(
        params, this_server="icserver1", primary_address="10.0.0.3", gateways=("10.0.0.1",))
    b = PrimaryMonitorSettings.from_params(
        params, this_server="ICServer2", primary_address="10.0.0.2", gateways=())
    assert a.nettest == ("135.89.3.43",) and b.nettest == ("86.45.2.1",)
    assert a.gateway_ping and a.gateways == ("10.0.0.1",) and a.nettest_timeout == 2
    assert a.retry_count == 3 and a.ping_timeout == 6  # 0 -> half the TS Timeout
    assert not a.unreachable_switch_allowed and a.network_plan().ping_sets == 1
    assert a.network_plan().set_delay == 5


def test_settings_defaults():
    s = PrimaryMonitorSettings.from_params({}, this_server="x", primary_address="p")
    assert not s.gateway_ping and s.gateways == ()  # gateway ping disabled unless No/0
    assert s.ping_timeout == 5 and s.ping_interval == 1 and s.retry_count == 2
    assert s.unreachable_switch_allowed and s.network_plan().ping_sets == 3


# --- the pure core ------------------------------------------------------------------


def test_core_retries_then_diagnoses():
    core = PrimaryMonitorCore(PrimaryMonitorSettings(retry_delay=2))
    core.start(0)
    actions = [core.on_ping_outcome(Outcome(s), True).action
               for s in (TIMEOUT, REJECTED, TIMEOUT)]
    assert actions == ["retry", "retry", "diagnose"]
    assert core.on_ping_outcome(Outcome(TIMEOUT), True).delay == 2  # counting anew


def test_core_success_resets_the_retry_count():
    core = PrimaryMonitorCore(PrimaryMonitorSettings())
    core.start(0)
    core.on_ping_outcome(Outcome(TIMEOUT), True)
    assert core.on_ping_outcome(Outcome(OK), True) .action == "ping"
    assert core.retries == 0


@pytest.mark.parametrize(
    "status, main_up, action",
    [(CONNECTION_LOST, True, "ping"), (CONNECTION_LOST, False, "retry"),
     (CANCELLED, True, "none"), (OK, False, "ping")],
)
def test_core_non_successful_responses(status, main_up, action):
    core = PrimaryMonitorCore(PrimaryMonitorSettings())
    core.start(0)
    assert core.on_ping_outcome(Outcome(status), main_up).action == action


def diag(status: NetworkStatus) -> Diagnosis:
    return Diagnosis(status, ())


R, U = NetworkStatus.PRIMARY_REACHED, NetworkStatus.PRIMARY_UNREACHABLE


@pytest.mark.parametrize(
    "trigger, main_up, aux_up, status, expected",
    [
        # Network NOT OK
        (TRIGGER_MODULE, True, True, NetworkStatus.GATEWAY_UNREACHABLE,
         NetworkDown("GatewayUnreachable")),
        (TRIGGER_NOTIFIER, False, False, NetworkStatus.NETTEST_UNREACHABLE,
         NetworkDown("NetTestUnreachable")),
        (TRIGGER_MODULE, False, False, U, PrimaryUnreachable(PRIMARY, 3)),
        # Network OK
        (TRIGGER_MODULE, False, False, R, NotifierDown(False, False)),
        (TRIGGER_MODULE, True, False, R, NotifierDown(True, False)),
        (TRIGGER_NOTIFIER, False, True, R, NotifierDown(False, True)),
        (TRIGGER_MODULE, True, True, R, ModuleDown("TsServer")),
        (TRIGGER_NOTIFIER, True, True, R, NotifierDown(True, True)),
    ],
)
def test_verdict(trigger, main_up, aux_up, status, expected):
    core = PrimaryMonitorCore(SAMPLE)
    event, lines = core.verdict(trigger, main_up, aux_up, diag(status))
    assert event == expected
    assert lines and "posting [event=" in lines[-1]


def test_poll_detects_a_stalled_module_monitor():
    core = PrimaryMonitorCore(PrimaryMonitorSettings())
    core.start(0)
    limit = MonitorSettings().max_event_interval
    assert limit == 64
    assert core.poll(limit).ok
    core.on_module_event(ModuleMonitorEvent(SYSTEM_OK, "TsServer", MAIN, 1), 10)
    assert core.poll(10 + limit).ok and not core.poll(10 + limit + 1).ok
    core.mode = SUSPENDED  # reconnecting: tracking suspended
    assert core.poll(1000).ok and core.poll(1000).suspended


# --- a synchronous backup: both monitors and the state machine on the test thread ----


class ClockLog(logging.Handler):
    """Records (fake time, topic, message) of every log line at INFO and above."""

    TOPICS = ("ModuleMonitor", "PrimaryMonitor", "SwitchoverStates")

    def __init__(self, clock: FakeClock) -> None:
        super().__init__(logging.DEBUG)
        self.clock = clock
        self.lines: list[tuple[float, str, str]] = []

    def emit(self, record: logging.LogRecord) -> None:
        if record.levelno >= logging.INFO:
            self.lines.append((self.clock.now(), record.name, record.getMessage()))

    def __enter__(self) -> "ClockLog":
        for topic in self.TOPICS:
            logging.getLogger(topic).addHandler(self)
            logging.getLogger(topic).setLevel(logging.DEBUG)
        return self

    def __exit__(self, *exc: object) -> None:
        for topic in self.TOPICS:
            logging.getLogger(topic).removeHandler(self)


class Backup:
    """A backup host in miniature: the monitors, the state machine and its actions."""

    def __init__(self, clock, links, prober, settings=SAMPLE, ctx=Context()):
        self.clock = clock
        self.state = State.BACKUP
        self.ctx = ctx
        self.posted: list[tuple[float, object]] = []
        self.transitions: list[tuple[float, State, object]] = []
        self.switched: list[tuple[float, str]] = []
        self._timer = None
        self.mm_deliver = Trampoline()
        self.pm_deliver = Trampoline()
        self.sm_deliver = Trampoline(self._on_event)
        self.mm = ModuleMonitorDriver(clock, links, settings.module, self.pm_deliver,
                                      self.mm_deliver)
        self.mm_deliver.handler = self.mm.handle
        self.pm = PrimaryMonitorDriver(clock, links, prober, settings, self.sm_deliver,
                                       TellControl(self.mm_deliver), self.pm_deliver,
                                       InlineExecutor())
        self.pm_deliver.handler = self.pm.handle
        self.log = logging.getLogger("SwitchoverStates")

    def start(self):
        self.pm_deliver(StartMonitoring())

    def _on_event(self, event):
        now = self.clock.now()
        self.posted.append((now, event))
        t = step(self.state, event, self.ctx)
        self.state = t.state
        self.transitions.append((now, t.state, event))
        for action in t.actions:
            if isinstance(action, StopMonitors):
                self.pm_deliver(StopMonitoring())
            elif isinstance(action, StartMonitors):
                self.pm_deliver(StartMonitoring())
            elif isinstance(action, StartReconnectTimer):
                self.log.info(action.message)
                self._timer = self.clock.call_later(
                    action.seconds, lambda: self.sm_deliver(ReconnectExpired()))
            elif isinstance(action, BecomeActive):
                self.switched.append((now, action.reason))
            elif hasattr(action, "message"):
                getattr(self.log, action.level)(action.message)
            elif type(action).__name__ == "CancelReconnectTimer" and self._timer:
                self._timer.cancel()
        self.log.info(t.reason)


def make_backup(settings=SAMPLE, ctx=Context(), reachable=(GATEWAY, PRIMARY)):
    clock = FakeClock()
    links = FakeLinks(clock)
    links.respond("TsServer", Reply(OK, {"pid": 4242}))
    prober = FakeProber(reachable)
    return clock, links, prober, Backup(clock, links, prober, settings, ctx)


def test_replay_ts_ping_failure_sample():
    """The whole sample: module monitor, primary monitor, state machine, same order and
    spacing as the reference's log (ModuleMonitor lines 10 s apart, everything else at
    the moment of the fourth)."""
    clock, links, prober, backup = make_backup()
    with ClockLog(clock) as logs:
        backup.start()
        clock.advance(5)
        links.respond("TsServer", Reply(REJECTED))  # the module stops answering
        clock.advance(100)
    lines = [(t, topic, m) for t, topic, m in logs.lines
             if not m.startswith(("Monitoring", "Stopped"))]
    t0 = lines[0][0]
    assert t0 == 10  # first ping one TS Timeout after the start
    assert [(t - t0, topic, m) for t, topic, m in lines] == [
        (0, "ModuleMonitor", "Ping rejected to the TsServer module: error count [1] is "
         "within maximum [2], ping will be reissued with regular timeout"),
        (10, "ModuleMonitor", "Reached maximum error count [2] pinging the TsServer module "
         "on the main connection, resetting error count and trying the alternate connection"),
        (20, "ModuleMonitor", "Ping rejected to the TsServer module: error count [1] is "
         "within maximum [2], ping will be reissued with regular timeout"),
        (30, "ModuleMonitor", "Ping was rejected to the TsServer module: reached maximum "
         "error count [2], signaling that the module is down"),
        (30, "PrimaryMonitor", "module monitor indicated the [TsServer] module is not "
         "responding, both connections are up"),
        (30, "PrimaryMonitor", "Sending up to 2 ping(s) to the TsServer module using the "
         "main connection"),
        (30, "PrimaryMonitor", "Did not receive a reply from the TsServer module after 2 "
         "ping(s) on the main connection"),
        (30, "PrimaryMonitor", "Failed to ping the [TsServer] module, checking connections"),
        (30, "PrimaryMonitor", "Successfully pinged local gateway address [172.17.112.1], "
         "setting network connection status to 'GatewayReached'"),
        (30, "PrimaryMonitor", "No NetTest addresses to ping, setting network connection "
         "status to 'NetTestUnavailable'"),
        (30, "PrimaryMonitor", "Successfully pinged primary address [172.17.112.171], "
         "setting network connection status to 'PrimaryReached'"),
        (30, "PrimaryMonitor", "module monitor indicated that the [TsServer] module is not "
         "responding (all connections are up), primary connection status is 'monitored "
         "module down', signaling the module is down"),
        (30, "PrimaryMonitor", "Primary connection status=[monitored module down], network "
         "connection status=[primary reached]: [TsServer] module is down, posting "
         "[event=eTSDown]"),
        (30, "SwitchoverStates", "Module is down, switching now and going to StatePrimary"),
    ]
    assert [(t, type(e)) for t, e in backup.posted] == [(40, ModuleDown)]
    assert backup.state is State.PRIMARY
    assert backup.switched == [(40, REASON_TS_PING)]
    # the note's "twice on the Main connection, twice on the Auxiliary connection, and
    # twice again on the Main connection"
    assert [s.channel for s in links.sent_to("TsServer") if s.at >= t0] == [
        MAIN, MAIN, AUX, AUX, MAIN, MAIN]
    assert backup.pm.mode == STOPPED and not backup.mm.running


def test_replay_loss_of_connection_to_notifier():
    """Both connections drop -> NotifierDown -> Reconnecting -> 30 s -> Primary.

    The reference's sample: "Lost notifier connection" twice, the reconnect timer
    scheduled at once for 30 s, and 30 s later "Reconnect period expired" and the switch.
    """
    clock, links, prober, backup = make_backup()
    links.respond("Notifier", Reply(OK, latency=0.5))  # a ping is always in flight
    with ClockLog(clock) as logs:
        backup.start()
        clock.advance(100.25)
        links.disconnect(MAIN)
        links.disconnect(AUX)
        clock.advance(60)
    assert [(t, e) for t, e in backup.posted] == [
        (100.25, NotifierDown(main_up=False, aux_up=False)),
        (130.25, ReconnectExpired()),
    ]
    assert [(t, s) for t, s, _ in backup.transitions] == [
        (100.25, State.RECONNECTING), (130.25, State.PRIMARY)]
    assert backup.switched == [(130.25, REASON_NOTIFIER)]
    states = [(t, m) for t, topic, m in logs.lines if topic == "SwitchoverStates"]
    assert (100.25, "Scheduling reconnect timeout to execute in 30 second(s)") in states
    assert states[-2:] == [
        (130.25, "Reconnect period expired, posting [event=eConnectionsDown] to initiate a "
                 "switchover"),
        (130.25, "Lost connections to the primary, going to StatePrimary and switching now"),
    ]


def test_module_answers_again_no_error():
    """Module monitor says down, but the primary monitor's own pings are answered."""
    clock, links, prober, backup = make_backup()
    links.respond("TsServer", Reply(REJECTED))
    links.script("TsServer", *[Reply(REJECTED)] * 4, Reply(OK, {"pid": 4242}))
    with ClockLog(clock) as logs:
        backup.start()
        clock.advance(41)
    assert backup.posted == []
    assert backup.pm.mode == PINGING and backup.mm.running
    assert any("the module is up, no error; restarting the module monitor" in m
               for _, _, m in logs.lines)


def test_notifier_not_answering_diagnoses_after_the_retries():
    """Notifier hung: 3 pings of 5 s (the reference's "around 15 seconds")."""
    clock, links, prober, backup = make_backup()
    backup.start()
    clock.advance(20.5)
    links.respond("Notifier", SILENCE)
    clock.advance(60)
    first_silent = min(s.at for s in links.sent_to("Notifier") if s.at > 20.5)
    assert first_silent == 21
    assert [(t, e) for t, e in backup.posted][:1] == [(36, NotifierDown(True, True))]
    expected = first_silent + switch_times(SAMPLE.module, SAMPLE, 30)["notifier hung"]
    assert backup.state is State.PRIMARY and backup.switched == [(expected, REASON_NOTIFIER)]
    assert expected == 66


def test_network_down_goes_to_reconnecting_without_a_timer():
    clock, links, prober, backup = make_backup(reachable=(PRIMARY,))
    links.respond("TsServer", Reply(REJECTED))
    backup.start()
    clock.advance(500)
    assert [(t, e) for t, e in backup.posted] == [(40, NetworkDown("GatewayUnreachable"))]
    assert backup.state is State.RECONNECTING and backup.switched == []


def test_primary_unreachable_uses_ping_sets_on_the_clock():
    """Both connections gone and the primary's server silent: 3 sets, 10 s apart."""
    clock, links, prober, backup = make_backup(reachable=(GATEWAY,))
    backup.start()
    clock.advance(50.5)
    links.disconnect(MAIN)
    links.disconnect(AUX)
    clock.advance(19.5)  # lost at the ping of 51; sets at 51, 61, 71
    assert backup.posted == []  # still between ping sets
    assert backup.pm.mode == DIAGNOSING
    clock.advance(1)
    assert backup.posted == [(71, PrimaryUnreachable(PRIMARY, 3))]
    assert [a for a, _ in prober.calls] == [GATEWAY] + [PRIMARY] * 9
    clock.advance(30)
    assert backup.switched == [(101, REASON_NOTIFIER)]


def test_unreachable_primary_ping_count_minus_one_never_switches():
    settings = PrimaryMonitorSettings(primary_address=PRIMARY, unreachable_ping_count=-1)
    clock, links, prober, backup = make_backup(
        settings, Context(unreachable_switch_allowed=False), reachable=())
    backup.start()
    clock.advance(10.5)
    links.disconnect(MAIN)
    links.disconnect(AUX)
    clock.advance(1000)
    assert [type(e) for _, e in backup.posted] == [PrimaryUnreachable]
    assert backup.state is State.RECONNECTING and backup.switched == []


def test_stalled_module_monitor_is_restarted_by_poll():
    clock, links, prober, backup = make_backup()
    backup.start()
    backup.mm.stop()  # the module monitor dies quietly
    clock.advance(70)
    health = backup.pm.poll()
    assert not health.ok and health.since_last_event == 70
    assert backup.mm.running


# --- time to switch, docs/switching.md ---------------------------------------------


def switch_times(m: MonitorSettings, p: PrimaryMonitorSettings, reconnect: float):
    """The formulas written in docs/switching.md (reference seconds)."""
    M, T, R = m.max_failures, m.timeout, m.retry_delay
    return {
        "module rejects": (2 * M - 1) * T,
        "module hung": 2 * M * T + (2 * M - 1) * R + M * T,
        "notifier lost": reconnect,
        "notifier hung": (p.retry_count + 1) * p.ping_timeout + reconnect,
    }


def _fail(row: str, links: FakeLinks, backup: Backup) -> str:
    """Make `row` of docs/switching.md's table happen; the target whose pings then fail."""
    if row == "module rejects":
        links.respond("TsServer", Reply(REJECTED))
    elif row == "module hung":
        links.respond("TsServer", SILENCE)
    elif row == "notifier hung":
        links.respond("Notifier", SILENCE)
    else:  # sockets closed: each channel reports it at once, as the host passes it on
        for channel in (MAIN, AUX):
            links.disconnect(channel)
            backup.pm_deliver(ConnectionDropped(channel))
    return "Notifier" if row.startswith("notifier") else "TsServer"


@pytest.mark.parametrize("row, documented", [
    ("module rejects", 30), ("module hung", 63), ("notifier lost", 30), ("notifier hung", 45)])
def test_time_to_switch_with_the_default_parameters_is_what_the_docs_say(row, documented):
    """docs/switching.md's "defaults" column, measured on the simulated backup: settings
    and reconnect timeout from the catalogue's defaults, time from the first failed ping
    (or the connections' loss) to the switch."""
    params = ServerParameters.from_mapping(
        {"SwitchoverServer A": "ICServer1", "SwitchoverServer B": "ICServer2"})
    settings = PrimaryMonitorSettings.from_params(
        params, this_server="ICServer2", primary_address=PRIMARY, gateways=())
    ctx = Context(reconnect_timeout=float(params["Switchover Reconnect Timeout"]))
    clock, links, prober, backup = make_backup(settings, ctx, reachable=(PRIMARY,))
    links.respond("Notifier", Reply(OK, latency=0.5))
    backup.start()
    clock.advance(20.25)
    target = _fail(row, links, backup)
    clock.advance(200)
    failed = [s.at for s in links.sent_to(target) if s.at >= 20.25]
    start = 20.25 if row == "notifier lost" else failed[0]
    assert [(t - start, reason) for t, reason in backup.switched] == [
        (documented, REASON_NOTIFIER if target == "Notifier" else REASON_TS_PING)]


@pytest.mark.parametrize("module_reply, formula", [
    (Reply(REJECTED), "module rejects"), (SILENCE, "module hung")])
def test_module_death_switches_when_the_formula_says(module_reply, formula):
    settings = PrimaryMonitorSettings(primary_address=PRIMARY)
    clock, links, prober, backup = make_backup(settings, reachable=(PRIMARY,))
    backup.start()
    clock.advance(5)
    links.respond("TsServer", module_reply)
    clock.advance(200)
    first_failed = min(s.at for s in links.sent_to("TsServer") if s.at > 5)
    expected = switch_times(settings.module, settings, 30)[formula]
    assert backup.switched == [(first_failed + expected, REASON_TS_PING)]


# --- the actors ---------------------------------------------------------------------


def test_actors_post_module_down():
    clock = FakeClock()
    links = FakeLinks(clock)
    links.respond("TsServer", Reply(REJECTED))
    prober = FakeProber({GATEWAY, PRIMARY})
    posted: list[tuple[float, object]] = []
    done = threading.Event()

    def post(event):
        posted.append((clock.now(), event))
        done.set()

    class Late:
        """Resolves the module monitor's ref after both actors exist."""
        tell = None

        def __call__(self, message):
            self.tell(message)

    to_pm = Late()
    mm = ModuleMonitor.start(clock, links, SAMPLE.module, to_pm, autostart=False)
    pm = PrimaryMonitor.start(clock, links, prober, SAMPLE, post, TellControl(mm.tell),
                              executor=InlineExecutor())
    to_pm.tell = pm.tell
    pump(clock, pm, mm)
    while clock.now() < 45 and not done.is_set():
        clock.advance(0.5)
        pump(clock, pm, mm)
    assert done.wait(timeout=2)
    assert posted == [(40, ModuleDown("TsServer"))]
    assert pm.proxy().snapshot().get(timeout=2)["mode"] == SUSPENDED


def test_a_dropped_connection_is_examined_at_once():
    """"If a connection was up and then goes down, the primary monitor then examines the
    network": the drop starts the check now, not at the next ping interval."""
    clock, links, prober, backup = make_backup()
    links.respond("Notifier", Reply(OK))  # answered at once: nothing in flight between pings
    backup.start()
    clock.advance(100.25)
    links.disconnect(MAIN)
    links.disconnect(AUX)
    backup.pm_deliver(ConnectionDropped(MAIN))
    clock.advance(0)
    assert [(t, e) for t, e in backup.posted] == [
        (100.25, NotifierDown(main_up=False, aux_up=False))]


def test_gateways_missing_at_start_are_read_again_at_diagnosis():
    """A backup started while its link was down had no default route to read; the
    diagnosis looks again rather than reporting "No local gateway addresses"."""
    settings = PrimaryMonitorSettings(gateway_ping=True, gateways=(), primary_address=PRIMARY,
                                      gateway_source=lambda: ("10.9.9.1",))
    assert settings.network_plan().gateways == ("10.9.9.1",)
    found = PrimaryMonitorSettings(gateway_ping=True, gateways=(GATEWAY,),
                                   gateway_source=lambda: ("10.9.9.1",))
    assert found.network_plan().gateways == (GATEWAY,)
    off = PrimaryMonitorSettings(gateway_ping=False, gateway_source=lambda: ("10.9.9.1",))
    assert off.network_plan().gateways == ()
