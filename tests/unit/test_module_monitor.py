"""The module monitor: its pure core, a FakeClock replay of the reference's "TS ping
failure sample", and one test of the Pykka actor."""
from __future__ import annotations

import logging
import threading

import pytest

from switchover.actors.links import AUX, MAIN
from switchover.actors.module_core import MODULE_DOWN, SYSTEM_OK, ModuleMonitorCore, extract_pid
from switchover.actors.module_monitor import (
    ModuleMonitor,
    ModuleMonitorDriver,
    StartMonitoring,
    UpdateSettings,
)
from switchover.actors.module_settings import MonitorSettings
from switchover.clock import FakeClock
from tests.unit.actor_support import pump
from tests.unit.doubles import SILENCE, FakeLinks, Reply, Trampoline
from switchover.transport.outcome import CANCELLED, CONNECTION_LOST, OK, REJECTED, TIMEOUT, Outcome

DEFAULTS = MonitorSettings()


def ok(pid: int) -> Outcome:
    return Outcome(OK, response={"pid": pid})


# --- settings -----------------------------------------------------------------------


def test_settings_from_params_by_the_references_names():
    params = {
        "Switchover TS Timeout": 20,
        "Switchover TS Failure Retry Delay": "3",
        "Switchover Max TS Failures": 4,
        "Switchover Ping on Aux Connection": "Yes",
        "Switchover Max Restarts": 5,
        "Switchover Max Restarts Period": 600,
        "Switchover Max Sequential Restarts": 3,
    }
    s = MonitorSettings.from_params(params)
    assert (s.module, s.timeout, s.retry_delay, s.max_failures) == ("TsServer", 20, 3, 4)
    assert s.ping_on_aux and s.normal_channel == AUX and s.alternate_channel == MAIN
    assert (s.max_restarts, s.max_restarts_period, s.max_sequential_restarts) == (5, 600, 3)
    assert MonitorSettings.from_params({}) == DEFAULTS


def test_settings_for_ip_monitoring_use_the_ip_parameters():
    s = MonitorSettings.from_params(
        {"Switchover Monitoring": "IP", "Switchover IP Timeout": 15,
         "Switchover IP Retry Delay": 2, "Switchover TS Timeout": 30}
    )
    assert (s.module, s.timeout, s.retry_delay) == ("IP", 15, 2)


@pytest.mark.parametrize(
    "response, pid",
    [({"pid": 42}, 42), ({"body": {"pid": "7"}}, 7), (99, 99), (None, 0), ({}, 0),
     ({"pid": ""}, 0), ({"pid": 0}, 0)],
)
def test_extract_pid(response, pid):
    assert extract_pid(response) == pid


# --- the pure core ------------------------------------------------------------------


def test_rejections_count_but_keep_the_regular_interval():
    """The sample: each rejection is counted, the next ping waits the TS Timeout."""
    core = ModuleMonitorCore(DEFAULTS)
    rej = Outcome(REJECTED)
    steps = []
    for _ in range(4):
        channel = core.ping().channel
        d = core.on_outcome(rej, 0)
        steps.append((channel, d.next_delay, d.event and d.event.kind, d.logs[-1][1]))
    assert steps == [
        (MAIN, 10, None, "Ping rejected to the TsServer module: error count [1] is within "
         "maximum [2], ping will be reissued with regular timeout"),
        (MAIN, 10, None, "Reached maximum error count [2] pinging the TsServer module on the "
         "main connection, resetting error count and trying the alternate connection"),
        (AUX, 10, None, "Ping rejected to the TsServer module: error count [1] is within "
         "maximum [2], ping will be reissued with regular timeout"),
        (AUX, None, MODULE_DOWN, "Ping was rejected to the TsServer module: reached maximum "
         "error count [2], signaling that the module is down"),
    ]
    assert core.channel == MAIN  # reverted for the next start


def test_timeouts_retry_after_the_retry_delay():
    core = ModuleMonitorCore(DEFAULTS)
    delays = [core.on_outcome(Outcome(TIMEOUT), 0).next_delay for _ in range(3)]
    assert delays == [1, 1, 1]
    assert core.channel == AUX and core.error_count == 1
    assert core.on_outcome(Outcome(TIMEOUT), 0).event.kind == MODULE_DOWN


@pytest.mark.parametrize("status", [CONNECTION_LOST, TIMEOUT])
def test_failure_kinds_that_retry(status):
    core = ModuleMonitorCore(DEFAULTS)
    d = core.on_outcome(Outcome(status), 0)
    assert d.next_delay == 1 and d.retry and core.error_count == 1


def test_empty_response_is_a_failure():
    core = ModuleMonitorCore(DEFAULTS)
    d = core.on_outcome(Outcome(OK, response={}), 0)
    assert core.error_count == 1 and d.next_delay == 1
    assert "returned no process ID" in d.logs[0][1]


