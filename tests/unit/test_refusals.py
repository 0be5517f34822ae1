"""Refused connections: the monitor events that make a refusal, and the rate limit."""
from __future__ import annotations

import logging

import pytest
import zmq

from switchover.transport import refusals
from switchover.transport.refusals import KEY_REFUSED, MALFORMED, TIMEOUT, RefusalCore, RefusalLog

ACC, DIS, OK = zmq.EVENT_ACCEPTED, zmq.EVENT_DISCONNECTED, zmq.EVENT_HANDSHAKE_SUCCEEDED
AUTH = zmq.EVENT_HANDSHAKE_FAILED_AUTH


def run(events):
    core = RefusalCore(30.0, address_of=lambda fd: f"10.0.0.{fd}:5{fd}")
    return [out for event, value, now in events if (out := core.feed(event, value, now))]


@pytest.mark.parametrize("events, refused", [
    ([(ACC, 7, 0.0), (DIS, 7, 0.1)], [("10.0.0.7:57", MALFORMED)]),
    ([(ACC, 7, 0.0), (DIS, 7, 30.0)], [("10.0.0.7:57", TIMEOUT)]),
    ([(ACC, 7, 0.0), (AUTH, 400, 0.1), (DIS, 7, 0.1)], [("10.0.0.7:57", KEY_REFUSED)]),
    ([(ACC, 7, 0.0), (OK, 0, 0.1), (DIS, 7, 9.0)], []),
    ([(ACC, 7, 0.0), (OK, 0, 0.1), (DIS, 7, 1.0), (ACC, 7, 2.0), (DIS, 7, 2.1)],
     [("10.0.0.7:57", MALFORMED)]),
    ([(DIS, 9, 1.0)], [("unknown", MALFORMED)]),
])
def test_which_connections_were_refused(events, refused):
    assert run(events) == refused


def test_the_core_forgets_closed_connections():
    core = RefusalCore(30.0, address_of=str)
    for fd in range(1000):
        core.feed(ACC, fd, 0.0)
        core.feed(DIS, fd, 0.1)
    assert core.open == {} and core.done == set()


def test_one_line_per_address_and_reason_per_interval(caplog):
    caplog.set_level(logging.WARNING, logger="Security")
    before = refusals.REFUSALS[("admin", MALFORMED)]
    log = RefusalLog("admin", interval=60.0)
    logged = [log.refused(f"192.0.2.1:{40000 + i}", MALFORMED, i * 0.01) for i in range(500)]
    assert logged.count(True) == 1
    assert log.refused("192.0.2.1:41000", KEY_REFUSED, 5.0)
    assert log.refused("192.0.2.2:41000", MALFORMED, 5.0)
    assert log.refused("192.0.2.1:42000", MALFORMED, 61.0)
    lines = [r.getMessage() for r in caplog.records]
    assert lines == [
        "refused a connection to the admin socket from 192.0.2.1:40000: malformed greeting",
        "refused a connection to the admin socket from 192.0.2.1:41000: CURVE key refused",
        "refused a connection to the admin socket from 192.0.2.2:41000: malformed greeting",
        "refused a connection to the admin socket from 192.0.2.1:42000: "
        "malformed greeting (499 more since the last line)",
    ]
    assert refusals.REFUSALS[("admin", MALFORMED)] - before == 502
