"""The backup's network diagnosis on a real network (reference: "Primary Monitor" >
"Detecting Network Connection Status of the Backup and Primary", "Switchover Unreachable
Primary Ping Count", "Switchover NetTest server parameters").

Host A (the active) and host B (the backup) run in their own network namespaces on a
bridge in a router namespace (see conftest.py and bench/netns.py). Faults are made
with `ip`: a host's link set down, or an `unreachable` route in B's namespace. Times
are checked loosely against docs/switching.md, never as tight timed assertions.
"""
from __future__ import annotations

import json
import signal
import subprocess
import sys
import textwrap
import time

import pytest

from bench.netns import GATEWAY, NETTEST, Topology
from switchover.localpair import LocalPair

pytestmark = [pytest.mark.netns, pytest.mark.timeout(240)]

SCALE = 0.05
SWITCHED = "Switchover Service: Switch Initiated"

# docs/switching.md, "Time to switch with default parameters" (reference seconds).
L, H, ECHO, D, RT = 3, 1.0, 1.0, 10.0, 30.0


def unreachable_formula(sets: int = 3) -> float:
    """L·H + S·3·1 s + (S − 1)·D + Rt."""
    return L * H + sets * 3 * ECHO + (sets - 1) * D + RT


def start_pair(pair: LocalPair, module: bool = True, timeout: float = 30.0) -> tuple[str, str]:
    """A first (the active, with its TsServer), then B (backup, main and aux up)."""
    return pair.start_active(module, timeout), pair.start_backup(timeout=timeout)


def switch_events(pair: LocalPair, name: str) -> list[dict]:
    return [e for e in pair.events(name) if e.get("message") == SWITCHED]


def stays(pair: LocalPair, name: str, state: str, seconds: float) -> list[str]:
    """Poll `name` for `seconds`; the states seen that were not `state`."""
    other: list[str] = []
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        status = pair.status(name, timeout=1.0)
        if status is not None and status["state"] != state:
            other.append(status["state"])
        time.sleep(0.1)
    return other


# --- (a) and (b): the primary's link goes down -------------------------------------------


def test_primary_link_down_switches_after_three_ping_sets(make_netns_pair, topology: Topology):
    pair = make_netns_pair(time_scale=SCALE,
                           parameters={"Switchover Unreachable Primary Ping Count": 0})
    a, b = start_pair(pair)
    cut = time.monotonic()
    topology.link("A", up=False)
    pair.wait_state(b, "Primary", timeout=unreachable_formula() * SCALE * 4 + 10)
    took = time.monotonic() - cut

    log = pair.log_text(b)
    assert "ePrimaryUnreachable" in log
    assert f"Failed to ping primary address [{topology.address('A')}] in 3 ping set(s)" in log
    assert "Primary [10.201.0.2] is unreachable, going to StateReconnecting" in log
    switched = switch_events(pair, b)
    assert len(switched) == 1 and switched[0]["reason"] == "Loss of Connection to Notifier"
    messages = [e["message"] for e in pair.events(b)]
    assert messages.index("Loss of Connection to Notifier") < messages.index(SWITCHED)

    # Loosely the formula: never before the part no detection can shorten (the ping
    # sets, the delays between them and the reconnect timeout), not far beyond it all.
    floor = (3 * 3 * max(ECHO * SCALE, 0.05) + 2 * D * SCALE + RT * SCALE) * 0.9
    formula = unreachable_formula() * SCALE
    print(f"\nprimary link down -> switch: {took:.2f} s, formula {formula:.2f} s "
          f"(ratio {took / formula:.2f})")
    assert floor <= took <= 2 * formula + 2

    # The link heals: two actives meet, the one with the older generation goes stale.
    topology.link("A", up=True)
    pair.wait_state(a, "Inactive", timeout=30)
    assert pair.status(b)["state"] == "Primary"


def test_primary_link_down_with_ping_count_minus_one_never_switches(
        make_netns_pair, topology: Topology):
    pair = make_netns_pair(time_scale=SCALE,
                           parameters={"Switchover Unreachable Primary Ping Count": -1})
    a, b = start_pair(pair)
    topology.link("A", up=False)
    pair.wait_state(b, "Reconnecting", timeout=30)
    window = 3 * unreachable_formula() * SCALE  # three times what a switch would take
    assert stays(pair, b, "Reconnecting", window) == []
    assert switch_events(pair, b) == []
    log = pair.log_text(b)
    assert "in 1 ping set(s)" in log
    assert "Switchover Unreachable Primary Ping Count is -1" in log

    topology.link("A", up=True)
    pair.wait_state(b, "Backup", timeout=30)
    assert pair.status(a)["state"] == "Primary"
    assert switch_events(pair, b) == []


# --- (c): the backup's own link goes down, gateway ping enabled ----------------------------


