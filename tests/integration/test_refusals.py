"""Refused connections to a real host: logged once per address and reason, counted in
the metrics, and the host keeps serving."""
from __future__ import annotations

import os
import socket
import time
import urllib.request

import pytest
import zmq
from prometheus_client.parser import text_string_to_metric_families

from switchover.transport.security import curve_client, generate_keypair, load_keypair, load_public

pytestmark = pytest.mark.integration


def refused_counts(port: int) -> dict[tuple[str, str], float]:
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5) as answer:
        text = answer.read().decode()
    return {(s.labels["socket"], s.labels["reason"]): s.value
            for f in text_string_to_metric_families(text) for s in f.samples
            if s.name == "switchover_refused_connections_total"}


def test_random_bytes_floods_and_foreign_keys_are_logged_once(make_pair, short_tmp) -> None:
    pair = make_pair(time_scale=0.05, metrics=True)
    a = pair.start_active(module=False)
    ports = pair.ports[a]
    for name in ("switch_port", "main_port", "admin_port"):
        # One client waits before its garbage, so its address is still there to read...
        with socket.create_connection(("127.0.0.1", ports[name])) as conn:
            time.sleep(0.5)
            conn.sendall(os.urandom(64))
        for _ in range(49):  # ...then a flood from the same address: no more lines
            with socket.create_connection(("127.0.0.1", ports[name])) as conn:
                conn.sendall(os.urandom(64))
    _, foreign_secret = generate_keypair(short_tmp / "foreign", "foreign")
    ctx = zmq.Context()
    try:
        client = ctx.socket(zmq.DEALER)
        client.linger = 0
        curve_client(client, load_keypair(foreign_secret),
                     load_public(pair.keys_dir / "server-group.key"))
        client.connect(f"tcp://127.0.0.1:{ports['switch_port']}")
        client.send(b"{}")
        expected = {("virtual switch", "malformed greeting"): 50,
                    ("notifier", "malformed greeting"): 50,
                    ("admin", "malformed greeting"): 50}
        try:
            pair.wait_for(lambda: all(refused_counts(pair.metrics_ports[a]).get(k, 0) >= v
                                      for k, v in expected.items()), 15, "the refusals counted")
        except TimeoutError:
            raise AssertionError(refused_counts(pair.metrics_ports[a])) from None
        pair.wait_for(lambda: refused_counts(pair.metrics_ports[a]).get(
            ("virtual switch", "CURVE key refused"), 0) >= 1, 15, "the foreign key refused")
        client.close()
    finally:
        ctx.destroy(linger=0)
    time.sleep(0.5)
    log = pair.log_text(a)
    for sock in ("virtual switch", "notifier", "admin"):
        lines = [line for line in log.splitlines()
                 if f"refused a connection to the {sock} socket from" in line
                 and "malformed greeting" in line]
        assert any("from 127.0.0.1:" in line for line in lines), lines
        # One line for the address; one more at most for connections gone before their
        # address could be read (the monitor reports after the fact).
        assert 1 <= len(lines) <= 2, lines
    assert "refused a connection to the virtual switch socket from 127.0.0.1:" in log
    assert "CURVE key refused" in log
    assert pair.status(a)["state"] == "Primary"
