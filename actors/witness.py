"""The witness as a Pykka actor: the state machine's hold on the pair's key in etcd.

A thin shell around :class:`~actors.witness_driver.WitnessDriver` (the schedule, the
commands and the reports are documented there and in docs/witness.md). Its handler never
waits on etcd: calls run on the driver's worker thread and come back to this actor's
inbox. `witness_store` builds the real etcd client from `[witness]`.
"""
from __future__ import annotations

import logging
from concurrent.futures import Executor
from typing import Any, Callable

import pykka

from switchover.actors.witness_driver import WitnessDriver, WitnessStore
from switchover.actors.witness_messages import (
    AcquireWitness,
    Holder,
    ReadWitness,
    ReleaseWitness,
    WitnessAcquired,
    WitnessHeldBy,
    WitnessHolder,
    WitnessLost,
    WitnessReleased,
    WitnessUnreachable,
)
from switchover.clock import Clock
from switchover.witness_config import WitnessConfig
from switchover.transport.witness import EtcdWitness

__all__ = [
    "AcquireWitness", "Holder", "ReadWitness", "ReleaseWitness", "Witness", "WitnessAcquired",
    "WitnessHeldBy", "WitnessHolder", "WitnessLost", "WitnessReleased", "WitnessUnreachable",
    "witness_store",
]

log = logging.getLogger("Witness")


def witness_store(config: WitnessConfig) -> Callable[[float], WitnessStore]:
    """The driver's `store` for `[witness]`: an EtcdWitness with the call timeout it asks."""

    def make(timeout: float) -> WitnessStore:
        return EtcdWitness(
            config.endpoints, config.prefix, timeout=timeout,
            ca_file=_text(config.ca_file), cert_file=_text(config.cert_file),
            key_file=_text(config.key_file), user=config.user, password=config.password,
        )

    return make


def _text(path: object) -> str | None:
    return None if path is None else str(path)


class Witness(pykka.ThreadingActor):
    """Messages (``tell``): AcquireWitness, ReleaseWitness, ReadWitness; reports go to `post`.

    Proxy call: ``snapshot()`` for status. Stopping the actor does not revoke the lease
    (it expires within its TTL); send ReleaseWitness first for a hand-over.
    """

    def __init__(
        self,
        clock: Clock,
        store: Callable[[float], WitnessStore],
        server: str,
        ttl: float,
        post: Callable[[object], None],
        *,
        executor: Executor | None = None,
    ) -> None:
        super().__init__()
        self._driver = WitnessDriver(clock, store, server, ttl, post, self._tell_self, executor)

    def _tell_self(self, message: object) -> None:
        try:
            self.actor_ref.tell(message)
        except pykka.ActorDeadError:
            pass

    def on_stop(self) -> None:
        self._driver.close()

    def on_receive(self, message: Any) -> Any:
        """Asked (``ask``) ReleaseWitness, the answer is the revoke's future, or None."""
        try:
            return self._driver.handle(message)
        except Exception:
            log.exception("failed to handle %r", message)
            return None

    def snapshot(self) -> dict[str, Any]:
        return self._driver.snapshot()