def test_backup_link_down_with_gateway_ping_does_not_switch_and_resumes(
        make_netns_pair, topology: Topology):
    pair = make_netns_pair(time_scale=SCALE,
                           parameters={"Switchover Disable Gateway Ping": "No"})
    a, b = start_pair(pair)
    starts_before = pair.log_text(b).count("Monitoring the primary's notifier")
    topology.link("B", up=False)
    pair.wait_state(b, "Reconnecting", timeout=30)
    window = 3 * unreachable_formula() * SCALE
    assert stays(pair, b, "Reconnecting", window) == []
    log = pair.log_text(b)
    assert f"Failed to ping local gateway address(es) [{GATEWAY}]" in log
    assert "posting [event=eNetworkDown]" in log
    assert switch_events(pair, b) == []

    topology.link("B", up=True)
    status = pair.wait_state(b, "Backup", timeout=30)
    assert status["peer"]["name"] == a
    pair.wait_for(lambda: (pair.status(b) or {}).get("connections") ==
                  {"main": True, "aux": True}, 30, "main and aux up again")
    assert pair.log_text(b).count("Monitoring the primary's notifier") > starts_before
    assert pair.status(a)["state"] == "Primary"

    # Monitoring really resumed: the module's loss on the active is acted on.
    pair.kill(f"{a}/TsServer", signal.SIGKILL)
    pair.wait_state(b, "Primary", timeout=30)
    assert switch_events(pair, b)[-1]["reason"] == "TS Ping Failure"


def test_cut_off_backup_whose_active_died_switches_once_its_network_is_back(
        make_netns_pair, topology: Topology):
    """The finding: a backup cut off from its own network (NetworkDown, Reconnecting
    without a timer) while the active died stayed in Reconnecting for ever. Now it checks
    its own network every "Switchover Notifier Reconnect Delay"; once the gateway answers
    and the primary's Notifier does not, the reconnect timer runs, then it switches."""
    pair = make_netns_pair(time_scale=SCALE,
                           parameters={"Switchover Disable Gateway Ping": "No"})
    a, b = start_pair(pair)
    topology.link("B", up=False)
    pair.wait_state(b, "Reconnecting", timeout=30)
    pair.kill(a, signal.SIGKILL)
    assert stays(pair, b, "Reconnecting", 2 * RT * SCALE) == []  # cut off: no switch
    back = time.monotonic()
    topology.link("B", up=True)
    pair.wait_state(b, "Primary", timeout=60)
    took = time.monotonic() - back
    log = pair.log_text(b)
    assert "The network of this server is restored" in log
    assert took >= RT * SCALE  # the whole reconnect timeout, after the network was back
    switched = switch_events(pair, b)
    assert len(switched) == 1 and switched[0]["reason"] == "Loss of Connection to Notifier"


# --- (d): NetTest --------------------------------------------------------------------------


@pytest.mark.parametrize("nettest_reachable", [False, True], ids=["nettest-cut", "nettest-up"])
def test_nettest_decides_whether_a_lost_primary_is_switched_from(
        make_netns_pair, topology: Topology, nettest_reachable: bool):
    """B (the backup) loses its path to A's segment. With the NetTest address cut too,
    B is the one cut off: no switch. With NetTest reachable, A is the one gone: switch."""
    pair = make_netns_pair(time_scale=SCALE,
                           parameters={"Switchover NetTest B": NETTEST,
                                       "Switchover Unreachable Primary Ping Count": 0})
    a, b = start_pair(pair)
    lost = [topology.address("A")] + ([] if nettest_reachable else [NETTEST])
    topology.cut("B", *lost)
    if nettest_reachable:
        pair.wait_state(b, "Primary", timeout=unreachable_formula() * SCALE * 4 + 10)
        log = pair.log_text(b)
        assert f"Successfully pinged NetTest address [{NETTEST}]" in log
        assert "ePrimaryUnreachable" in log
        assert switch_events(pair, b)[-1]["reason"] == "Loss of Connection to Notifier"
        return
    pair.wait_state(b, "Reconnecting", timeout=30)
    assert stays(pair, b, "Reconnecting", 3 * unreachable_formula() * SCALE) == []
    log = pair.log_text(b)
    assert f"Failed to ping NetTest address(es) [{NETTEST}]" in log
    assert "NetTestUnreachable" in log and "posting [event=eNetworkDown]" in log
    assert "ePrimaryUnreachable" not in log
    assert switch_events(pair, b) == []
    topology.uncut("B", *lost)
    pair.wait_state(b, "Backup", timeout=30)
    assert pair.status(a)["state"] == "Primary"


# --- IcmpProber and local_gateways inside a namespace --------------------------------------

PROBE = textwrap.dedent("""
    import json, sys
    from switchover.actors.network import IcmpProber, local_gateways
    prober = IcmpProber(time_scale=1.0)
    print(json.dumps({"gateways": list(local_gateways()),
                      "reached": {a: prober.ping(a, 0.5) for a in sys.argv[1:]}}))
""")


def probe_from(topology: Topology, letter: str, *addresses: str) -> dict:
    done = subprocess.run([*topology.exec_prefix(letter), sys.executable, "-c", PROBE,
                           *addresses], capture_output=True, text=True, timeout=30)
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout.strip().splitlines()[-1])


def test_icmp_prober_and_local_gateways_in_a_namespace(topology: Topology):
    a_addr = topology.address("A")
    seen = probe_from(topology, "B", GATEWAY, NETTEST, a_addr, "10.201.0.99")
    assert seen["gateways"] == [GATEWAY]
    assert seen["reached"] == {GATEWAY: True, NETTEST: True, a_addr: True,
                               "10.201.0.99": False}

    topology.link("A", up=False)  # A's address is on a link that is down
    assert probe_from(topology, "B", a_addr)["reached"] == {a_addr: False}
    topology.link("A", up=True)
    assert probe_from(topology, "B", a_addr)["reached"] == {a_addr: True}

    topology.link("B", up=False)  # B's own link: gateway and route gone
    seen = probe_from(topology, "B", GATEWAY)
    assert seen["reached"] == {GATEWAY: False}
    assert seen["gateways"] == []
