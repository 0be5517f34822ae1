"""Network diagnosis: the routing table, the probers, and the reference's order of checks."""
from __future__ import annotations

import icmplib
import pytest

from switchover.actors.network import (
    Diagnosis,
    IcmpProber,
    NetworkPlan,
    NetworkStatus,
    Probe,
    Wait,
    diagnose,
    local_gateways,
    parse_routes,
    ping_sets_for,
    run_diagnosis,
)
from tests.unit.doubles import FakeProber

ROUTES = """\
Iface\tDestination\tGateway \tFlags\tRefCnt\tUse\tMetric\tMask\t\tMTU\tWindow\tIRTT
eth0\t00000000\t0170A8C0\t0003\t0\t0\t100\t00000000\t0\t0\t0
eth0\t0070A8C0\t00000000\t0001\t0\t0\t100\t00FFFFFF\t0\t0\t0
eth1\t00000000\t017011AC\t0003\t0\t0\t200\t00000000\t0\t0\t0
eth1\t000011AC\t017011AC\t0003\t0\t0\t200\t0000FFFF\t0\t0\t0
lo\t0000007F\t0100007F\t0003\t0\t0\t0\t000000FF\t0\t0\t0
bad line
"""


def test_parse_routes_keeps_real_gateways_in_order():
    assert parse_routes(ROUTES) == ("192.168.112.1", "172.17.112.1")


def test_local_gateways_reads_a_table_and_survives_a_missing_one(tmp_path):
    table = tmp_path / "route"
    table.write_text(ROUTES)
    assert local_gateways(str(table)) == ("192.168.112.1", "172.17.112.1")
    assert local_gateways(str(tmp_path / "missing")) == ()


@pytest.mark.parametrize("count, sets", [(-1, 1), (0, 3), (1, 3), (3, 3), (4, 4), (10, 10)])
def test_ping_sets_for_the_unreachable_primary_ping_count(count, sets):
    assert ping_sets_for(count) == sets


def test_status_words_read_like_the_signal_line():
    assert NetworkStatus.PRIMARY_REACHED.words == "primary reached"
    assert NetworkStatus.GATEWAY_UNREACHABLE.words == "gateway unreachable"
    assert NetworkStatus.NETTEST_UNAVAILABLE.words == "nettest unavailable"


class Sleeps(list):
    def __call__(self, seconds: float) -> None:
        self.append(seconds)


def test_sample_order_gateway_nettest_primary():
    """The TS ping failure sample's three diagnosis lines, in order."""
    plan = NetworkPlan(gateway_ping=True, gateways=("172.17.112.1",),
                       primary_address="172.17.112.171")
    prober = FakeProber({"172.17.112.1", "172.17.112.171"})
    d = run_diagnosis(plan, prober, Sleeps())
    assert d.status is NetworkStatus.PRIMARY_REACHED and d.network_ok and not d.local_down
    assert d.logs == (
        "Successfully pinged local gateway address [172.17.112.1], setting network "
        "connection status to 'GatewayReached'",
        "No NetTest addresses to ping, setting network connection status to "
        "'NetTestUnavailable'",
        "Successfully pinged primary address [172.17.112.171], setting network connection "
        "status to 'PrimaryReached'",
    )
    assert prober.calls == [("172.17.112.1", 1.0), ("172.17.112.171", 1.0)]


def test_gateway_ping_disabled_by_default_skips_gateways():
    plan = NetworkPlan(gateways=("10.0.0.1",), primary_address="10.0.0.9")
    prober = FakeProber({"10.0.0.9"})
    assert run_diagnosis(plan, prober, Sleeps()).status is NetworkStatus.PRIMARY_REACHED
    assert [a for a, _ in prober.calls] == ["10.0.0.9"]


def test_every_gateway_tried_then_the_diagnosis_stops():
    plan = NetworkPlan(gateway_ping=True, gateways=("10.0.0.1", "10.1.0.1"),
                       nettest=("8.8.8.8",), primary_address="10.0.0.9")
    prober = FakeProber({"8.8.8.8", "10.0.0.9"})
    d = run_diagnosis(plan, prober, Sleeps())
    assert d.status is NetworkStatus.GATEWAY_UNREACHABLE and d.local_down
    assert [a for a, _ in prober.calls] == ["10.0.0.1", "10.1.0.1"]
    assert "Failed to ping local gateway address(es) [10.0.0.1, 10.1.0.1]" in d.logs[-1]


