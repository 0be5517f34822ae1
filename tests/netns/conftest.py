"""Network-namespace fixtures: a pair on a small LAN of its own (see bench/netns.py).

Each test gets fresh namespaces named after this process and a counter
(`so-<pid>-<n>a`, `...b`, `...r`), deleted in teardown whatever happens. Host A
(10.201.0.2) and host B (10.201.0.3) run as `ip netns exec NS switchover run`; the router
namespace holds their gateway 10.201.0.1 and the NetTest address 10.202.0.1. The test
process makes its admin calls from inside a host's namespace (`run_in_netns`), so it can
read a host's status even while that host's link is down. Without permission to add a
namespace (no CAP_SYS_ADMIN / CAP_NET_ADMIN), every test here is skipped with the reason.

`router_etcd(size)` starts a real etcd of 1 or 3 members on the router's namespace
(bench/router_etcd.py), reached from both hosts; without an etcd binary the test skips,
saying why.
"""
from __future__ import annotations

import sys
from pathlib import Path
from typing import Any, Callable, Iterator

import pytest

ROOT = Path(__file__).resolve().parents[2]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from bench.netns import Topology, netns_available, ranges_unused  # noqa: E402
from bench.router_etcd import EtcdUnavailable, start_router_etcd  # noqa: E402
from switchover.localpair import LocalPair  # noqa: E402
from tests.etcd import EtcdCluster  # noqa: E402


@pytest.fixture(scope="session")
def netns_ok() -> None:
    ok, why = netns_available()
    if not ok:
        pytest.skip(why)
    clash = ranges_unused()
    if clash:
        pytest.skip(f"the test network's addresses are in use here: {clash}")


@pytest.fixture
def topology(netns_ok: None) -> Iterator[Topology]:
    topo = Topology()
    try:
        topo.build()
        yield topo
    finally:
        topo.destroy()


@pytest.fixture
def make_netns_pair(topology: Topology, short_tmp: Path) -> Iterator[Callable[..., LocalPair]]:
    """LocalPair(**kwargs) with A in namespace A and B in namespace B, on their addresses."""
    pairs: list[LocalPair] = []

    def make(**kwargs: Any) -> LocalPair:
        names = kwargs.get("names", ("ICServer1", "ICServer2"))
        kwargs.setdefault("addresses", {names[0]: topology.address("A"),
                                        names[1]: topology.address("B")})
        kwargs.setdefault("netns", {names[0]: topology.ns("A"), names[1]: topology.ns("B")})
        pair = LocalPair(short_tmp / f"pair{len(pairs)}", **kwargs)
        pairs.append(pair)
        return pair

    try:
        yield make
    finally:
        for pair in pairs:
            pair.stop_all()  # by PID: only the processes this pair started



@pytest.fixture
def router_etcd(topology: Topology, tmp_path: Path) -> Iterator[Callable[[int], EtcdCluster]]:
    """start(size): an etcd cluster of `size` members on the router, each with its data
    under this test's tmp dir; every member started here is stopped by PID afterwards."""
    clusters: list[EtcdCluster] = []

    def start(size: int = 1) -> EtcdCluster:
        try:
            cluster = start_router_etcd(topology, tmp_path / f"etcd{len(clusters)}", size)
        except EtcdUnavailable as exc:
            pytest.skip(str(exc))
        clusters.append(cluster)
        return cluster

    try:
        yield start
    finally:
        for cluster in clusters:
            cluster.stop()
