"""Fixtures that start real etcd (see tests/etcd.py); they skip, saying why, without one."""
from __future__ import annotations

from pathlib import Path
from typing import Iterator

import pytest

from tests.etcd import EtcdCluster, TlsFiles, etcd_binary, make_tls


@pytest.fixture(scope="session")
def etcd_path() -> str:
    path, why = etcd_binary()
    if path is None:
        pytest.skip(why)
    return path


def _cluster(etcd_path: str, base: Path, size: int, tls: TlsFiles | None = None,
             extra: tuple[str, ...] = ()) -> Iterator[EtcdCluster]:
    cluster = EtcdCluster(etcd_path, base, size, tls, extra)
    try:
        cluster.start()
        yield cluster
    finally:
        cluster.stop()


@pytest.fixture
def etcd(etcd_path: str, tmp_path: Path) -> Iterator[EtcdCluster]:
    """One etcd member on 127.0.0.1, data in the test's own directory."""
    yield from _cluster(etcd_path, tmp_path / "etcd", 1)


@pytest.fixture
def etcd_cluster(etcd_path: str, tmp_path: Path) -> Iterator[EtcdCluster]:
    """Three etcd members on 127.0.0.1, for the tests that lose one."""
    yield from _cluster(etcd_path, tmp_path / "etcd", 3)


@pytest.fixture
def etcd_tls(etcd_path: str, tmp_path: Path) -> Iterator[EtcdCluster]:
    """One etcd member that speaks only https and wants a client certificate."""
    tls, why = make_tls(tmp_path / "tls")
    if tls is None:
        pytest.skip(why)
    yield from _cluster(etcd_path, tmp_path / "etcd", 1, tls)


@pytest.fixture
def etcd_short_tokens(etcd_path: str, tmp_path: Path) -> Iterator[EtcdCluster]:
    """One etcd member whose login tokens expire after a second."""
    yield from _cluster(etcd_path, tmp_path / "etcd", 1, extra=("--auth-token-ttl", "1"))
