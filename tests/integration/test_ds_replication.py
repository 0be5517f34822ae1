"""DS replication between two real host processes on 127.0.0.1.

Reference: "Synchronizing the registry on both servers" (an identical image, a
compare-and-update at start and after reconnects), "Additional switchover configuration
in Interaction Administrator" (never configure the backup), "Dynamic monitoring of
system parameters", and the project's synchronous mode (docs/ds.md).
"""
from __future__ import annotations

import signal
import subprocess
import sys
import threading
import time
from typing import Any

import pytest
import zmq

from switchover.localpair import LocalPair
from tests.integration.faults import PeerCut

pytestmark = pytest.mark.integration

SCALE = 0.05


def start(pair: LocalPair, name: str, state: str | None) -> None:
    """Start a host and wait for `state` (the host renames its operator key into place,
    so a status call never meets half a key)."""
    pair.start_host(name)
    if state is not None:
        pair.wait_state(name, state)


def up(pair: LocalPair) -> tuple[str, str]:
    a, b = pair.start_active(), pair.names[1]
    start(pair, b, "Backup")
    in_sync(pair)
    return a, b


def ds(pair: LocalPair, name: str) -> dict[str, Any]:
    return ((pair.status(name, timeout=2.0) or {}).get("replication") or {}).get("ds") or {}


def tree_hash(pair: LocalPair, name: str) -> str:
    return pair.admin(name, "ds.tree", {"path": "/", "limit": 1})["hash"]


def in_sync(pair: LocalPair, timeout: float = 30.0) -> str:
    """Both trees equal and the backup says so; returns the hash."""
    a, b = pair.names

    def same() -> str | None:
        ha, hb = tree_hash(pair, a), tree_hash(pair, b)
        return ha if ha == hb and ds(pair, b).get("state") == "in sync" else None

    return pair.wait_for(same, timeout, "the backup's tree to equal the active's")


class Admin:
    """Many admin calls over one ZeroMQ context (the CLI makes one per call)."""

    def __init__(self, pair: LocalPair, name: str) -> None:
        from switchover.endpoints import operator_key_path, tcp
        from switchover.transport.security import load_keypair

        cfg = pair.config(name)
        self.ctx = zmq.Context()
        self.endpoint = tcp(cfg.this.address, cfg.this.admin_port)
        self.keys = load_keypair(operator_key_path(cfg.data_dir))
        self.server = load_keypair(cfg.security.server_group_key).public

    def __call__(self, command: str, args: dict[str, Any]) -> Any:
        from switchover.transport.admin import admin_request

        reply = admin_request(self.ctx, self.endpoint, command, args, client_keys=self.keys,
                              server_public=self.server, timeout=10.0)
        assert reply["status"] == "ok", reply
        return reply["result"]

    def close(self) -> None:
        self.ctx.destroy(linger=0)


def user(i: int, ext: int | None = None) -> dict[str, Any]:
    return {"path": f"${{CONFIG}}/Users/u{i:04d}", "class": "User",
            "attributes": {"Extension": str(ext if ext is not None else 1000 + i)}}


def test_stream_order_refusal_override_and_dynamic_parameter(make_pair) -> None:
    pair = make_pair(time_scale=SCALE)
    a, b = up(pair)
    admin = Admin(pair, a)
    try:
        seqs = [admin("ds.set", user(0, ext))["seq"] for ext in range(50)]
    finally:
        admin.close()
    assert seqs == sorted(seqs) and len(set(seqs)) == 50
    in_sync(pair)
    assert pair.admin(b, "ds.get", {"path": "/Config/Users/u0000"})["attributes"] == {
        "Extension": ["49"]}  # the last of 50 writes to one entry: applied in order
    # never configure the backup: refused, naming the active
    with pytest.raises(Exception) as refused:
        pair.admin(b, "ds.set", user(1))
    assert f"active server {a}" in str(refused.value)
    # unless overridden: then status warns until the next resync
    pair.admin(b, "ds.set", {**user(1), "local_override": True})
    warnings = pair.status(b)["warnings"]
    assert any("will be overwritten at the next resync" in w for w in warnings), warnings
    # a dynamic parameter set on the active reaches the backup's running ModuleMonitor
    done = subprocess.run(
        [sys.executable, "-m", "switchover.cli", "params", "set", "--config",
         str(pair.config_path(a)), "Switchover TS Timeout", "7"],
        capture_output=True, text=True, timeout=30)
    assert done.returncode == 0, done.stderr
    pair.wait_for(lambda: "Parameters changed: timeout=7" in pair.log_text(b), 10,
                  "the backup's ModuleMonitor to take the new timeout")
    assert pair.admin(b, "params.get", {"name": "switchover ts timeout"})["value"] == "7"
    # the ${SERVER} of both is the active's name
    assert pair.admin(b, "params.list", {})["server"] == a


def test_backup_stopped_during_1000_changes_catches_up(make_pair) -> None:
    pair = make_pair(time_scale=SCALE)
    a, b = up(pair)
    pair.kill(b, sig=signal.SIGTERM)
    admin = Admin(pair, a)
    try:
        for i in range(1000):
            if i % 10 == 9:
                admin("ds.delete", {"path": f"/Config/Users/u{(i - 1) % 400:04d}"})
            else:
                admin("ds.set", user(i % 400, i))
    finally:
        admin.close()
    start(pair, b, "Backup")
    in_sync(pair)
    assert ds(pair, b)["seq"] == ds(pair, a)["seq"]


