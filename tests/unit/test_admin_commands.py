"""AdminCommands against a fake host: the rights table and every host command."""
from __future__ import annotations

import dataclasses
import datetime as dt

import pytest

from switchover.actors.admin_commands import AdminCommands
from switchover.actors.messages import RequestSwitch
from tests.fake_host import STATUS, FakeHost

ALL = frozenset({"status", "remote-control", "master"})
STATUS_ONLY = frozenset({"status"})
REMOTE = frozenset({"status", "remote-control"})


@pytest.mark.parametrize("command, args, rights, errno", [
    ("status", {}, frozenset(), 403),
    ("status", {}, STATUS_ONLY, 0),
    ("ping", {}, frozenset(), 403),
    ("ping", {}, STATUS_ONLY, 0),
    ("switch", {}, STATUS_ONLY, 403),
    ("switch", {}, REMOTE, 0),
    ("switch", {"immediate": True}, REMOTE, 403),
    ("switch", {"immediate": True}, ALL, 0),
    ("ds.resync", {}, STATUS_ONLY, 403),
    ("ds.resync", {}, REMOTE, 0),
    ("pause", {}, STATUS_ONLY, 403),
    ("pause", {}, REMOTE, 0),
    ("resume", {}, REMOTE, 0),
    ("rejoin", {}, STATUS_ONLY, 403),
    ("rejoin", {}, REMOTE, 0),
    ("nonsense", {}, ALL, 404),
])
def test_rights_table(command, args, rights, errno):
    host = FakeHost()
    out = AdminCommands(host.deps()).handle(command, args, rights)
    assert out["errno"] == errno, out
    if errno == 403:
        assert not host.asked and not host.pings and not host.service.calls
        assert "right" in out["reason"]


def test_immediate_refusal_names_the_master_right():
    out = AdminCommands(FakeHost().deps()).handle("switch", {"immediate": True}, REMOTE)
    assert out["reason"] == "command 'switch' needs the 'master' right"


def test_unknown_command_lists_the_known_ones():
    out = AdminCommands(FakeHost().deps()).handle("stauts", {}, ALL)
    assert out["reason"] == ("unknown command 'stauts' (known: ds.get, ds.resync, ds.set, "
                             "events, params.set, pause, ping, rejoin, resume, status, switch)")


def test_status_adds_replication_modules_warnings_and_messages():
    host = FakeHost(status={**STATUS, "mode": "manual switch only",
                            "warnings": ["the peer has not answered for 30 s"]})
    out = AdminCommands(host.deps()).handle("status", {}, STATUS_ONLY)["result"]
    assert out["replication"]["ds"] == {"state": "in sync", "seq": 7}
    assert out["replication"]["files"]["state"].startswith("not running")
    assert out["modules"]["TsServer"]["pid"] == 99
    registered = dt.datetime.fromisoformat(out["modules"]["TsServer"]["registered_at"])
    assert 59 < (dt.datetime.fromisoformat(out["time"]) - registered).total_seconds() < 61
    assert out["last_switch"] == {"time": "2026-12-02T14:40:21.544+00:00", "server": "ICServer2",
                                  "reason": "TS Ping Failure", "generation": 4}
    assert out["warnings"] == ["the peer has not answered for 30 s",
                               "automatic switching is off: manual switch only",
                               "ds: 2 changes pending"]
    assert out["messages"] == ["2026-12-02T10:00:00.000+00:00 Backup started"]


@pytest.mark.parametrize("state, text", [
    ("Inactive", "this server is stale: restart it to rejoin as backup"),
    ("Error", "this server is in the Error state and serves nothing: disk full; "
              "fix the cause and restart it"),
])
def test_status_warns_of_stale_and_error(state, text):
    host = FakeHost(status={**STATUS, "state": state, "reason": "disk full"})
    assert text in AdminCommands(host.deps()).status({})["warnings"]


def test_switch_on_the_backup_asks_main():
    host = FakeHost(role="backup")
    out = AdminCommands(host.deps()).handle("switch", {"immediate": True}, ALL)
    assert out["result"] == {"accepted": True, "message": "Manual Switchover"}
    assert host.asked == [RequestSwitch(True, "local operator")]


def test_switch_refused_by_main_is_409():
    host = FakeHost(role="backup")
    host.switch_reply = {"accepted": False, "message": "ICServer2 is Reconnecting"}
    out = AdminCommands(host.deps()).handle("switch", {}, REMOTE)
    assert (out["errno"], out["reason"]) == (409, "ICServer2 is Reconnecting")


def test_switch_on_the_active_goes_to_the_backup():
    host = FakeHost(role="active")
    out = AdminCommands(host.deps()).handle("switch", {}, REMOTE)
    assert out["result"]["message"] == "switch requested on the backup ICServer1"
    assert host.peer_requests == [{"op": "switch", "immediate": False,
                                   "server": "local operator on ICServer2"}]
    host.peer_answer = None
    assert AdminCommands(host.deps()).handle("switch", {}, REMOTE)["errno"] == 503
    host.peer_answer = {"status": "error", "reason": "this server is not the backup"}
    out = AdminCommands(host.deps()).handle("switch", {}, REMOTE)
    assert (out["errno"], out["reason"]) == (409, "ICServer1 refused: this server is not "
                                                  "the backup")


def test_switch_on_a_stale_server_is_refused():
    out = AdminCommands(FakeHost(role="stale").deps()).handle("switch", {}, REMOTE)
    assert (out["errno"], out["reason"]) == (409, "ICServer2 is stale: nothing to switch")


