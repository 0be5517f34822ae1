"""The backup's requests to the active's "DSServer", over the peer links.

Each request is bounded by "Switchover DS Request Timeout" and waits for a channel to
the active only as long as this host is the backup and its resync is not cancelled:
a superseded resync frees the worker now rather than after a whole request timeout
(120 s by default) of an active that does not answer.
"""
from __future__ import annotations

import concurrent.futures
import functools
import threading
import time
from typing import Any, Callable, Mapping

from switchover.replication.service import ServiceContext
from switchover.transport.channel import preferred

from . import protocol as p
from .remote import RemoteTree

#: Real seconds between looks at a waiting request's stop events.
STOP_CHECK = 0.05


class ActiveRequests:
    """Requests from this backup to the active; `backup_over()` is the event set when
    this host stops being the backup (a fresh one each time it becomes the backup)."""

    def __init__(self, ctx: ServiceContext, backup_over: Callable[[], threading.Event]) -> None:
        self.ctx = ctx
        self._backup_over = backup_over

    def timeout(self) -> float:
        return float(self.ctx.params()["Switchover DS Request Timeout"])

    def _channel(self) -> str:
        return preferred(self.ctx.links.connected)[0]

    def call(self, eid: str, body: Mapping[str, Any], bulk: Any,
             cancel: threading.Event | None = None) -> tuple:
        """One DSServer request; `cancel` is the event of the resync that makes it."""
        timeout = self.timeout()
        # The role arrives just before the channels open: wait for one to come up, but
        # not past the request timeout, nor once this host is no longer the backup, nor
        # once the resync is cancelled (a newer one waits for this worker).
        over = self._backup_over()
        stop = (over,) if cancel is None else (over, cancel)
        if not self.ctx.links.wait_connected(timeout, cancel=stop):
            raise p.RemoteError(f"{eid}: no connection to the active server")
        future = self.ctx.links.request(self._channel(), p.SERVICE, eid, timeout=timeout,
                                        body=body, bulk=bulk)
        outcome = self._await(eid, future, stop, timeout)
        if not outcome.ok:
            raise p.RemoteError(f"{eid}: {outcome.status} {outcome.detail}".strip())
        return outcome.response.body, outcome.bulk

    def _await(self, eid: str, future: concurrent.futures.Future,
               stop: tuple[threading.Event, ...], timeout: float) -> Any:
        """The request's outcome; gives up as soon as one of `stop` is set."""
        deadline = time.monotonic() + self.ctx.clock.real_seconds(timeout) + 10
        while True:
            done, _ = concurrent.futures.wait([future], timeout=STOP_CHECK)
            if done:
                return future.result()
            if any(event.is_set() for event in stop):
                raise p.RemoteError(f"{eid}: abandoned: the resync was superseded or this "
                                    "server stopped being the backup")
            if time.monotonic() > deadline:
                raise p.RemoteError(f"{eid}: no outcome within {timeout:g} s")

    def remote(self, cancel: threading.Event) -> RemoteTree:
        """The active's tree for one resync, stopped by its cancel event."""
        return RemoteTree(functools.partial(self.call, cancel=cancel), cancel)

    def send_ack(self, session: str, seq: int) -> concurrent.futures.Future:
        out: concurrent.futures.Future = concurrent.futures.Future()
        future = self.ctx.links.request(self._channel(), p.SERVICE, p.ACK,
                                        timeout=self.timeout(),
                                        body={"seq": seq, "session": session})
        future.add_done_callback(lambda f: out.set_result(
            not f.exception() and f.result().ok))
        return out
