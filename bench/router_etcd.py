"""A real etcd on the router's namespace: the witness's place in the pair's LAN.

The members listen on 10.202.0.9 (beside the NetTest address on the router's `lo`, so a
host can be cut from the witness alone with `Topology.cut(letter, WITNESS)`), each on
ports of its own, with a data directory under `base`. Used by `tests/netns/` and by the
witness rows of `bench/failover.py`; the members are the processes of `tests/etcd.py`,
stopped by PID.
"""
from __future__ import annotations

from pathlib import Path

from bench.netns import Topology, ip
from tests.etcd import EtcdCluster, etcd_binary

WITNESS = "10.202.0.9"


class EtcdUnavailable(RuntimeError):
    """There is no etcd binary here (the message says why and how to get one)."""


def start_router_etcd(topology: Topology, base: Path, size: int = 1) -> EtcdCluster:
    """`size` members (1, or 3 for a witness that survives losing one), started and
    healthy; the caller stops them (`cluster.stop()`) before the topology is destroyed."""
    binary, why = etcd_binary()
    if binary is None:
        raise EtcdUnavailable(why)
    ip("addr", "replace", f"{WITNESS}/32", "dev", "lo", netns=topology.router)
    cluster = EtcdCluster(binary, base, size, host=WITNESS,
                          exec_prefix=["ip", "netns", "exec", topology.router])
    try:
        cluster.start()
    except BaseException:
        cluster.stop()
        raise
    return cluster
