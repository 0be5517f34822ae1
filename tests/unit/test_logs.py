"""The switchover log's destinations and formats, and the event log's kinds."""
from __future__ import annotations

import logging
import re
from pathlib import Path

import orjson
import pytest

from switchover.config_ops import LogConfig
from switchover.logs import EventLog, configure_logging, destinations, read_events, reopen


@pytest.fixture(autouse=True)
def restore_root_logging():
    root = logging.getLogger()
    handlers, level = list(root.handlers), root.level
    yield
    for handler in list(root.handlers):
        root.removeHandler(handler)
        handler.close()
    for handler in handlers:
        root.addHandler(handler)
    root.setLevel(level)


def test_one_destination_by_default(tmp_path):
    log = tmp_path / "switchover.log"
    assert destinations("auto", log, {}) == (True, False)
    assert destinations("auto", log, {"JOURNAL_STREAM": "8:1234"}) == (False, True)
    assert destinations("both", log, {}) == (True, True)
    assert destinations("stderr", log, {}) == (False, True)
    assert destinations("auto", None, {}) == (False, True)


def test_file_lines_carry_the_date(tmp_path, capsys):
    log = tmp_path / "switchover.log"
    configure_logging(log, server="ICServer1", env={})
    logging.getLogger("PrimaryMonitor").warning("ping failed")
    line = log.read_text().splitlines()[-1]
    assert re.fullmatch(r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d\.\d{3} WARNING PrimaryMonitor +"
                        r"ping failed", line), line
    assert capsys.readouterr().err == ""


def test_under_systemd_stderr_carries_syslog_priorities(tmp_path, capsys):
    log = tmp_path / "switchover.log"
    configure_logging(log, server="ICServer1", env={"JOURNAL_STREAM": "8:1234"})
    logging.getLogger("SwitchoverStates").error("Reconnect period expired")
    logging.getLogger("SwitchoverStates").log(25, "Manual switchover")
    logging.getLogger("SwitchoverStates").info("Backup")
    assert capsys.readouterr().err.splitlines() == [
        "<3>[ICServer1] SwitchoverStates Reconnect period expired",
        "<5>[ICServer1] SwitchoverStates Manual switchover",
        "<6>[ICServer1] SwitchoverStates Backup",
    ]
    assert not log.exists()


def test_json_lines(tmp_path):
    log = tmp_path / "switchover.log"
    configure_logging(log, server="ICServer2", settings=LogConfig(format="json"), env={})
    logging.getLogger("NotifierLib").info("module %s registered", "TsServer")
    entry = orjson.loads(log.read_text().splitlines()[-1])
    assert {k: entry[k] for k in ("server", "level", "topic", "message")} == {
        "server": "ICServer2", "level": "info", "topic": "NotifierLib",
        "message": "module TsServer registered"}
    assert entry["time"].endswith("+00:00")


def test_reopen_follows_a_rotated_file(tmp_path):
    log = tmp_path / "switchover.log"
    configure_logging(log, env={})
    logging.getLogger("X").info("before")
    log.rename(tmp_path / "switchover.log.1")
    reopen()
    logging.getLogger("X").info("after")
    assert "before" in (tmp_path / "switchover.log.1").read_text()
    assert "after" not in (tmp_path / "switchover.log.1").read_text()
    assert "after" in log.read_text()


def test_event_log_reopen(tmp_path):
    path = tmp_path / "events.jsonl"
    events = EventLog(path, "ICServer1")
    events.record("info", "one")
    path.rename(tmp_path / "events.jsonl.1")
    events.reopen()
    events.record("info", "two")
    events.close()
    assert [e["message"] for e in read_events(path)] == ["two"]


def test_manual_switch_is_a_notice(tmp_path, caplog):
    caplog.set_level(logging.INFO)
    events = EventLog(None, "ICServer2")
    entry = events.record("error", "Switchover Service: Switch Initiated",
                          reason="Manual Switchover")
    other = events.record("error", "Switchover Service: Switch Initiated",
                          reason="TS Ping Failure")
    assert (entry["level"], other["level"]) == ("notice", "error")
    assert [r.levelname for r in caplog.records] == ["NOTICE", "ERROR"]


@pytest.mark.parametrize("message, fields, kind", [
    ("Switchover Service: Switch Initiated", {"reason": "TS Ping Failure"}, "switch"),
    ("Manual switchover requested by operator", {}, "switch"),
    ("Switchover Service: ICServer1 is stale (inactive) until restarted: x", {}, "switch"),
    ("File replication: start-up copy done", {}, "replication"),
    ("Re-synchronizing with the primary ICServer1", {}, "state"),
    ("params.set by alice", {"kind": "param"}, "param"),
])
def test_kinds(message, fields, kind):
    assert EventLog(None, "A").record("info", message, **fields)["kind"] == kind


def test_read_events_tail_skips_the_cut_line(tmp_path):
    path = tmp_path / "events.jsonl"
    events = EventLog(path, "ICServer1")
    for i in range(100):
        events.record("info", f"entry {i:03d}")
    events.close()
    whole = read_events(path)
    tail = read_events(path, tail_bytes=500)
    assert len(whole) == 100
    assert 0 < len(tail) < 10 and tail == whole[-len(tail):]
