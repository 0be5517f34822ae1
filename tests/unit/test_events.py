"""The event-log reader: since, kinds, both servers merged by time, the printed line."""
from __future__ import annotations

import datetime as dt

import pytest

from switchover.events import format_entry, merge, parse_since, select
from tests.fake_host import EVENTS

UTC = dt.timezone.utc
ACTIVE = [
    {"time": "2026-12-02T14:40:21.600+00:00", "server": "ICServer1", "level": "error",
     "message": "Switchover Service: ICServer1 is stale (inactive) until restarted: "
                "discontinued by ICServer2"},
    {"time": "2026-12-02T08:00:00.000+00:00", "server": "ICServer1", "level": "info",
     "message": "Switchover Service: ICServer1 is the active server (generation 3): "
                "no answer from the peer"},
]


def test_parse_since():
    now = dt.datetime(2026, 12, 2, 12, 0, tzinfo=UTC)
    assert parse_since("90s", now) == dt.datetime(2026, 12, 2, 11, 58, 30, tzinfo=UTC)
    assert parse_since("2h", now) == dt.datetime(2026, 12, 2, 10, 0, tzinfo=UTC)
    assert parse_since("1d", now) == dt.datetime(2026, 12, 1, 12, 0, tzinfo=UTC)
    assert parse_since("2026-12-02T08:59") == dt.datetime(2026, 12, 2, 8, 59, tzinfo=UTC)
    assert parse_since("2026-12-02T08:59+01:00").utcoffset() == dt.timedelta(hours=1)
    with pytest.raises(ValueError, match="expected an ISO-8601 time"):
        parse_since("last night")


def test_select_by_time_and_kind():
    since = parse_since("2026-12-02T14:40:21.543+00:00")
    assert [e["message"] for e in select(EVENTS, since)] == [
        "Switchover Service: Switch Initiated", "commence hook succeeded: vip-up",
        'alice: parameter "Switchover TS Timeout" 10 -> 7']
    assert [e["kind"] for e in select(EVENTS, kinds=["switch", "hook"])] == [
        "switch", "switch", "hook"]
    assert select(EVENTS, kinds=["param"])[0]["operator"] == "alice"


def test_merge_orders_both_servers_and_drops_repeats():
    merged = merge(EVENTS, ACTIVE, EVENTS[:2])
    assert [(e["server"], e["time"][11:23]) for e in merged] == [
        ("ICServer1", "08:00:00.000"), ("ICServer2", "08:59:50.125"),
        ("ICServer2", "14:40:21.543"), ("ICServer2", "14:40:21.544"),
        ("ICServer1", "14:40:21.600"), ("ICServer2", "14:40:22.010"),
        ("ICServer2", "15:00:00.000")]


def test_printed_lines():
    lines = [format_entry(e) for e in select(merge(EVENTS, ACTIVE),
                                             parse_since("2026-12-02T14:00"))]
    assert lines == [
        "2026-12-02 14:40:21.543  ICServer2  switch      error   TS Ping Failure",
        "2026-12-02 14:40:21.544  ICServer2  switch      error   Switchover Service: Switch "
        "Initiated  (reason TS Ping Failure, generation 4)",
        "2026-12-02 14:40:21.600  ICServer1  switch      error   Switchover Service: "
        "ICServer1 is stale (inactive) until restarted: discontinued by ICServer2",
        "2026-12-02 14:40:22.010  ICServer2  hook        info    commence hook succeeded: "
        "vip-up",
        '2026-12-02 15:00:00.000  ICServer2  param       notice  alice: parameter '
        '"Switchover TS Timeout" 10 -> 7',
    ]
