"""The pair comes up: real host processes on 127.0.0.1 (reference: "Connect the Switchover
system" — "The first server that you start becomes the active server. The second server
that you start becomes the backup server.")."""
from __future__ import annotations

import signal
import time

import pytest
import zmq

from switchover.localpair import LocalPair
from switchover.transport.envelope import MAX_ENVELOPE_BYTES, Envelope, decode, encode
from switchover.transport.security import curve_client, generate_keypair, load_keypair

pytestmark = pytest.mark.integration


def _start_pair(pair: LocalPair, module: bool = True) -> tuple[str, str]:
    return pair.start_active(module), pair.start_backup()


def test_first_up_is_active_second_is_backup(pair: LocalPair) -> None:
    a, b = _start_pair(pair, module=False)
    status_a, status_b = pair.status(a), pair.status(b)
    assert (status_a["role"], status_a["state"]) == ("active", "Primary")
    assert (status_b["role"], status_b["state"]) == ("backup", "Backup")
    assert status_b["peer"]["name"] == a and status_b["peer"]["state"] == "Primary"
    assert status_b["mode"] == "auto"
    for key in ("server", "state", "role", "peer", "connections", "mode", "replication",
                "warnings", "messages"):
        assert key in status_b


def test_host_alone_starts_active_fail_safe(pair: LocalPair) -> None:
    _, b = pair.names
    pair.start_host(b)
    status = pair.wait_state(b, "Primary")
    assert "fail-safe" in status["reason"]
    assert any("fail-safe" in e["message"] for e in pair.events(b))


def test_force_backup_flag_in_reference_spelling(pair: LocalPair) -> None:
    a, b = pair.names
    pair.start_host(a)
    pair.wait_state(a, "Primary")
    pair.start_host(b, "/FORCEBACKUP")
    assert pair.wait_state(b, "Backup")["role"] == "backup"


def test_manual_switch_only_is_reported(pair: LocalPair) -> None:
    a, b = pair.names
    pair.start_host(a)
    pair.wait_state(a, "Primary")
    pair.start_host(b, "/ManualSwitchOnly")
    status = pair.wait_state(b, "Backup")
    assert status["mode"] == "manual switch only"


@pytest.mark.parametrize("channel", ["main", "aux"])
def test_module_on_active_answers_ping_from_backup(pair: LocalPair, channel: str) -> None:
    a, b = _start_pair(pair)
    result = pair.admin(b, "ping", {"channel": channel})
    assert result["outcome"] == "ok"
    assert result["body"]["pid"] == pair.processes[f"{a}/TsServer"].pid


def _raw_dealer(ctx: zmq.Context, pair: LocalPair, name: str, keys) -> zmq.Socket:
    server = load_keypair(pair.keys_dir / "server-group.key_secret")
    sock = ctx.socket(zmq.DEALER)
    sock.setsockopt(zmq.LINGER, 0)
    curve_client(sock, keys, server.public)
    sock.connect(f"tcp://127.0.0.1:{pair.ports[name]['main_port']}")
    return sock


def test_bad_input_is_rejected_and_the_pair_keeps_working(pair: LocalPair) -> None:
    a, b = _start_pair(pair)
    ctx = zmq.Context()
    try:
        good = _raw_dealer(ctx, pair, a, load_keypair(pair.keys_dir / "server-group.key_secret"))
        good.send_multipart([b"\x00not json at all"])
        assert good.poll(5000), "no answer to a malformed frame"
        reply, _ = decode(good.recv_multipart())
        assert reply.status == "error" and "JSON" in reply.body["reason"]

        oversize = Envelope(kind="request", sender="Intruder", target="Notifier", eid="Ping",
                            req_id=7, body={"pad": "x" * (MAX_ENVELOPE_BYTES + 10)})
        good.send_multipart([_raw_json(oversize)])
        assert good.poll(5000), "no answer to an oversize frame"
        reply, _ = decode(good.recv_multipart())
        assert reply.status == "error" and "too large" in reply.body["reason"]

        _, wrong_secret = generate_keypair(pair.base / "wrong", "intruder")
        wrong = _raw_dealer(ctx, pair, a, load_keypair(wrong_secret))
        wrong.send_multipart(encode(Envelope(kind="request", sender="Intruder",
                                             target="Notifier", eid="Ping", req_id=1)))
        assert not wrong.poll(1000), "a peer with the wrong CURVE key got an answer"
        pair.wait_for(lambda: "rejected CURVE client key" in pair.log_text(a), 10,
                      "the CURVE rejection log line")
        assert "NotifierLib" in pair.log_text(a)
    finally:
        ctx.destroy(linger=0)
    for channel in ("main", "aux"):
        assert pair.admin(b, "ping", {"channel": channel})["outcome"] == "ok"
    assert pair.status(b)["state"] == "Backup"


def _raw_json(envelope: Envelope) -> bytes:
    import orjson

    return orjson.dumps({"v": 1, "kind": envelope.kind, "sender": envelope.sender,
                         "target": envelope.target, "oid": "*", "eid": envelope.eid,
                         "req_id": envelope.req_id, "status": None,
                         "body": dict(envelope.body)})


def test_sigterm_stops_a_host_within_5s_with_exit_code_0(pair: LocalPair) -> None:
    a, b = _start_pair(pair)
    for name in (b, a):
        proc = pair.processes[name]
        started = time.monotonic()
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=5) == 0
        assert time.monotonic() - started < 5


def test_servers_a_and_b_reversed_are_refused_on_both_sides(pair: LocalPair) -> None:
    """Pairing mistakes are diagnosed, never a second active: B's configuration names
    the two servers the other way round."""
    a, b = pair.names
    pair.start_host(a)
    pair.wait_state(a, "Primary")
    path = pair.config_path(b)
    text = path.read_text()
    text = text.replace(f'"SwitchoverServer A" = "{a}"', '"SwitchoverServer A" = "@B@"')
    text = text.replace(f'"SwitchoverServer B" = "{b}"', f'"SwitchoverServer B" = "{a}"')
    path.write_text(text.replace('"@B@"', f'"{b}"'))
    pair.start_host(b)
    status_b = pair.wait_state(b, "Error", timeout=30)
    assert "pairing mismatch" in status_b["reason"]
    assert f"SwitchoverServer A = {b}" in status_b["reason"]
    assert f"SwitchoverServer A = {a}" in status_b["reason"]
    status_a = pair.status(a)
    assert status_a["state"] == "Primary"
    assert any("pairing mismatch" in w for w in status_a["warnings"])
    assert "pairing mismatch" in pair.log_text(a)


def test_a_different_server_group_key_is_named_not_cannot_reach(pair: LocalPair) -> None:
    """Two servers with different server-group keys: the starting side says the peer
    refused its key and does not start as a second active."""
    a, b = pair.names
    pair.start_host(a)
    pair.wait_state(a, "Primary")
    other = pair.base / "other-keys"
    other.mkdir()
    generate_keypair(other, "server-group")
    path = pair.config_path(b)
    path.write_text(path.read_text().replace(str(pair.keys_dir), str(other)))
    pair.start_host(b)
    status_b = pair.wait_state(b, "Error", timeout=30)
    assert "refused our server-group key" in status_b["reason"]
    assert "refused our server-group key" in pair.log_text(b)
    assert pair.status(a)["state"] == "Primary"