def test_ping_from_the_backup():
    host = FakeHost()
    out = AdminCommands(host.deps()).handle("ping", {"channel": "aux"}, STATUS_ONLY)["result"]
    assert out == {"channel": "aux", "target": "TsServer", "outcome": "ok",
                   "body": {"pid": 4242}, "detail": ""}
    assert host.pings == [("aux", "TsServer", "TS Diagnostic Ping", 10.0)]


def test_ping_refusals():
    commands = AdminCommands(FakeHost(role="active").deps())
    assert commands.handle("ping", {"channel": "side"}, STATUS_ONLY)["errno"] == 400
    assert commands.handle("ping", {}, STATUS_ONLY)["errno"] == 409


def test_service_refusals_keep_their_errno():
    commands = AdminCommands(FakeHost().deps())
    assert commands.handle("ds.get", {}, STATUS_ONLY) == {
        "status": "error", "errno": 400, "reason": "path must start with /", "result": None}
    assert commands.handle("ds.set", {}, REMOTE)["errno"] == 409


def test_events_selects_by_time_and_kind():
    commands = AdminCommands(FakeHost().deps())
    out = commands.handle("events", {"since": "2026-12-02T14:40:21.543+00:00"}, STATUS_ONLY)
    assert [e["message"] for e in out["result"]["events"]] == [
        "Switchover Service: Switch Initiated", "commence hook succeeded: vip-up",
        'alice: parameter "Switchover TS Timeout" 10 -> 7']
    out = commands.handle("events", {"kinds": ["switch"]}, STATUS_ONLY)["result"]
    assert [e["kind"] for e in out["events"]] == ["switch", "switch"]
    assert out["server"] == "ICServer2" and not out["truncated"]
    out = commands.handle("events", {"limit": 1}, STATUS_ONLY)["result"]
    assert len(out["events"]) == 1 and out["truncated"]
    assert commands.handle("events", {"kinds": ["boot"]}, STATUS_ONLY)["errno"] == 400
    assert commands.handle("events", {"since": "yesterday"}, STATUS_ONLY)["errno"] == 400


def test_changes_are_recorded_with_the_operator_key_name():
    from switchover.transport.security import Rights

    host = FakeHost()
    commands = AdminCommands(host.deps())
    alice = Rights(REMOTE, "alice")
    commands.handle("ds.resync", {"path": "/", "quiet": False}, alice)
    commands.handle("status", {}, alice)
    commands.handle("switch", {}, STATUS_ONLY | {"remote-control"})
    assert [(r["kind"], r["operator"], r["message"]) for r in host.recorded] == [
        ("operator", "alice", "alice: ds.resync path=/"),
        ("operator", "local operator", "local operator: switch")]
    commands.handle("switch", {}, alice)
    assert host.asked[-1] == RequestSwitch(False, "alice")


def test_refused_commands_are_not_recorded():
    host = FakeHost()
    AdminCommands(host.deps()).handle("ds.set", {}, REMOTE)
    assert host.recorded == []


def test_parameter_changes_are_recorded_old_to_new():
    from switchover.transport.security import Rights

    host = FakeHost()
    AdminCommands(host.deps()).handle(
        "params.set", {"name": "Switchover TS Timeout", "value": "7"}, Rights(REMOTE, "bob"))
    assert host.recorded == [{"level": "notice", "kind": "param", "operator": "bob",
                              "command": "params.set",
                              "message": 'bob: parameter "Switchover TS Timeout" 10 -> 7'}]


def test_pause_and_rejoin_name_the_operator():
    from switchover.actors.messages import Rejoin, SetPause
    from switchover.transport.security import Rights

    host = FakeHost()
    commands = AdminCommands(host.deps())
    commands.handle("pause", {}, Rights(REMOTE, "carol"))
    commands.handle("rejoin", {}, REMOTE)
    assert host.asked == [SetPause(True, "carol"), Rejoin("local operator")]


def test_status_warns_of_a_refused_pairing():
    host = FakeHost()
    deps = host.deps()
    from dataclasses import replace

    deps = replace(deps, pairing_refused=lambda: "ICServer1 says it is SwitchoverServer B too")
    out = AdminCommands(deps).status({})
    assert out["warnings"][0] == ("the peer's queries are refused: ICServer1 says it is "
                                  "SwitchoverServer B too")


def test_force_needs_the_master_right_and_a_witness():
    host = FakeHost(role="backup")
    out = AdminCommands(host.deps()).handle("switch", {"force": True}, REMOTE)
    assert out["reason"] == "command 'switch' needs the 'master' right"
    out = AdminCommands(host.deps()).handle("switch", {"force": True}, ALL)
    assert (out["errno"], out["reason"]) == (400, "--force refused: no [witness] is "
                                             "configured on ICServer2, so there is no witness "
                                             "key to switch without; `switchover switch` "
                                             "switches")
    assert not host.asked


def test_force_reaches_main_on_the_backup_and_the_backup_from_the_active():
    host = FakeHost(role="backup")
    deps = dataclasses.replace(host.deps(), witness=True)
    AdminCommands(deps).handle("switch", {"force": True}, ALL)
    assert host.asked == [RequestSwitch(False, "local operator", True)]
    host = FakeHost(role="active")
    deps = dataclasses.replace(host.deps(), witness=True)
    AdminCommands(deps).handle("switch", {"force": True}, ALL)
    assert host.peer_requests == [{"op": "switch", "immediate": False, "force": True,
                                   "server": "local operator on ICServer2"}]
