"""Notifier, channels, module client, switch and admin sockets on 127.0.0.1 with CURVE."""
from __future__ import annotations

import logging
import os
import socket
import threading
import time
from pathlib import Path

import orjson
import pytest
import zmq

from switchover.transport import (
    AdminServer,
    AdminUnavailable,
    Authenticator,
    Channel,
    CurveKeys,
    ModuleClient,
    Notifier,
    SwitchServer,
    admin_request,
    generate_keypair,
    load_authorized,
    load_keypair,
    switch_request,
)
from switchover.transport.envelope import MAX_ENVELOPE_BYTES, Envelope, decode, encode
from switchover.transport.outcome import CONNECTION_LOST, OK, REJECTED, TIMEOUT
from switchover.transport.security import curve_client
from switchover.actors.admin_commands import AdminCommands
from switchover.actors.messages import RequestSwitch
from tests.fake_host import FakeHost

pytestmark = [pytest.mark.integration, pytest.mark.timeout(30)]

HB = 0.05  # heartbeat interval (real seconds) for fast tests


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_for(predicate, timeout: float = 3.0) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.01)
    return predicate()


@pytest.fixture(autouse=True)
def no_leaked_threads():
    before = threading.active_count()
    yield
    assert wait_for(lambda: threading.active_count() <= before, 3.0), threading.enumerate()


@pytest.fixture
def ctx():
    c = zmq.Context()
    yield c
    c.destroy(linger=0)


@pytest.fixture
def group(tmp_path) -> CurveKeys:
    _, secret = generate_keypair(tmp_path / "keys", "server-group")
    assert (tmp_path / "keys").stat().st_mode & 0o777 == 0o700
    assert secret.stat().st_mode & 0o777 == 0o600
    return load_keypair(secret)


@pytest.fixture
def auth(ctx):
    a = Authenticator(ctx)
    a.start()
    yield a
    a.stop()


class Host:
    """One host's Notifier with a TsServer module, on fresh ports."""

    def __init__(self, ctx, tmp_path: Path, keys, auth) -> None:
        self.ctx, self.keys, self.auth = ctx, keys, auth
        self.main = f"tcp://127.0.0.1:{free_port()}"
        self.aux = f"tcp://127.0.0.1:{free_port()}"
        self.local = f"ipc://{tmp_path}/notifier.ipc"
        self.module_events: list[tuple[str, bool, dict]] = []
        self.notifier: Notifier | None = None

    def start_notifier(self) -> Notifier:
        self.notifier = Notifier(
            self.ctx, remote_endpoints=[self.main, self.aux], local_endpoint=self.local,
            keys=self.keys, authenticator=self.auth, server_name="ICServer1",
            heartbeat_interval=HB,
            on_module=lambda name, up, info: self.module_events.append((name, up, dict(info))))
        self.notifier.start()
        return self.notifier

    def channel(self, name: str, endpoint: str, keys=None, sender_name="SwitchoverService",
                **kw) -> tuple[Channel, list]:
        states: list[tuple[str, bool]] = []
        ch = Channel(self.ctx, name=name, endpoint=endpoint, keys=keys or self.keys,
                     server_public=self.keys.public, sender=sender_name,
                     on_state=lambda n, up: states.append((n, up)), heartbeat_interval=HB,
                     reconnect_delay=0.1, **kw)
        ch.start()
        return ch, states


@pytest.fixture
def host(ctx, tmp_path, group, auth):
    h = Host(ctx, tmp_path, group, auth)
    h.start_notifier()
    module = ModuleClient(ctx, endpoint=h.local, name="TsServer", heartbeat_interval=HB)
    module.start()
    h.module = module
    assert wait_for(lambda: "TsServer" in h.notifier.modules())
    yield h
    module.stop()
    if h.notifier is not None:
        h.notifier.stop()


def test_ipc_file_is_private(host, tmp_path):
    assert (tmp_path / "notifier.ipc").stat().st_mode & 0o777 == 0o600


@pytest.mark.parametrize("which", ["main", "aux"])
def test_ts_ping_answered_with_pid(host, which, caplog):
    caplog.set_level(logging.DEBUG, logger="NotifierLib")
    ch, states = host.channel(which, getattr(host, which))
    try:
        assert wait_for(lambda: ch.connected)
        assert states == [(which, True)]
        outcome = ch.request("TsServer", "TS Diagnostic Ping", timeout=2).result(3)
        assert outcome.status == OK, outcome
        assert outcome.response.body == {"pid": os.getpid()}
        assert outcome.response.req_id >= 1
        # an unknown target is rejected by the notifier, with the reason
        other = ch.request("IpServer", "TS Diagnostic Ping", timeout=2).result(3)
        assert other.status == REJECTED and "no module named IpServer" in other.detail
    finally:
        ch.stop()
    text = caplog.text
    assert "SENT Request SwitchoverService, Oid(*), Eid(TS Diagnostic Ping), ReqId(1)" in text
    assert "CRoute::LogMessage : Request[SwitchoverService][*][TS Diagnostic Ping]RI[1]" in text
    assert "to 1:TsServer" in text
    assert "RECV Response SwitchoverService" in text


