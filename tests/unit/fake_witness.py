"""An etcd of one key on a FakeClock, and an executor whose calls a test finishes by hand.

`FakeEtcd` keeps what transport.witness.EtcdWitness relies on: a lease expires a TTL
after it was granted or last kept alive and takes its key with it; a key is created only
while absent. `reachable = False` makes every call fail as a stopped etcd does.
"""
from __future__ import annotations

import itertools
from collections import deque
from concurrent.futures import Future
from dataclasses import dataclass, field
from typing import Any, Callable

from switchover.clock import FakeClock
from switchover.transport.witness import AcquireResult, Holder, WitnessError


@dataclass
class FakeEtcd:
    clock: FakeClock
    reachable: bool = True
    leases: dict[int, float] = field(default_factory=dict)  # id -> expiry time
    ttls: dict[int, int] = field(default_factory=dict)
    key: tuple[Holder, int] | None = None
    calls: list[str] = field(default_factory=list)
    timeouts: list[float] = field(default_factory=list)
    _ids: Any = field(default_factory=lambda: itertools.count(100))

    def store(self, timeout: float) -> FakeStore:
        self.timeouts.append(timeout)
        return FakeStore(self)

    def expire(self) -> None:
        now = self.clock.now()
        for lease, expiry in list(self.leases.items()):
            if expiry <= now:
                del self.leases[lease]
                if self.key is not None and self.key[1] == lease:
                    self.key = None

    def grant(self, ttl: int) -> int:
        lease = next(self._ids)
        self.leases[lease], self.ttls[lease] = self.clock.now() + ttl, ttl
        return lease

    def take(self, holder: Holder, ttl: int) -> int:
        """Someone else takes the key (as another server would)."""
        lease = self.grant(ttl)
        self.key = (holder, lease)
        return lease


class FakeStore:
    """The driver's WitnessStore over a FakeEtcd."""

    def __init__(self, etcd: FakeEtcd) -> None:
        self.etcd = etcd

    def _enter(self, call: str) -> FakeEtcd:
        self.etcd.calls.append(call)
        if not self.etcd.reachable:
            raise WitnessError("etcd unreachable: http://127.0.0.1:2379 Connection refused")
        self.etcd.expire()
        return self.etcd

    def acquire(self, holder: Holder, ttl: int) -> AcquireResult:
        etcd = self._enter("acquire")
        if etcd.key is not None:
            left = etcd.leases[etcd.key[1]] - etcd.clock.now()
            return AcquireResult(False, holder=etcd.key[0], expires_in=left)
        lease = etcd.take(holder, ttl)
        return AcquireResult(True, lease=lease, ttl=ttl, holder=holder)

    def keep_alive(self, lease: int) -> int:
        etcd = self._enter("keep_alive")
        if lease not in etcd.leases:
            return 0
        etcd.leases[lease] = etcd.clock.now() + etcd.ttls[lease]
        return etcd.ttls[lease]

    def read(self) -> tuple[Holder | None, int]:
        etcd = self._enter("read")
        return etcd.key if etcd.key is not None else (None, 0)

    def release(self, lease: int) -> None:
        etcd = self._enter("release")
        etcd.leases.pop(lease, None)
        if etcd.key is not None and etcd.key[1] == lease:
            etcd.key = None

    def close(self) -> None:
        pass


class ManualExecutor:
    """Runs calls at once, or (`hold = True`) keeps them in flight until `finish()`."""

    def __init__(self) -> None:
        self.hold = False
        self.pending: deque[tuple[Future, Callable[[], Any]]] = deque()

    def submit(self, fn: Callable[[], Any]) -> Future:
        future: Future = Future()
        self.pending.append((future, fn))
        if not self.hold:
            self.finish()
        return future

    def finish(self) -> None:
        while self.pending:
            future, fn = self.pending.popleft()
            future.set_result(fn())

    def shutdown(self, wait: bool = True) -> None:
        self.pending.clear()