def _import_users(pair: LocalPair, name: str, n: int) -> None:
    lines = ['{"format":"switchover-ds","version":1,"seq":0,"chain":"' + "0" * 32 + '"}']
    lines += [f'{{"path":"/Config/Users/g{i // 1000:03d}/u{i:06d}","class":"User",'
              f'"attrs":{{"Extension":["{i}"],"Mail":["u{i}@example.com"]}}}}'
              for i in range(n)]
    path = pair.base / "import.jsonl"
    path.write_text("\n".join(lines) + "\n")
    pair.admin(name, "ds.import", {"file": str(path)}, timeout=60)


def test_backup_killed_during_resync_converges_on_restart(make_pair) -> None:
    # a slower clock: a loaded machine must not starve heartbeats into a switchover
    pair = make_pair(time_scale=0.2)
    a, b = pair.start_active(), pair.names[1]
    _import_users(pair, a, 60_000)
    start(pair, b, None)
    pair.wait_for(lambda: ds(pair, b).get("state") == "syncing"
                  and ds(pair, b).get("progress", {}).get("fetched", 0) > 0, 30,
                  "the backup to be in the middle of its first resync")
    pair.kill(b)  # SIGKILL
    start(pair, b, "Backup")
    in_sync(pair, timeout=40)
    assert ds(pair, b)["entries"] == ds(pair, a)["entries"]


def test_cut_channels_during_streaming_gap_resync_identical(make_pair) -> None:
    pair = make_pair(time_scale=0.2)
    a, b = pair.names
    links = PeerCut(pair, b, a)
    try:
        up(pair)
        resyncs = ds(pair, b)["resyncs"]
        admin = Admin(pair, a)
        stop = threading.Event()
        count = [0]

        def stream() -> None:
            while not stop.is_set():
                admin("ds.set", user(count[0] % 100, count[0]))
                count[0] += 1

        writer = threading.Thread(target=stream)
        writer.start()
        try:
            time.sleep(0.3)
            links.cut()
            time.sleep(0.3)
            links.restore()
            time.sleep(1.0)
        finally:
            stop.set()
            writer.join(10)
            admin.close()
        assert count[0] > 20
        in_sync(pair)
        assert ds(pair, b)["resyncs"] > resyncs
        # both channels were cut: the backup reconnects and comes back to Backup by itself
        pair.wait_state(b, "Backup", timeout=20)
        log = pair.log_text(b)
        assert "gap in the change stream" in log or "reconnected to the active" in log
    finally:
        links.close()


def test_switchover_keeps_what_the_active_acknowledged_synchronously(make_pair) -> None:
    pair = make_pair(time_scale=SCALE,
                     parameters={"Switchover Synchronous DS Replication": "Yes"})
    a, b = up(pair)
    result = pair.admin(a, "ds.set", user(7))
    assert result["replicated"] == "applied on the backup", result
    pair.kill(a)  # SIGKILL right after the write returned
    pair.wait_state(b, "Primary", timeout=30)
    assert pair.admin(b, "ds.get", {"path": "/Config/Users/u0007"})["attributes"] == {
        "Extension": ["1007"]}
    # the new active keeps the tree's ${SERVER} and serves writes
    assert pair.admin(b, "params.list", {})["server"] == a
    assert pair.admin(b, "ds.set", user(8))["seq"] == result["seq"] + 1
    # the old active rejoins as backup and adopts the new active's tree
    start(pair, a, "Backup")
    pair.wait_for(lambda: tree_hash(pair, a) == tree_hash(pair, b), 20, "old active mirrors")


def test_a_long_import_on_the_active_does_not_stall_its_heartbeats(make_pair,
                                                                   tmp_path) -> None:
    """The backup acks while the active imports (one transaction holding its store for
    seconds); those acks are answered on the Notifier's loop thread, which must not wait
    for the store, or its heartbeats stop and the backup diagnoses a healthy active."""
    from switchover.replication.ds import DSStore, Entry, Put

    export = tmp_path / "big.jsonl"
    with DSStore(tmp_path / "big.sqlite", durability="normal") as store:
        for start in range(0, 60_000, 5_000):
            store.write([Put(Entry.make(f"/Config/Users/b{i:05d}", "User",
                                        {"Extension": str(i)}))
                         for i in range(start, start + 5_000)])
        store.export(export)
    # Heartbeats at 0.3 s, silence after 0.9 s: longer than the CPU alone can hold the
    # Notifier's thread back on two shared cores, much shorter than the import.
    pair = make_pair(time_scale=0.3)
    a, b = up(pair)
    writer = Admin(pair, a)
    stop = threading.Event()

    def writes() -> None:  # keeps the backup acking, before, during and after
        n = 0
        while not stop.is_set():
            writer("ds.set", user(n % 50, n))
            n += 1

    thread = threading.Thread(target=writes)
    thread.start()
    importing = threading.Thread(
        target=lambda: pair.admin(a, "ds.import", {"file": str(export)}, timeout=120))
    try:
        time.sleep(0.3)
        started = time.monotonic()
        importing.start()
        states = []
        while importing.is_alive():
            status = pair.status(b, timeout=2.0) or {}
            states.append((status.get("state"), str(status.get("connections"))))
            time.sleep(0.05)
        took = time.monotonic() - started
    finally:
        stop.set()
        thread.join()
        importing.join()
        writer.close()
    assert took > 1.5, f"the import took {took:.2f} s: too short to show a stall"
    assert set(states) == {("Backup", str({"main": True, "aux": True}))}, states
    in_sync(pair, timeout=60)