def test_second_gateway_answering_is_enough():
    plan = NetworkPlan(gateway_ping=True, gateways=("10.0.0.1", "10.1.0.1"),
                       primary_address="10.0.0.9")
    d = run_diagnosis(plan, FakeProber({"10.1.0.1", "10.0.0.9"}), Sleeps())
    assert d.status is NetworkStatus.PRIMARY_REACHED
    assert "[10.1.0.1], setting network connection status to 'GatewayReached'" in d.logs[0]


def test_nettest_unreachable_stops_with_this_server_cut_off():
    plan = NetworkPlan(nettest=("135.89.3.43",), nettest_timeout=2.5, primary_address="p")
    prober = FakeProber({"p"})
    d = run_diagnosis(plan, prober, Sleeps())
    assert d.status is NetworkStatus.NETTEST_UNREACHABLE and d.local_down
    assert prober.calls == [("135.89.3.43", 2.5)]


def test_nettest_reached_then_primary():
    plan = NetworkPlan(nettest=("135.89.3.43",), primary_address="p")
    d = run_diagnosis(plan, FakeProber({"135.89.3.43", "p"}), Sleeps())
    assert d.status is NetworkStatus.PRIMARY_REACHED
    assert "'NetTestReached'" in d.logs[0]


def test_primary_unreachable_after_three_sets_with_the_delay_between():
    plan = NetworkPlan(primary_address="10.0.0.9", ping_sets=ping_sets_for(0), set_delay=10)
    prober = FakeProber()
    sleeps = Sleeps()
    d = run_diagnosis(plan, prober, sleeps)
    assert d.status is NetworkStatus.PRIMARY_UNREACHABLE and not d.local_down
    assert len(prober.calls) == 3 * 3 and sleeps == [10, 10]
    assert d.logs[-1] == (
        "Failed to ping primary address [10.0.0.9] in 3 ping set(s), setting network "
        "connection status to 'PrimaryUnreachable'"
    )


def test_primary_answering_in_the_second_set():
    gen = diagnose(NetworkPlan(primary_address="p", ping_sets=3, set_delay=7))
    steps = [next(gen)]
    for answer in [False, False, False, None, True]:
        try:
            steps.append(gen.send(answer))
        except StopIteration as stop:
            result: Diagnosis = stop.value
    assert steps == [Probe("p", 1.0, "primary")] * 3 + [Wait(7), Probe("p", 1.0, "primary")]
    assert result.status is NetworkStatus.PRIMARY_REACHED


def test_no_primary_address_is_unreachable():
    d = run_diagnosis(NetworkPlan(), FakeProber(), Sleeps())
    assert d.status is NetworkStatus.PRIMARY_UNREACHABLE


class FakeHost:
    def __init__(self, alive: bool) -> None:
        self.is_alive = alive


def test_icmp_prober_falls_back_to_unprivileged():
    calls = []

    def ping_fn(address, *, count, timeout, privileged):
        calls.append(privileged)
        if privileged:
            raise icmplib.SocketPermissionError(privileged)
        return FakeHost(True)

    prober = IcmpProber(ping_fn=ping_fn, time_scale=0.5)
    assert prober.ping("10.0.0.1", 2) is True
    assert prober.ping("10.0.0.1", 2) is True
    assert calls == [True, False, False]  # remembers what works


def test_icmp_prober_resolution_failure_is_unreachable():
    def ping_fn(address, **kw):
        raise icmplib.NameLookupError(address)

    assert IcmpProber(ping_fn=ping_fn).ping("no-such-host.invalid", 1) is False


def test_icmp_prober_without_any_permission_is_unreachable():
    def ping_fn(address, *, privileged, **kw):
        raise icmplib.SocketPermissionError(privileged)

    assert IcmpProber(ping_fn=ping_fn).ping("10.0.0.1", 1) is False
