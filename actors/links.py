"""What the monitors need of the remote notifier connections, without sockets.

The backup holds two connections to the primary's Notifier, "main" and "aux". Monitors
send requests through :class:`Links` and get a future that resolves to an
:class:`~transport.outcome.Outcome` (ok / timeout / rejected / connection-lost /
cancelled); they never block on it (``add_done_callback`` -> ``actor_ref.tell``).
Unit tests use a scripted stand-in on a FakeClock (``tests/unit/doubles.py``).
"""
from __future__ import annotations

from concurrent.futures import Future
from typing import Protocol

from switchover.transport.outcome import Outcome

MAIN = "main"
AUX = "aux"


class Links(Protocol):
    """The backup's two connections to the primary's Notifier."""

    def request(
        self, channel: str, target: str, eid: str, *, timeout: float
    ) -> Future[Outcome]:
        """Send a request on `channel`; the future resolves within `timeout` ref. seconds."""

    def connected(self, channel: str) -> bool:
        """The channel's "connected" state as the connection itself maintains it."""
