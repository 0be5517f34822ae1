"""A real etcd on the router's namespace, reached by both hosts' namespaces: the witness's
place in the pair's LAN, and what a host cut from it sees."""
from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Callable

import pytest

from bench.netns import Topology
from bench.router_etcd import WITNESS
from tests.etcd import EtcdCluster

pytestmark = pytest.mark.netns

ROOT = Path(__file__).resolve().parents[2]

#: Runs in a host's namespace: one EtcdWitness call, its result as JSON on stdout.
SCRIPT = """
import json, sys
from switchover.transport.witness import EtcdWitness, Holder, WitnessError
witness = EtcdWitness([sys.argv[1]], "/switchover/netns-pair", timeout=1.0)
op, arg = sys.argv[2], sys.argv[3]
try:
    if op == "acquire":
        r = witness.acquire(Holder(arg, 1), ttl=2)
        print(json.dumps({"acquired": r.acquired, "lease": r.lease}))
    elif op == "keep_alive":
        print(json.dumps({"ttl": witness.keep_alive(int(arg))}))
    else:
        holder, lease = witness.read()
        print(json.dumps({"holder": holder and holder.server, "lease": lease}))
except WitnessError as exc:
    print(json.dumps({"error": str(exc)}))
"""


def call(topology: Topology, letter: str, cluster: EtcdCluster, op: str, arg: str) -> dict:
    done = subprocess.run(
        [*topology.exec_prefix(letter), sys.executable, "-c", SCRIPT, cluster.endpoints[0],
         op, arg], capture_output=True, text=True, timeout=20, cwd=ROOT,
        env={"PYTHONPATH": str(ROOT), "PATH": "/usr/sbin:/usr/bin:/sbin:/bin"},
    )
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout)


def test_both_hosts_reach_the_witness_and_a_cut_host_cannot_renew(
    topology: Topology, router_etcd: Callable[[int], EtcdCluster],
) -> None:
    witness_on_router = router_etcd(1)
    taken = call(topology, "A", witness_on_router, "acquire", "ICServer1")
    assert taken["acquired"]
    assert call(topology, "B", witness_on_router, "read", "-") == {
        "holder": "ICServer1", "lease": taken["lease"]}
    assert not call(topology, "B", witness_on_router, "acquire", "ICServer2")["acquired"]
    topology.cut("A", WITNESS)
    cut = call(topology, "A", witness_on_router, "keep_alive", str(taken["lease"]))
    assert cut["error"].startswith(f"etcd unreachable: {witness_on_router.endpoints[0]} ")
    for _ in range(50):  # the lease expires two seconds after A's last renewal
        if call(topology, "B", witness_on_router, "acquire", "ICServer2")["acquired"]:
            break
    else:
        pytest.fail("B never took the key after A was cut off")
    topology.uncut("A", WITNESS)
    assert call(topology, "A", witness_on_router, "read", "-")["holder"] == "ICServer2"