def test_cancelled_does_nothing():
    core = ModuleMonitorCore(DEFAULTS)
    d = core.on_outcome(Outcome(CANCELLED), 0)
    assert d.next_delay is None and d.event is None and core.error_count == 0


def test_success_resets_the_count_and_returns_to_main():
    core = ModuleMonitorCore(DEFAULTS)
    core.on_outcome(Outcome(TIMEOUT), 0)
    core.on_outcome(Outcome(TIMEOUT), 0)
    assert core.channel == AUX
    d = core.on_outcome(ok(100), 0)
    assert d.event.kind == SYSTEM_OK and d.event.channel == AUX and d.event.pid == 100
    assert d.next_delay == 10 and core.error_count == 0 and core.channel == MAIN


def test_ping_on_aux_makes_aux_the_normal_channel():
    core = ModuleMonitorCore(MonitorSettings(ping_on_aux=True))
    assert core.ping().channel == AUX
    core.on_outcome(Outcome(TIMEOUT), 0)
    d = core.on_outcome(Outcome(TIMEOUT), 0)
    assert core.ping().channel == MAIN
    assert "on the auxiliary connection, resetting error count" in d.logs[0][1]


def test_first_pid_is_not_a_restart_and_one_restart_is_tolerated():
    core = ModuleMonitorCore(DEFAULTS)
    assert core.on_outcome(ok(100), 0).event.kind == SYSTEM_OK
    assert core.on_outcome(ok(100), 10).event.kind == SYSTEM_OK
    d = core.on_outcome(ok(200), 20)
    assert d.event.kind == SYSTEM_OK
    assert "has restarted: process ID [100] is now [200]" in d.logs[-1][1]


def test_sequential_restarts_reach_the_maximum():
    core = ModuleMonitorCore(MonitorSettings(max_restarts=10))
    core.on_outcome(ok(1), 0)
    core.on_outcome(ok(2), 10)
    d = core.on_outcome(ok(3), 20)
    assert d.event.kind == MODULE_DOWN and d.next_delay is None
    assert "maximum sequential restart count [2]" in d.event.detail


def test_restarts_within_the_period_reach_the_maximum():
    s = MonitorSettings(max_restarts=2, max_sequential_restarts=10, max_restarts_period=300)
    core = ModuleMonitorCore(s)
    core.on_outcome(ok(1), 0)
    core.on_outcome(ok(2), 10)  # restart 1
    core.on_outcome(ok(2), 20)
    d = core.on_outcome(ok(3), 200)  # restart 2, 190 s after the first
    assert d.event.kind == MODULE_DOWN
    assert "maximum restart count [2] within 300 second(s)" in d.event.detail


def test_restarts_outside_the_period_are_forgotten():
    s = MonitorSettings(max_restarts=2, max_sequential_restarts=10, max_restarts_period=300)
    core = ModuleMonitorCore(s)
    core.on_outcome(ok(1), 0)
    core.on_outcome(ok(2), 10)
    core.on_outcome(ok(2), 20)
    assert core.on_outcome(ok(3), 400).event.kind == SYSTEM_OK


# --- FakeClock replays --------------------------------------------------------------


class ClockLog(logging.Handler):
    """Records (fake time, topic, message) of every log line."""

    def __init__(self, clock: FakeClock, *topics: str) -> None:
        super().__init__(logging.DEBUG)
        self.clock = clock
        self.lines: list[tuple[float, str, str]] = []
        self.loggers = [logging.getLogger(t) for t in topics]

    def emit(self, record: logging.LogRecord) -> None:
        if record.levelno >= logging.INFO:
            self.lines.append((self.clock.now(), record.name, record.getMessage()))

    def __enter__(self) -> "ClockLog":
        for lg in self.loggers:
            lg.addHandler(self)
            lg.setLevel(logging.DEBUG)
        return self

    def __exit__(self, *exc: object) -> None:
        for lg in self.loggers:
            lg.removeHandler(self)


def make_driver(clock, links, settings=DEFAULTS):
    posted: list[tuple[float, object]] = []
    tramp = Trampoline()
    driver = ModuleMonitorDriver(
        clock, links, settings, lambda e: posted.append((clock.now(), e)), tramp
    )
    tramp.handler = driver.handle
    return driver, tramp, posted


