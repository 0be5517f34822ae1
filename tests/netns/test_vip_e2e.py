"""End to end through a virtual IP: what a client on the LAN sees when the pair switches.

Host A and host B (tests/netns/conftest.py) each run a small web service bound to every
address, answering its server's name. The VIP moves with the shipped `vip` hook under the
pair's own `[hooks]` (commence `vip up`, discontinue `vip down`, argument lists). A client
in the router namespace starts `GET http://VIP/` every 10 ms (bench/lan_web.py,
`HttpClient`) and records who answered each request and when. After each fault on the
active A (its module SIGKILLed, a manual switch, a graceful stop) the client must be
answered by B, and no 10 ms window may hold answers from both servers (both holding the
VIP, the LAN flapping between them). Every request goes to the VIP inside the
namespaces; the client stops by itself after `CLIENT_LIMIT` seconds at the latest.
"""
from __future__ import annotations

import shutil
import signal
import time
from typing import Iterator

import pytest

from bench.lan_web import HttpClient, slots_answered_by_both, start_http_server, stop_http_server
from bench.netns import PREFIX, VIP, Topology
from switchover.localpair import LocalPair

pytestmark = [pytest.mark.netns, pytest.mark.timeout(240)]

SCALE = 0.05
NAMES = ("ICServer1", "ICServer2")
CIDR = f"{VIP}/{PREFIX}"
CLIENT_LIMIT = 60.0
#: Real seconds B may take to answer after the fault: generous (shared CPUs); the
#: benchmark (bench/failover.py) measures the figures.
ANSWER_WITHIN = 10.0


@pytest.fixture
def web(topology: Topology) -> Iterator[None]:
    if shutil.which("arping") is None:
        pytest.skip("arping (iputils-arping) is not installed")
    servers = []
    try:
        for name, letter in zip(NAMES, "AB"):
            servers.append(start_http_server(topology, letter, name))
        yield
    finally:
        for proc in servers:
            stop_http_server(proc)  # by PID: the ones started here


def vip_hooks(topology: Topology) -> dict:
    return {name: {"commence": [["vip", "up", CIDR, topology.ifname(letter)]],
                   "discontinue": [["vip", "down", CIDR, topology.ifname(letter)]]}
            for name, letter in zip(NAMES, "AB")}


def up(pair: LocalPair, client: HttpClient) -> None:
    """A active with the VIP answering, B its backup in sync (so A may hand over)."""
    a, b = pair.start_active(), pair.start_backup()

    def in_sync() -> bool:
        peer = (pair.status(a) or {}).get("peer", {})
        return peer.get("state") == "Backup" and peer.get("warnings") == []

    pair.wait_for(in_sync, 30, "A to see B as its backup, in sync")
    assert client.wait_answer(a, time.monotonic(), 10) is not None, "A never answered"


@pytest.mark.parametrize("fault", ["module SIGKILL", "manual switch", "graceful stop"])
def test_after_a_fault_on_the_active_the_client_is_answered_by_b_never_by_both(
        fault: str, make_netns_pair, topology: Topology, web: None) -> None:
    # A long reconnect timeout: only the fast path or a hand-over can switch quickly.
    pair = make_netns_pair(time_scale=SCALE, hooks=vip_hooks(topology),
                           parameters={"Switchover Reconnect Timeout": 600})
    a, b = pair.names
    client = HttpClient(topology, limit=CLIENT_LIMIT).start()
    try:
        up(pair, client)
        started = client.answers()[0].sent
        fault_at = time.monotonic()
        if fault == "module SIGKILL":
            pair.kill(f"{a}/TsServer", signal.SIGKILL)
        elif fault == "manual switch":
            assert pair.admin(b, "switch", {})["accepted"]
        else:
            pair.kill(a, signal.SIGTERM)
        first_b = client.wait_answer(b, fault_at, ANSWER_WITHIN)
        assert first_b is not None, f"B never answered within {ANSWER_WITHIN} s"
        time.sleep(0.5)  # and keeps answering
        settled = time.monotonic()
        time.sleep(0.3)
    finally:
        client.stop()
    answers = client.answers()
    print(f"\n{fault}: client-observed downtime {first_b - fault_at:.3f} s "
          f"({len(answers)} requests)")
    last = [x for x in answers if x.sent >= settled and x.outcome != "unfinished"]
    assert last and all(x.server == b for x in last), {x.outcome for x in last}
    assert slots_answered_by_both(answers, started) == []
    pair.wait_state(b, "Primary", timeout=20)  # a status call may time out on a busy machine
    assert topology.has_address("B") and not topology.has_address("A")


def test_a_window_with_answers_from_both_servers_is_found() -> None:
    """The check above, on answers made up: A and B both answering within 10 ms."""
    from bench.lan_web import Answer

    answers = [Answer(0.000, 0.001, "ICServer1", "ok"), Answer(0.010, 0.012, "ICServer1", "ok"),
               Answer(0.020, 0.023, "ICServer2", "ok"), Answer(0.021, 0.024, "ICServer1", "ok"),
               Answer(0.030, None, None, "unfinished"), Answer(0.040, 0.041, "ICServer2", "ok")]
    assert slots_answered_by_both(answers, 0.0) == [(0.02, {"ICServer1", "ICServer2"})]
    assert slots_answered_by_both(answers[:3] + answers[4:], 0.0) == []
