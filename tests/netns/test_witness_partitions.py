"""Partitions of a pair whose witness is a real etcd on the router (docs/witness.md,
"Failure -> outcome"): the key is the right to be active.

Host A and host B (tests/netns/conftest.py) reach etcd on the router's namespace
(`router_etcd`); a partition is an `unreachable` route in a host's namespace
(`Topology.cut`), so A↔B can be cut while both still reach the witness, or A cut off from
both. Every host runs `true` as its commence and discontinue hook, so its event log says
when it began and stopped acting as active (bench/event_times.py); the order of those
entries, not their spacing, is what is asserted. Without a witness the same cut makes
two actives until it heals, as docs/witness.md says the reference's behaviour does.
"""
from __future__ import annotations

import time
from typing import Callable

import pytest

from bench.event_times import hook_runs, switches
from bench.netns import Topology
from bench.router_etcd import WITNESS
from switchover.localpair import LocalPair, run_in_netns
from tests.etcd import EtcdCluster

pytestmark = [pytest.mark.netns, pytest.mark.timeout(120)]

SCALE = 0.05
#: "Switchover Witness Lease TTL", its minimum: etcd grants 2 real seconds (docs/witness.md).
TTL = 5
#: Its maximum, at time scale 0.1: 12 real seconds, so the 8 s the holder may go without
#: a renewal are far longer than an etcd leader election after a crash, even on a busy
#: machine.
LONG_TTL, LONG_SCALE = 120, 0.1
NAMES = ("ICServer1", "ICServer2")
HOOKS = {"commence": ["true"], "discontinue": ["true"]}
#: Real seconds a settled outcome is watched before it is asserted: a lease's lifetime
#: and more, so that a wrong switch would have happened by then.
SETTLE = 3.0
WAIT = 60.0


def make(make_netns_pair: Callable[..., LocalPair], cluster: EtcdCluster | None,
         ttl: int = TTL, scale: float = SCALE) -> LocalPair:
    witness = None if cluster is None else {"endpoints": cluster.endpoints,
                                            "prefix": "/switchover/netns"}
    return make_netns_pair(time_scale=scale, hooks={name: HOOKS for name in NAMES},
                           witness=witness, parameters={"Switchover Witness Lease TTL": ttl})


def status(pair: LocalPair, name: str) -> dict:
    return pair.status(name, timeout=1.0) or {}


def up(pair: LocalPair) -> tuple[str, str]:
    """A active (holding the key when there is a witness), B its backup in sync."""
    a, b = pair.start_active(), pair.start_backup()
    if pair.witness is not None:
        pair.wait_for(lambda: status(pair, a).get("witness", {}).get("held_here"), WAIT,
                      "A to hold the witness key")
    pair.wait_for(lambda: status(pair, a).get("peer", {}).get("state") == "Backup", WAIT,
                  "A to see B as its backup")
    return a, b


def cut_between(topology: Topology, *, heal: bool = False) -> None:
    """A↔B only: both still reach the router, the NetTest address and the witness."""
    step = topology.uncut if heal else topology.cut
    step("A", topology.address("B"))
    step("B", topology.address("A"))


def actives(pair: LocalPair) -> list[str]:
    return [name for name in pair.names if status(pair, name).get("state") == "Primary"]


def wait_one_active(pair: LocalPair) -> str:
    """Until exactly one server is active, and still is a moment later; its name."""
    def settled() -> str | None:
        now = actives(pair)
        if len(now) != 1:
            return None
        time.sleep(0.5)
        return now[0] if actives(pair) == now else None

    return pair.wait_for(settled, WAIT, "exactly one active server")


def rerun_commence(pair: LocalPair, name: str, healed_at: float) -> None:
    """docs/witness.md, "partition heals": whoever stays active re-runs its commence
    hooks, and its event log says why."""
    pair.wait_for(lambda: hook_runs(pair.events(name), "commence", healed_at), WAIT,
                  f"{name} to re-run its commence hooks after the partition healed")
    said = [e for e in pair.events(name) if e.get("kind") == "recommence"]
    assert said and said[-1]["message"].startswith("Switchover Service: partition healed")


def test_a_cut_between_the_hosts_switches_nothing(make_netns_pair, topology, router_etcd):
    pair = make(make_netns_pair, router_etcd(1))
    a, b = up(pair)
    cut_between(topology)
    pair.wait_for(lambda: f"held by {a}" in status(pair, b).get("reason", ""), WAIT,
                  "B to want to switch and find the key held by A")
    time.sleep(SETTLE)
    assert actives(pair) == [a]
    assert switches(pair.events(b)) == []
    cut_between(topology, heal=True)
    pair.wait_for(lambda: status(pair, b).get("state") == "Backup", WAIT, "B back as backup")
    assert wait_one_active(pair) == a