def test_bad_frames_get_errors_and_the_loop_lives(host, caplog):
    caplog.set_level(logging.WARNING, logger="NotifierLib")
    sock = host.ctx.socket(zmq.DEALER)
    sock.linger = 0
    curve_client(sock, host.keys, host.keys.public)
    sock.connect(host.main)
    try:
        def ask(frames):
            sock.send_multipart(frames)
            assert sock.poll(3000), "no answer"
            return decode(sock.recv_multipart())[0]

        bad = ask([b"{this is not json"])
        assert bad.status == "error" and "not JSON" in bad.body["reason"]
        half = ask([orjson.dumps({"v": 1, "kind": "request", "eid": "X", "req_id": 77})])
        assert (half.status, half.req_id, half.eid) == ("error", 77, "X")
        assert "missing field 'sender'" in half.body["reason"]
        big = ask([b"{" + b" " * (MAX_ENVELOPE_BYTES + 10) + b"}"])
        assert big.status == "error" and "envelope too large" in big.body["reason"]
        good = ask(encode(Envelope("request", "Raw", "TsServer", "TS Diagnostic Ping", 5)))
        assert (good.status, good.req_id, good.body["pid"]) == ("ok", 5, os.getpid())
    finally:
        sock.close(0)
    warnings = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert any("not JSON" in w for w in warnings)
    assert any("envelope too large" in w for w in warnings)


def test_wrong_curve_key_gets_no_answer(host, tmp_path, caplog):
    caplog.set_level(logging.WARNING, logger="Security")
    _, secret = generate_keypair(tmp_path / "other", "intruder")
    intruder = load_keypair(secret)
    ch, states = host.channel("main", host.main, keys=intruder)
    try:
        outcome = ch.request("TsServer", "TS Diagnostic Ping", timeout=0.5).result(3)
        assert outcome.status == TIMEOUT
        assert states == [] and not ch.connected
    finally:
        ch.stop()
    z85 = intruder.public.decode()
    assert f"rejected CURVE client key {z85} on notifier" in caplog.text


def test_channel_follows_notifier_down_and_up(host):
    waiting = []
    host.notifier.register_service("SwitchoverService",
                                   lambda env, bulk, reply: waiting.append(reply))
    ch, states = host.channel("main", host.main)
    try:
        assert wait_for(lambda: ch.connected)
        outstanding = ch.request("SwitchoverService", "Snapshot", timeout=10)
        assert wait_for(lambda: waiting)
        host.notifier.stop()
        outcome = outstanding.result(3)
        assert outcome.status == CONNECTION_LOST
        assert states == [("main", True), ("main", False)]
        assert not ch.connected
        while_down = ch.request("TsServer", "TS Diagnostic Ping", timeout=1).result(1)
        assert while_down.status == CONNECTION_LOST
        host.start_notifier()
        assert wait_for(lambda: ch.connected, 5)
        assert states[-1] == ("main", True)
        assert wait_for(lambda: "TsServer" in host.notifier.modules(), 3)  # re-registered
        again = ch.request("TsServer", "TS Diagnostic Ping", timeout=2).result(3)
        assert again.status == OK
    finally:
        ch.stop()


def test_service_replies_from_another_thread(host):
    def handler(env, bulk, reply):
        threading.Timer(0.05, reply, kwargs={"body": {"echo": env.body["x"]},
                                             "bulk": (bulk[0][::-1],)}).start()

    host.notifier.register_service("SwitchoverService", handler)
    ch, _ = host.channel("main", host.main)
    try:
        assert wait_for(lambda: ch.connected)
        out = ch.request("SwitchoverService", "Echo", {"x": 3}, bulk=[b"abc"], timeout=2).result(3)
        assert out.status == OK and out.response.body == {"echo": 3} and out.bulk == (b"cba",)
    finally:
        ch.stop()


