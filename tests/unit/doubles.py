"""Test doubles for the monitors: scripted links, a synchronous inbox, a scripted prober.

They stand in for `PeerLinks`, a Pykka inbox and `IcmpProber` so that the monitors' drivers
run on a FakeClock, on the test's thread, with no sockets.
"""
from __future__ import annotations

import collections
import threading
from concurrent.futures import Executor, Future
from dataclasses import dataclass
from typing import Any, Callable, Deque, Iterable

from switchover.actors.links import AUX, MAIN
from switchover.clock import Clock, TimerHandle
from switchover.transport.outcome import CANCELLED, CONNECTION_LOST, OK, TIMEOUT, Outcome

CHANNELS = (MAIN, AUX)


# --- a scripted fake ----------------------------------------------------------------


@dataclass(frozen=True)
class Reply:
    """A scripted answer: `status` after `latency` reference seconds (None = silence)."""

    status: str | None = OK
    response: Any = None
    latency: float = 0.0


SILENCE = Reply(status=None)

Responder = Callable[[str, str, str], Reply]  # (channel, target, eid) -> Reply


@dataclass(frozen=True)
class Sent:
    at: float
    channel: str
    target: str
    eid: str
    timeout: float


class FakeLinks:
    """Links driven by a FakeClock: every future resolves on a clock timer.

    Answers come from, in order: a per-target queue (:meth:`script`), a per-target
    responder (:meth:`respond`), else ``ok`` with no body. A reply slower than the
    request's timeout, or silence, resolves as ``timeout`` when the clock passes it. A
    request on a disconnected channel resolves ``connection-lost`` at once (on the next
    clock turn); :meth:`disconnect` fails every pending request on the channel.
    """

    def __init__(self, clock: Clock) -> None:
        self._clock = clock
        self._lock = threading.Lock()
        self._connected = {c: True for c in CHANNELS}
        self._queues: dict[str, Deque[Reply]] = collections.defaultdict(collections.deque)
        self._responders: dict[str, Responder] = {}
        self._pending: dict[int, tuple[str, Future[Outcome], TimerHandle]] = {}
        self._ids = 0
        self.sent: list[Sent] = []

    # scripting
    def script(self, target: str, *replies: Reply) -> None:
        with self._lock:
            self._queues[target].extend(replies)

    def respond(self, target: str, responder: Responder | Reply) -> None:
        if isinstance(responder, Reply):
            reply = responder
            responder = lambda channel, target, eid: reply  # noqa: E731
        with self._lock:
            self._responders[target] = responder

    def disconnect(self, channel: str) -> None:
        with self._lock:
            self._connected[channel] = False
            doomed = [(k, v) for k, v in self._pending.items() if v[0] == channel]
            for k, _ in doomed:
                del self._pending[k]
        for _, (_, future, timer) in doomed:
            timer.cancel()
            _set(future, Outcome(CONNECTION_LOST, detail=f"{channel} connection lost"))

    def reconnect(self, channel: str) -> None:
        with self._lock:
            self._connected[channel] = True

    def cancel_all(self) -> None:
        with self._lock:
            pending, self._pending = list(self._pending.values()), {}
        for _, future, timer in pending:
            timer.cancel()
            _set(future, Outcome(CANCELLED))

    def sent_to(self, target: str) -> list[Sent]:
        with self._lock:
            return [s for s in self.sent if s.target == target]

    # Links
    def connected(self, channel: str) -> bool:
        with self._lock:
            return self._connected[channel]

    def request(
        self, channel: str, target: str, eid: str, *, timeout: float
    ) -> Future[Outcome]:
        future: Future[Outcome] = Future()
        with self._lock:
            self.sent.append(Sent(self._clock.now(), channel, target, eid, timeout))
            if not self._connected[channel]:
                reply = Reply(CONNECTION_LOST)
            elif self._queues[target]:
                reply = self._queues[target].popleft()
            elif target in self._responders:
                reply = self._responders[target](channel, target, eid)
            else:
                reply = Reply(OK)
            self._ids += 1
            key = self._ids
        if reply.status is None or reply.latency > timeout:
            delay, outcome = timeout, Outcome(TIMEOUT, detail=f"no reply in {timeout:g} s")
        else:
            delay, outcome = reply.latency, Outcome(reply.status, response=reply.response)

        def fire() -> None:
            with self._lock:
                entry = self._pending.pop(key, None)
            if entry is not None:
                _set(future, outcome)

        with self._lock:
            # register before scheduling so a zero delay cannot fire unregistered
            self._pending[key] = (channel, future, _NoTimer())
        timer = self._clock.call_later(delay, fire)
        with self._lock:
            if key in self._pending:
                self._pending[key] = (channel, future, timer)
        return future


class _NoTimer:
    def cancel(self) -> None:
        pass


def _set(future: Future[Outcome], outcome: Outcome) -> None:
    if not future.done():
        future.set_result(outcome)


# --- running a driver synchronously -----------------------------------------------------


class Trampoline:
    """Deliver messages to `handler` one at a time on the caller's thread.

    A driver's ``deliver`` in tests: a message posted while another is being handled
    (a future that is already done, a timer firing inside a handler) waits its turn
    instead of re-entering the handler, as it would in an actor's inbox.
    """

    def __init__(self, handler: Callable[[object], None] | None = None) -> None:
        self.handler = handler
        self._queue: Deque[object] = collections.deque()
        self._running = False

    def __call__(self, message: object) -> None:
        self._queue.append(message)
        if self._running:
            return
        self._running = True
        try:
            while self._queue:
                msg = self._queue.popleft()
                assert self.handler is not None, "Trampoline has no handler"
                self.handler(msg)
        finally:
            self._running = False


# --- the network probes ------------------------------------------------------------------


class FakeProber:
    """Answers from a set of reachable addresses; records every echo."""

    def __init__(self, reachable: Iterable[str] = ()) -> None:
        self.reachable = set(reachable)
        self.calls: list[tuple[str, float]] = []

    def set(self, address: str, up: bool) -> None:
        (self.reachable.add if up else self.reachable.discard)(address)

    def ping(self, address: str, timeout: float) -> bool:
        self.calls.append((address, timeout))
        return address in self.reachable


class InlineExecutor(Executor):
    """Runs submitted work on the caller's thread (tests: probes with a FakeProber)."""

    def submit(self, fn: Callable[..., Any], /, *args: Any, **kwargs: Any) -> Future[Any]:
        future: Future[Any] = Future()
        try:
            future.set_result(fn(*args, **kwargs))
        except BaseException as exc:  # pragma: no cover - passed on to the caller
            future.set_exception(exc)
        return future