def test_an_isolated_active_demotes_itself_before_the_backup_takes_over(
        make_netns_pair, topology, router_etcd):
    pair = make(make_netns_pair, router_etcd(1))
    a, b = up(pair)
    cut_at = time.time()
    topology.cut("A", topology.address("B"), WITNESS)
    topology.cut("B", topology.address("A"))
    pair.wait_state(b, "Primary", timeout=WAIT)
    pair.wait_for(lambda: status(pair, a).get("state") not in (None, "Primary"), WAIT,
                  "A to demote itself")
    assert status(pair, b)["witness"]["held_here"] is True
    discontinued = pair.wait_for(lambda: hook_runs(pair.events(a), "discontinue", cut_at),
                                 WAIT, "A's discontinue hook")
    took_over = switches(pair.events(b), cut_at)
    assert len(took_over) == 1
    assert discontinued[0] < took_over[0] < hook_runs(pair.events(b), "commence", cut_at)[0]
    # "cannot renew the witness key ..." or, once the key is lost, "the witness key is not
    # held and <B> does not answer": either way a demotion the witness decided.
    reason = status(pair, a)["reason"]
    assert "witness key" in reason and "demoting itself" in reason, reason
    healed_at = time.time()
    topology.uncut("A", topology.address("B"), WITNESS)
    topology.uncut("B", topology.address("A"))
    pair.wait_for(lambda: status(pair, b).get("peer", {}).get("state") not in (None, "Primary",
                                                                                "Unknown"),
                  WAIT, "B to see A again, not active")
    assert wait_one_active(pair) == b
    rerun_commence(pair, b, healed_at)


def test_etcd_down_changes_nothing_then_a_dead_active_is_not_replaced(
        make_netns_pair, router_etcd):
    cluster = router_etcd(1)
    pair = make(make_netns_pair, cluster)
    a, b = up(pair)
    cluster.stop()
    pair.wait_for(lambda: "witness unreachable: no automatic switch possible" in
                  status(pair, a).get("warnings", []), WAIT, "A to warn")
    time.sleep(SETTLE)
    assert actives(pair) == [a]
    assert status(pair, b)["state"] == "Backup"
    killed_at = time.time()
    pair.kill(a)  # A's host process, SIGKILL
    pair.wait_for(lambda: "witness is unreachable" in status(pair, b).get("reason", ""), WAIT,
                  "B to say it cannot switch without the witness")
    time.sleep(SETTLE)
    final = status(pair, b)
    assert final["state"] != "Primary" and "witness is unreachable" in final["reason"]
    events = pair.events(b)
    assert switches(events, killed_at) == [] and hook_runs(events, "commence", killed_at) == []
    assert any(e["message"].startswith("No automatic switch: the witness is unreachable")
               for e in events)


def test_a_crash_of_the_etcd_leader_of_three_switches_nothing(
        make_netns_pair, topology, router_etcd):
    """docs/witness.md: "one of three etcd members stops or restarts: nothing changes, the
    holder renews through the others". The leader is killed (no leadership hand-over)
    and listed first, and stays down longer than the holder may go without renewing."""
    cluster = router_etcd(3)
    leader = run_in_netns(topology.router, cluster.leader)
    cluster.members.remove(leader)
    cluster.members.insert(0, leader)  # the pair's first endpoint
    pair = make(make_netns_pair, cluster, ttl=LONG_TTL, scale=LONG_SCALE)
    a, b = up(pair)
    started = time.time()
    # Down for the 2T/3 the holder may go without renewing, and more.
    cluster.restart(leader, down_for=LONG_TTL * LONG_SCALE * 2 / 3 + 1, crash=True)
    time.sleep(SETTLE)
    lost = [e["message"] for e in pair.events(a) if "key lost" in e["message"]]
    assert lost == []
    assert status(pair, a).get("witness", {}).get("held_here") is True
    assert actives(pair) == [a]
    assert status(pair, b)["state"] == "Backup"
    assert switches(pair.events(b), started) == []
    assert hook_runs(pair.events(a), "discontinue", started) == []


def test_without_a_witness_a_cut_makes_two_actives_until_it_heals(make_netns_pair, topology):
    pair = make(make_netns_pair, None)
    a, b = up(pair)
    cut_between(topology)
    pair.wait_for(lambda: len(actives(pair)) == 2, WAIT, "B to switch beside A")
    time.sleep(SETTLE)
    assert sorted(actives(pair)) == sorted((a, b))
    healed_at = time.time()
    cut_between(topology, heal=True)
    winner = wait_one_active(pair)
    loser = b if winner == a else a
    assert hook_runs(pair.events(loser), "discontinue", healed_at)
    rerun_commence(pair, winner, healed_at)