def test_module_death_and_events_reach_the_peer(host, ctx):
    events = []
    ch, _ = host.channel("main", host.main, on_event=lambda env, bulk: events.append(env))
    try:
        assert wait_for(lambda: ch.connected)
        assert wait_for(lambda: host.notifier.peer_connected)
        host.module.send_event("TsServer Started", {"pid": os.getpid()})
        assert wait_for(lambda: events)
        assert (events[0].eid, events[0].sender) == ("TsServer Started", "TsServer")
        host.notifier.publish(Envelope("event", "Notifier", "*", "DS Change", body={"seq": 1}))
        assert wait_for(lambda: len(events) == 2)
        # numbered within the Notifier's epoch, forwarded ones too: the backup's links
        # deliver each once although it comes on main and on aux
        assert [(e.oid, e.req_id) for e in events] == [(host.notifier.epoch, 1),
                                                       (host.notifier.epoch, 2)]
        # a second module may not take a live name
        dup = ModuleClient(ctx, endpoint=host.local, name="TsServer", heartbeat_interval=HB)
        dup.start()
        time.sleep(0.2)
        assert not dup.registered
        dup.stop()
        host.module.stop()
        assert wait_for(lambda: ("TsServer", False) in [(n, u) for n, u, _ in host.module_events])
        # the Unregister and the closing connection race to tell; either is the truth
        assert host.module_events[-1][2]["reason"] in ("unregistered", "connection closed")
        gone = ch.request("TsServer", "TS Diagnostic Ping", timeout=1).result(2)
        assert gone.status == REJECTED
    finally:
        ch.stop()


def test_silent_module_is_reported(ctx, tmp_path, group, auth):
    h = Host(ctx, tmp_path, group, auth)
    h.start_notifier()
    try:
        raw = ctx.socket(zmq.DEALER)
        raw.linger = 0
        raw.connect(h.local)
        raw.send_multipart(encode(Envelope("request", "Ghost", "Notifier", "Register", 1,
                                           body={"name": "Ghost", "pid": 1})))
        assert raw.poll(2000)
        assert decode(raw.recv_multipart())[0].status == "ok"
        assert wait_for(lambda: ("Ghost", False) in [(n, u) for n, u, _ in h.module_events])
        assert h.module_events[-1][2]["reason"] == "silent"
        raw.close(0)
    finally:
        h.notifier.stop()


def test_switch_request(ctx, group, auth):
    endpoint = f"tcp://127.0.0.1:{free_port()}"
    assert switch_request(ctx, endpoint, {"command": "state"}, keys=group,
                          server_public=group.public, timeout=0.3) is None
    server = SwitchServer(ctx, endpoint=endpoint, keys=group, authenticator=auth,
                          handler=lambda req: {"status": "ok", "state": "Primary",
                                               "asked": req["command"]})
    server.start()
    try:
        reply = switch_request(ctx, endpoint, {"command": "state"}, keys=group,
                               server_public=group.public, timeout=2)
        assert reply == {"status": "ok", "state": "Primary", "asked": "state"}
    finally:
        server.stop()


def test_admin_rights(ctx, tmp_path, group, auth, caplog):
    caplog.set_level(logging.WARNING, logger="Security")
    admins = tmp_path / "admins"
    _, op_secret = generate_keypair(admins, "alice", {"rights": "status, remote-control"})
    _, ro_secret = generate_keypair(admins, "bob")
    _, stranger_secret = generate_keypair(tmp_path / "elsewhere", "mallory")
    rights = load_authorized(admins)
    alice, bob = load_keypair(op_secret), load_keypair(ro_secret)
    assert rights[alice.public] == {"status", "remote-control"}
    assert rights[bob.public] == {"status"}
    auth.allow("admin", rights)

    # The rights are enforced by the host's real AdminCommands (on a fake host); a
    # command that raises shows how the socket reports a handler's failure.
    fake = FakeHost(role="backup")
    commands = AdminCommands(fake.deps())

    def handler(command, args, rights):
        if command == "boom":
            raise RuntimeError("actor did not answer")
        return commands.handle(command, args, rights)

    endpoint = f"tcp://127.0.0.1:{free_port()}"
    server = AdminServer(ctx, endpoint=endpoint, keys=group, authenticator=auth, handler=handler)
    server.start()
    try:
        def ask(keys, command, args=None):
            return admin_request(ctx, endpoint, command, args, client_keys=keys,
                                 server_public=group.public, timeout=2)

        ok = ask(alice, "switch", {"immediate": False})
        assert ok == {"status": "ok", "errno": 0, "reason": "",
                      "result": {"accepted": True, "message": "Manual Switchover"}}
        assert fake.asked == [RequestSwitch(False, "alice")]
        immediate = ask(alice, "switch", {"immediate": True})
        assert (immediate["errno"], immediate["reason"]) == (
            403, "command 'switch' needs the 'master' right")
        refused = ask(bob, "switch")
        assert (refused["errno"], refused["reason"]) == (
            403, "command 'switch' needs the 'remote-control' right")
        assert fake.asked == [RequestSwitch(False, "alice")]
        assert ask(bob, "status")["result"]["server"] == "ICServer2"
        stranger = ask(load_keypair(stranger_secret), "status")
        assert (stranger["status"], stranger["errno"]) == ("error", 403)
        boom = ask(alice, "boom")
        assert boom == {"status": "error", "errno": 500, "reason": "actor did not answer",
                        "result": None}
    finally:
        server.stop()
    assert "rejected CURVE client key" in caplog.text
    with pytest.raises(AdminUnavailable):
        admin_request(ctx, endpoint, "status", client_keys=alice, server_public=group.public,
                      timeout=0.2)