def test_replay_ts_ping_failure_sample():
    """The reference's sample: a rejected module, default parameters.

    14:17:55.667 rejected [1] / 14:18:05.667 max on main / 14:18:15.667 rejected [1] /
    14:18:25.667 max on aux, module down: 10 s apart, module down 30 s after the first
    rejected ping.
    """
    clock = FakeClock()
    links = FakeLinks(clock)
    links.respond("TsServer", Reply(REJECTED))
    driver, tramp, posted = make_driver(clock, links)
    with ClockLog(clock, "ModuleMonitor") as logs:
        tramp(StartMonitoring())
        clock.advance(100)
    lines = [(t, m) for t, _, m in logs.lines if not m.startswith("Monitoring")]
    first = lines[0][0]
    assert first == 10  # the first ping goes out one TS Timeout after the start
    assert [(t - first, m) for t, m in lines] == [
        (0, "Ping rejected to the TsServer module: error count [1] is within maximum [2], "
            "ping will be reissued with regular timeout"),
        (10, "Reached maximum error count [2] pinging the TsServer module on the main "
             "connection, resetting error count and trying the alternate connection"),
        (20, "Ping rejected to the TsServer module: error count [1] is within maximum [2], "
             "ping will be reissued with regular timeout"),
        (30, "Ping was rejected to the TsServer module: reached maximum error count [2], "
             "signaling that the module is down"),
    ]
    assert [(t - first, e.kind, e.channel) for t, e in posted] == [(30, MODULE_DOWN, AUX)]
    assert [(s.at, s.channel) for s in links.sent_to("TsServer")] == [
        (10, MAIN), (20, MAIN), (30, AUX), (40, AUX)]
    assert not driver.running and clock.pending() == 0  # stopped until restarted


def test_replay_module_hung_timeouts():
    """No answer at all: twice on main, twice on aux, each failure followed by 1 s."""
    clock = FakeClock()
    links = FakeLinks(clock)
    links.respond("TsServer", SILENCE)
    driver, tramp, posted = make_driver(clock, links)
    tramp(StartMonitoring())
    clock.advance(200)
    assert [(s.at, s.channel, s.timeout) for s in links.sent_to("TsServer")] == [
        (10, MAIN, 10), (21, MAIN, 10), (32, AUX, 10), (43, AUX, 10)]
    # module down 2*M*T + (2M-1)*R = 43 s after the first ping
    assert [(t, e.kind) for t, e in posted] == [(53, MODULE_DOWN)]


def test_healthy_module_is_pinged_every_ts_timeout():
    clock = FakeClock()
    links = FakeLinks(clock)
    links.respond("TsServer", Reply(OK, {"pid": 4242}, latency=0.5))
    driver, tramp, posted = make_driver(clock, links)
    tramp(StartMonitoring())
    clock.advance(41)
    assert [s.at for s in links.sent_to("TsServer")] == [10, 20.5, 31]
    assert [(t, e.kind, e.pid) for t, e in posted] == [
        (10.5, SYSTEM_OK, 4242), (21, SYSTEM_OK, 4242), (31.5, SYSTEM_OK, 4242)]


def test_update_settings_applies_at_once():
    """Dynamic parameters: a pending wait is re-timed, the next ping uses the new values."""
    clock = FakeClock()
    links = FakeLinks(clock)
    links.respond("TsServer", SILENCE)
    driver, tramp, posted = make_driver(clock, links)
    tramp(StartMonitoring())
    clock.advance(5)  # waiting for the first ping (due at 10)
    tramp(UpdateSettings(MonitorSettings(timeout=6, retry_delay=2, max_failures=1)))
    clock.advance(100)
    sent = [(s.at, s.channel, s.timeout) for s in links.sent_to("TsServer")]
    # first ping 6 s after the start; one failure per channel; retry delay 2
    assert sent == [(6, MAIN, 6), (14, AUX, 6)]
    assert [(t, e.kind) for t, e in posted] == [(20, MODULE_DOWN)]


def test_stop_and_restart_ignore_stale_replies():
    clock = FakeClock()
    links = FakeLinks(clock)
    links.respond("TsServer", Reply(REJECTED, latency=5))
    driver, tramp, posted = make_driver(clock, links)
    tramp(StartMonitoring())
    clock.advance(12)  # a ping in flight since 10
    driver.stop()
    tramp(StartMonitoring())
    clock.advance(4)  # the old reply arrives at 15: ignored
    assert driver.core.error_count == 0
    clock.advance(12)  # new ping at 22, rejected at 27
    assert driver.core.error_count == 1


# --- the actor ----------------------------------------------------------------------


def test_actor_posts_module_down_on_the_fake_clock():
    clock = FakeClock()
    links = FakeLinks(clock)
    links.respond("TsServer", Reply(REJECTED))
    down = threading.Event()
    posted = []

    def post(event):
        posted.append((clock.now(), event))
        if event.kind == MODULE_DOWN:
            down.set()

    ref = ModuleMonitor.start(clock, links, DEFAULTS, post)
    pump(clock, ref)
    while clock.now() < 45 and not down.is_set():
        clock.advance(0.5)
        pump(clock, ref)
    assert down.wait(timeout=2)
    assert [(t, e.kind) for t, e in posted] == [(40, MODULE_DOWN)]
    assert ref.proxy().snapshot().get(timeout=2)["running"] is False
