"""A host as its supervisor and its operator see it: systemd's readiness protocol, hook
results in status, and the SIGHUP rule that keeps the parameters and the DS in agreement."""
from __future__ import annotations

import os
import shutil
import signal
import socket
import stat
from pathlib import Path
from typing import Any, Iterator, Mapping

import pytest
import zmq

from switchover.endpoints import tcp
from switchover.localpair import LocalPair
from switchover.transport.admin import admin_request
from switchover.transport.security import generate_keypair, load_keypair
from tests.integration.test_switching import SCALE, up

pytestmark = pytest.mark.integration

TS_LINE = "Parameters changed: timeout={} retry delay=1 max failures={}"


@pytest.fixture
def notify_socket(short_tmp: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[socket.socket]:
    """A datagram socket standing in for systemd's; hosts started now inherit its name."""
    path = short_tmp / "notify"
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    sock.bind(str(path))
    sock.settimeout(20)
    monkeypatch.setenv("NOTIFY_SOCKET", str(path))
    yield sock
    sock.close()


def received(sock: socket.socket) -> list[str]:
    return sock.recv(4096).decode().split("\n")


def test_systemd_hears_ready_with_the_role_then_reloading_and_stopping(
        make_pair, notify_socket: socket.socket) -> None:
    pair: LocalPair = make_pair(time_scale=SCALE)
    a = pair.names[0]
    pair.start_host(a)
    assert received(notify_socket) == ["READY=1", f"STATUS={a} is active"]
    os.kill(pair.processes[a].pid, signal.SIGHUP)
    assert received(notify_socket) == ["RELOADING=1"]
    assert received(notify_socket) == ["READY=1", f"STATUS={a} is active"]
    pair.kill(a, signal.SIGTERM)
    assert received(notify_socket) == ["STOPPING=1"]
    assert pair.processes[a].returncode == 0


def test_a_failed_commence_hook_is_recorded_and_a_status_warning(make_pair) -> None:
    pair: LocalPair = make_pair(time_scale=SCALE, hooks={"ICServer1": {
        "commence": [["/bin/sh", "-c", "echo VIP busy >&2; exit 7"]], "retries": 1}})
    a = pair.names[0]
    pair.start_host(a)
    pair.wait_state(a, "Primary")
    runs = pair.wait_for(
        lambda: [e for e in pair.events(a) if e.get("kind") == "hook" and e["attempt"] == 2],
        20, "the retried commence hook")
    assert runs[0]["exit_code"] == 7 and runs[0]["stderr"] == ["VIP busy"]
    assert runs[0]["argv"] == ["/bin/sh", "-c", "echo VIP busy >&2; exit 7"]
    warnings = pair.status(a)["warnings"]
    assert any(w.startswith("commence hook failed at ") and "failed with exit code 7 after" in w
               and w.endswith(": VIP busy")
               for w in warnings), warnings
    assert "/bin/sh -c 'echo VIP busy >&2; exit 7' stderr: VIP busy" in pair.log_text(a)


def test_params_set_survives_a_sighup_and_the_file_changes_only_through_the_active(
        make_pair) -> None:
    """After `params set`, SIGHUPs leave the running value what `params get` says; a
    value changed in the backup's file is refused naming the active; the same change in
    the active's file reaches the DS and both hosts."""
    pair: LocalPair = make_pair(time_scale=SCALE)
    a, b = up(pair)
    pair.admin(a, "params.set", {"name": "Switchover TS Timeout", "value": "25"})
    pair.wait_for(lambda: TS_LINE.format(25, 2) in pair.log_text(b), 20,
                  "the backup's monitor to run with the DS value")

    pair.parameters = {"Switchover Max TS Failures": 4}
    pair.write_config(b)
    os.kill(pair.processes[b].pid, signal.SIGHUP)
    refused = pair.wait_for(lambda: [e["message"] for e in pair.events(b)
                                     if "changed in the file" in e["message"]], 20,
                            "the backup's refusal")
    assert f'"Switchover Max TS Failures" changed in the file on {b}' in refused[0]
    assert f"change them on the active {a}" in refused[0]

    pair.write_config(a)
    os.kill(pair.processes[a].pid, signal.SIGHUP)
    pair.wait_for(lambda: TS_LINE.format(25, 4) in pair.log_text(b), 20,
                  "the active's file change to reach the backup through the DS")
    assert TS_LINE.format(10, 4) not in pair.log_text(b)  # the file's 10 never ran
    for name in (a, b):
        got = pair.admin(name, "params.get", {"name": "Switchover TS Timeout"})
        assert (got["value"], got["source"]) == ("25", "DS")
        got = pair.admin(name, "params.get", {"name": "Switchover Max TS Failures"})
        assert (got["value"], got["source"]) == ("4", "DS")


def test_the_data_dir_is_private_whatever_the_umask(make_pair) -> None:
    pair: LocalPair = make_pair(time_scale=SCALE)
    a = pair.names[0]
    old = os.umask(0)  # inherited by the host process
    try:
        pair.start_host(a)
    finally:
        os.umask(old)
    pair.wait_state(a, "Primary")
    data = pair.base / a / "data"
    assert stat.S_IMODE(data.stat().st_mode) == 0o700
    for name in ("ds.sqlite", "ds.sqlite-wal", "interactions.sqlite", "events.jsonl",
                 "switchover.log", "operator.key_secret"):
        assert stat.S_IMODE((data / name).stat().st_mode) == 0o600, name


def _status_with(pair: LocalPair, name: str, secret: Path) -> Mapping[str, Any]:
    config = pair.config(name)
    ctx = zmq.Context()
    try:
        return admin_request(ctx, tcp(config.this.address, config.this.admin_port), "status",
                             client_keys=load_keypair(secret),
                             server_public=load_keypair(config.security.server_group_key).public,
                             timeout=5)
    finally:
        ctx.destroy(linger=0)


def test_sighup_rereads_admin_keys_and_hooks_and_reopens_the_log(make_pair,
                                                                 short_tmp: Path) -> None:
    pair: LocalPair = make_pair(time_scale=SCALE)
    a, b = up(pair)
    admins = short_tmp / "admins"
    admins.mkdir()
    public, secret = generate_keypair(short_tmp / "alice", "alice")
    assert _status_with(pair, b, secret)["errno"] == 403  # not listed yet

    mark = short_tmp / "commenced"
    pair.hooks = {b: {"commence": [f"echo $SWITCHOVER_REASON > {mark}"]}}
    path = pair.write_config(b)
    path.write_text(path.read_text().replace("[security]\n",
                                             f'[security]\nadmin_keys = "{admins}"\n'))
    shutil.copy(public, admins / public.name)
    log = pair.base / b / "data" / "switchover.log"
    log.rename(log.with_name("switchover.log.1"))  # what logrotate does
    os.kill(pair.processes[b].pid, signal.SIGHUP)
    pair.wait_for(lambda: log.exists() and "configuration reloaded" in log.read_text(), 20,
                  "the reload, written to a reopened log file")
    assert _status_with(pair, b, secret)["result"]["server"] == b

    pair.kill(f"{a}/TsServer")
    pair.wait_state(b, "Primary", timeout=30)
    pair.wait_for(mark.exists, 10, "the commence hook read at the reload")
    assert mark.read_text().strip() == "TS Ping Failure"