def test_killed_module_process_is_reported_at_once(ctx, tmp_path, group, auth):
    """A module whose process dies is reported when its connection closes, not after
    the heartbeat silence (here 100 s): the fast path's first step."""
    import signal
    import subprocess
    import sys

    h = Host(ctx, tmp_path, group, auth)
    h.notifier = Notifier(
        ctx, remote_endpoints=[h.main], local_endpoint=h.local, keys=group,
        authenticator=auth, server_name="ICServer1", heartbeat_interval=20.0,
        on_module=lambda name, up, info: h.module_events.append((name, up, dict(info))))
    h.notifier.start()
    child = subprocess.Popen([sys.executable, "-c", (
        "import time, zmq\n"
        "from switchover.transport.module_client import ModuleClient\n"
        f"m = ModuleClient(zmq.Context(), endpoint={h.local!r}, name='TsServer',"
        " heartbeat_interval=20.0)\n"
        "m.start()\n"
        "time.sleep(60)\n")])
    try:
        assert wait_for(lambda: "TsServer" in h.notifier.modules(), 10)
        child.send_signal(signal.SIGKILL)
        child.wait(timeout=5)
        assert wait_for(lambda: ("TsServer", False) in [(n, u) for n, u, _ in h.module_events],
                        10)
        assert h.module_events[-1][2]["reason"] == "connection closed"
        assert h.module_events[-1][2]["pid"] == child.pid
    finally:
        if child.poll() is None:
            child.kill()
            child.wait(timeout=5)
        h.notifier.stop()


def test_channel_sees_a_killed_peer_process_at_once(ctx, tmp_path, group, auth, caplog):
    """A host process that dies closes its TCP connections; the backup's channel reports
    the loss then, not after the heartbeat silence (here 60 s)."""
    import signal
    import subprocess
    import sys

    endpoint = f"tcp://127.0.0.1:{free_port()}"
    secret = tmp_path / "keys" / "server-group.key_secret"
    child = subprocess.Popen([sys.executable, "-c", (
        "import time, zmq\n"
        "from pathlib import Path\n"
        "from transport import Notifier, load_keypair\n"
        f"keys = load_keypair(Path({str(secret)!r}))\n"
        f"n = Notifier(zmq.Context(), remote_endpoints=[{endpoint!r}],"
        f" local_endpoint='ipc://{tmp_path}/peer.ipc', keys=keys, authenticator=None,"
        " server_name='ICServer1', heartbeat_interval=20.0)\n"
        "n.start()\n"
        "time.sleep(120)\n")])
    states: list[tuple[str, bool]] = []
    ch = Channel(ctx, name="main", endpoint=endpoint, keys=group, server_public=group.public,
                 sender="SwitchoverService", on_state=lambda n, up: states.append((n, up)),
                 heartbeat_interval=20.0, reconnect_delay=0.1)
    ch.start()
    try:
        assert wait_for(lambda: ("main", True) in states, 10)
        child.send_signal(signal.SIGKILL)
        child.wait(timeout=5)
        with caplog.at_level(logging.WARNING, logger="NotifierLib"):
            assert wait_for(lambda: ("main", False) in states, 10)
        assert "the peer closed the connection" in caplog.text
    finally:
        ch.stop()
        if child.poll() is None:
            child.kill()
            child.wait(timeout=5)


def test_applications_are_served_but_are_not_the_peer(host):
    """A client with another sender name (an application using the server-group key) gets
    answers, but not the events published to the peer, and does not make the peer look
    connected."""
    app, _ = host.channel("main", host.main, sender_name="ChatApplication")
    try:
        assert app.request("Notifier", "Ping", timeout=2).result(5).ok
        assert not host.notifier.peer_connected
        peer, _ = host.channel("main", host.main)
        try:
            assert wait_for(lambda: host.notifier.peer_connected)
        finally:
            peer.stop()
    finally:
        app.stop()
