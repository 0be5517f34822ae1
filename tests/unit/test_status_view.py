"""The status screen from fixed status documents (golden text): both servers, a down
peer, a refused key, and every warning a host reports."""
from __future__ import annotations

import datetime as dt
import io

from switchover.status_view import age, answered, render_rich, render_text, screen

NOW = dt.datetime(2026, 12, 2, 15, 0, 0, tzinfo=dt.timezone.utc)
ORDER = ["ICServer1", "ICServer2"]

ACTIVE = {
    "server": "ICServer1", "letter": "A", "state": "Primary", "role": "active",
    "reason": "start-up complete", "generation": 3, "release": "2026.1.0", "mode": "auto",
    "upgrade": None, "time": "2026-12-02T15:00:00.000+00:00",
    "peer": {"name": "ICServer2", "reachable": True, "role": "backup", "state": "Backup",
             "generation": 3, "release": "2026.1.0",
             "last_answered": "2026-12-02T14:59:58.000+00:00"},
    "connections": {"main": None, "aux": None},
    "replication": {"ds": {"state": "in sync", "seq": 12},
                    "files": {"state": "in sync"},
                    "interactions": {"state": "in sync", "shadow_lag_ms": 4}},
    "last_switch": {"time": "2026-12-01T22:14:05.120+00:00", "server": "ICServer1",
                    "reason": "TS Ping Failure", "generation": 3},
    "warnings": [], "messages": [],
}
BACKUP = {
    **ACTIVE, "server": "ICServer2", "letter": "B", "state": "Backup", "role": "backup",
    "mode": "manual switch only",
    "peer": {"name": "ICServer1", "reachable": True, "role": "active", "state": "Primary",
             "generation": 3, "release": "2026.1.0", "last_answered": 0.4},
    "connections": {"main": True, "aux": False},
    "replication": {"ds": {"state": "lagging by 4 changes"},
                    "files": {"state": "not current: start-up copy failed (disk full)"},
                    "interactions": {"state": "syncing"}},
    "warnings": ["automatic switching is off: manual switch only",
                 "file replication is not current: start-up copy failed (disk full)"],
}


def test_both_servers_answered():
    view = screen({"ICServer1": ACTIVE, "ICServer2": BACKUP}, ORDER, NOW)
    assert render_text(view) == (
        "SERVER     ROLE    STATE    GEN  RELEASE   MODE    MAIN  AUX   DS                    "
        "FILES        INTERACTIONS  LAST SWITCH                       ANSWERED\n"
        "ICServer1  active  Primary  3    2026.1.0  auto    -     -     in sync               "
        "in sync      in sync       2026-12-01 22:14 TS Ping Failure  now\n"
        "ICServer2  backup  Backup   3    2026.1.0  manual  up    down  lagging by 4 changes  "
        "not current  syncing       2026-12-01 22:14 TS Ping Failure  now\n"
        "WARNING: ICServer2: automatic switching is off: manual switch only\n"
        "WARNING: ICServer2: file replication is not current: start-up copy failed "
        "(disk full)\n")


def test_a_down_peer_is_shown_from_what_the_active_last_saw():
    active = {**ACTIVE, "peer": {"name": "ICServer2", "reachable": False, "role": "backup",
                                 "state": "Backup", "generation": 3,
                                 "last_answered": "2026-12-02T14:58:45.000+00:00",
                                 "warnings": ["the backup has not answered for 75 s"]},
              "warnings": ["no backup: a failure of this server is not covered"]}
    view = screen({"ICServer1": active, "ICServer2": None}, ORDER, NOW,
                  {"ICServer2": "no answer from ICServer2 at tcp://10.60.0.3:3636"})
    assert render_text(view).splitlines() == [
        "SERVER     ROLE    STATE      GEN  RELEASE   MODE  MAIN  AUX  DS       FILES    "
        "INTERACTIONS  LAST SWITCH                       ANSWERED",
        "ICServer1  active  Primary    3    2026.1.0  auto  -     -    in sync  in sync  "
        "in sync       2026-12-01 22:14 TS Ping Failure  now",
        "ICServer2  backup  no answer  3    -         -     -     -    -        -        "
        "-             -                                 1m15s ago",
        "WARNING: ICServer1: no backup: a failure of this server is not covered",
        "WARNING: ICServer2: no answer from ICServer2 at tcp://10.60.0.3:3636",
        "WARNING: ICServer2: the backup has not answered for 75 s",
    ]


def test_a_server_nobody_has_heard_from():
    view = screen({"ICServer1": None, "ICServer2": None}, ORDER, NOW)
    assert [(r.server, r.state, r.answered) for r in view.rows] == [
        ("ICServer1", "no answer", "never"), ("ICServer2", "no answer", "never")]


def test_stale_error_and_upgrade_warnings_and_modes():
    stale = {**ACTIVE, "state": "Inactive", "role": "stale", "upgrade": "higher",
             "warnings": ["this server is stale: restart it to rejoin as backup",
                          "this server is in the Error state and serves nothing: x; fix "
                          "the cause and restart it"]}
    view = screen({"ICServer1": stale, "ICServer2": BACKUP}, ORDER, NOW)
    assert view.rows[0].mode == "upgrade higher"
    assert view.warnings[:2] == (
        "ICServer1: this server is stale: restart it to rejoin as backup",
        "ICServer1: this server is in the Error state and serves nothing: x; fix the cause "
        "and restart it")
    assert len(view.warnings) == 4


def test_missing_keys_render_as_dashes():
    view = screen({"ICServer1": {"server": "ICServer1"}, "ICServer2": None}, ORDER, NOW)
    assert render_text(view).splitlines()[1].split() == [
        "ICServer1", "-", "-", "-", "-", "-", "-", "-", "-", "-", "-", "-", "now"]


def test_json_rows_carry_no_monotonic_values():
    rows = screen({"ICServer1": ACTIVE, "ICServer2": BACKUP}, ORDER, NOW).as_dict()
    assert rows["servers"][1]["last_switch"] == "2026-12-01 22:14 TS Ping Failure"
    assert rows["servers"][1]["answered"] == "now"


def test_ages():
    assert [age(s) for s in (0.2, 5, 75, 3725, 90000)] == [
        "now", "5s ago", "1m15s ago", "1h02m ago", "1d ago"]
    assert answered(None, NOW) == "never"
    assert answered(12.0, NOW) == "12s ago"


def test_rich_draws_the_same_rows():
    from rich.console import Console

    out = io.StringIO()
    render_rich(screen({"ICServer1": ACTIVE, "ICServer2": BACKUP}, ORDER, NOW),
                Console(file=out, width=200, color_system=None))
    text = out.getvalue()
    assert "ICServer1" in text and "lagging by 4 changes" in text
    assert "WARNING: ICServer2: automatic switching is off" in text
