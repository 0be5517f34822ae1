"""AdminCommands against a fake host: the rights table and every host command."""
from __future__ import annotations

import pytest

from actors.admin_commands import AdminCommands
from actors.messages import RequestSwitch
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
                             "ping, status, switch)")


def test_status_adds_replication_modules_warnings_and_messages():
    host = FakeHost(status={**STATUS, "mode": "manual switch only",
                            "warnings": ["the peer has not answered for 30 s"]})
    out = AdminCommands(host.deps()).handle("status", {}, STATUS_ONLY)["result"]
    assert out["replication"]["ds"] == {"state": "in sync", "seq": 7}
    assert out["replication"]["files"]["state"].startswith("not running")
    assert out["modules"] == {"TsServer": {"pid": 99}}
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
    assert host.asked == [RequestSwitch(True, "operator")]


def test_switch_refused_by_main_is_409():
    host = FakeHost(role="backup")
    host.switch_reply = {"accepted": False, "message": "ICServer2 is Reconnecting"}
    out = AdminCommands(host.deps()).handle("switch", {}, REMOTE)
    assert (out["errno"], out["reason"]) == (409, "ICServer2 is Reconnecting")


def test_switch_on_the_active_goes_to_the_backup():
    host = FakeHost(role="active")
    out = AdminCommands(host.deps()).handle("switch", {}, REMOTE)
    assert out["result"]["message"] == "switch requested on the backup ICServer1"
    assert host.peer_requests == [{"op": "switch", "immediate": False, "server": "ICServer2"}]
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
