"""A channel: one DEALER connection to the peer's Notifier (main or aux).

The backup watches the active over two channels with their own addresses, so one can
fail while the other lives. Each channel heartbeats the Notifier on every loop turn and
declares itself up when anything arrives and down when nothing has for
`heartbeat_liveness` intervals; `on_state(name, up)` reports each change. After a loss
the socket is thrown away and recreated after `reconnect_delay`, so a peer that came back
with a new identity, or a CURVE handshake that wedged, recovers.

`request()` returns a Future of an `Outcome` (ok / rejected / timeout / connection-lost /
cancelled) — the distinctions the reference's primary monitor acts on.

`tos`, when not 0, is the IP TOS byte (DSCP << 2) on every packet the channel's socket
sends, so routers between the servers can prioritise it (the reference's "Switchover Use
QoS for Ping"); the caller decides which channel gets it.
"""
from __future__ import annotations

import heapq
import itertools
import logging
import threading
import time
from concurrent.futures import Future, InvalidStateError
from dataclasses import dataclass
from typing import Any, Callable, Mapping, Sequence

import zmq
from zmq.utils.monitor import recv_monitor_message

from .envelope import (
    EVENT,
    MAX_BULK_BYTES,
    MAX_ENVELOPE_BYTES,
    REQUEST,
    RESPONSE,
    Envelope,
    EnvelopeError,
    decode,
    describe,
    encode,
    payload_size,
)
from .loop import IOLoop, drain, send_frames
from .outcome import CANCELLED, CONNECTION_LOST, OK, REJECTED, TIMEOUT, Outcome
from .security import CurveKeys, curve_client

log = logging.getLogger("NotifierLib")

HEARTBEAT_EID = "Heartbeat"
NOTIFIER = "Notifier"


@dataclass(slots=True)
class _Request:
    future: Future[Outcome]
    env: Envelope
    deadline: float


class Channel(IOLoop):
    """A main or aux connection to the peer Notifier; see the module docstring."""

    def __init__(
        self,
        ctx: zmq.Context,
        *,
        name: str,
        endpoint: str,
        keys: CurveKeys | None,
        server_public: bytes | None,
        sender: str,
        on_state: Callable[[str, bool], None],
        on_event: Callable[[Envelope, tuple[bytes, ...]], None] | None = None,
        heartbeat_interval: float = 1.0,
        heartbeat_liveness: int = 3,
        reconnect_delay: float = 1.0,
        tos: int = 0,
    ) -> None:
        super().__init__(ctx, f"channel-{name}")
        if keys is not None and server_public is None:
            raise ValueError("a CURVE channel needs the server's public key")
        if not 0 <= tos <= 255:
            raise ValueError(f"IP TOS byte {tos} out of range 0..255")
        self.tos = tos
        self.channel_name = name
        self.endpoint = endpoint
        self.sender = sender
        self._keys = keys
        self._server_public = server_public
        self._on_state = on_state
        self._on_event = on_event
        self._interval = heartbeat_interval
        self._silence = heartbeat_interval * heartbeat_liveness
        self._reconnect_delay = reconnect_delay
        self._ids = itertools.count(1)
        self._pending: dict[int, _Request] = {}
        self._plock = threading.Lock()
        self._connected = False
        self._down = False  # True after a loss, until heard again
        # loop-thread state
        self._sock: zmq.Socket | None = None
        self._sock_born = 0.0
        self._reconnect_at = 0.0
        self._last_heard = float("-inf")
        self._next_heartbeat = 0.0
        self._timeouts: list[tuple[float, int]] = []
        self._unsent: list[tuple[int, list[bytes]]] = []

    # -- public, any thread ---------------------------------------------------------------

    @property
    def connected(self) -> bool:
        return self._connected

    def request(
        self,
        target: str,
        eid: str,
        body: Mapping[str, Any] | None = None,
        *,
        timeout: float,
        bulk: Sequence[bytes] = (),
        oid: str = "*",
    ) -> Future[Outcome]:
        """Send a request; the Future completes with its Outcome, never raises.

        While the channel is down (after a loss) the outcome is connection-lost at once;
        before the first connection the request waits for it, up to `timeout`.
        An envelope over the limits raises EnvelopeError here, in the caller.
        """
        fut: Future[Outcome] = Future()
        if not self.running:
            fut.set_result(Outcome(CANCELLED, detail=f"{self.channel_name} channel stopped"))
            return fut
        if self._down:
            fut.set_result(Outcome(CONNECTION_LOST,
                                   detail=f"{self.channel_name} connection is down"))
            return fut
        rid = next(self._ids)
        env = Envelope(REQUEST, self.sender, target, eid, rid, oid, None, body)
        frames = encode(env, bulk)
        deadline = time.monotonic() + timeout
        with self._plock:
            self._pending[rid] = _Request(fut, env, deadline)
        if log.isEnabledFor(logging.DEBUG):
            log.debug("CNotifierSocketConnection::WriteWithCode : SENT %s",
                      describe(env, payload_size(env, bulk)))
        if not self.call_soon(lambda: self._send_request(rid, frames, deadline)):
            self._finish(rid, Outcome(CANCELLED, detail=f"{self.channel_name} channel stopped"))
        return fut

    def cancel_all(self) -> None:
        """Complete every outstanding request as cancelled (the sender is stopping)."""
        self._fail_all(CANCELLED, f"{self.channel_name}: cancelled")

    def stop(self, timeout: float = 5.0) -> None:
        super().stop(timeout)
        self._connected = False
        self._fail_all(CANCELLED, f"{self.channel_name} channel stopped")

    # -- loop thread ------------------------------------------------------------------------

    def setup(self) -> None:
        self._open()

    def _open(self) -> None:
        sock = self.socket(zmq.DEALER)
        sock.maxmsgsize = MAX_BULK_BYTES + MAX_ENVELOPE_BYTES
        sock.reconnect_ivl = 100
        sock.reconnect_ivl_max = max(100, int(self._reconnect_delay * 1000))
        if self.tos:
            sock.setsockopt(zmq.TOS, self.tos)  # before connect: set on each connection
        if self._keys is not None:
            assert self._server_public is not None
            curve_client(sock, self._keys, self._server_public)
        # A peer process that dies closes its TCP connection: the monitor says so at
        # once, where heartbeat silence would take `heartbeat_liveness` intervals.
        monitor = sock.get_monitor_socket(zmq.EVENT_DISCONNECTED)
        self.register(monitor, self._on_monitor)
        self._monitor = monitor
        sock.connect(self.endpoint)
        self.register(sock, lambda s: drain(s, self._on_message, self.name))
        self._sock = sock
        now = time.monotonic()
        self._sock_born = now
        self._next_heartbeat = now
        self._flush_unsent()

    def _flush_unsent(self) -> None:
        unsent, self._unsent = self._unsent, []
        for rid, frames in unsent:
            if rid in self._pending and not self._send(frames):
                self._unsent.append((rid, frames))

    def _close(self, now: float) -> None:
        if self._sock is not None:
            self._sock.disable_monitor()
            self.close_socket(self._monitor)
            self.close_socket(self._sock)
            self._sock = None
        self._reconnect_at = now + self._reconnect_delay

    def tick(self, now: float) -> float | None:
        if self._sock is None:
            if now < self._reconnect_at:
                return min(self._reconnect_at, self._expire(now))
            self._open()
        if self._connected:
            if now - self._last_heard > self._silence:
                self._lose(now, f"nothing heard for {now - self._last_heard:.1f}s")
                return min(self._reconnect_at, self._expire(now))
        elif now - self._sock_born > self._silence and self._last_heard < self._sock_born:
            # Never answered on this socket: start afresh (new peer, wedged handshake).
            self._close(now)
            return min(self._reconnect_at, self._expire(now))
        if now >= self._next_heartbeat:
            self._next_heartbeat = now + self._interval
            hb = Envelope(REQUEST, self.sender, NOTIFIER, HEARTBEAT_EID, 0)
            self._send(encode(hb))
        deadline = min(self._next_heartbeat, self._expire(now))
        if self._connected:
            deadline = min(deadline, self._last_heard + self._silence)
        else:
            deadline = min(deadline, self._sock_born + self._silence)
        return deadline

    def _lose(self, now: float, why: str) -> None:
        log.warning("%s connection to %s lost: %s", self.channel_name, self.endpoint, why)
        self._connected = False
        self._down = True
        self._fail_all(CONNECTION_LOST, f"{self.channel_name} connection lost")
        self._unsent.clear()
        self._close(now)
        self._state(False)

    def _on_monitor(self, sock: zmq.Socket) -> None:
        while sock.poll(0):
            event = recv_monitor_message(sock)
            if event["event"] == zmq.EVENT_DISCONNECTED and self._connected:
                self._lose(time.monotonic(), "the peer closed the connection")
                return

    def _expire(self, now: float) -> float:
        """Time out due requests; return the next request deadline (inf if none)."""
        heap = self._timeouts
        while heap and heap[0][0] <= now:
            _, rid = heapq.heappop(heap)
            self._finish(rid, Outcome(TIMEOUT, detail=f"no response on {self.channel_name}"))
        return heap[0][0] if heap else float("inf")

    def _send(self, frames: list[bytes]) -> bool:
        if self._sock is None:
            return False
        try:
            send_frames(self._sock, frames)
            return True
        except zmq.ZMQError as exc:
            log.debug("%s: send failed: %s", self.channel_name, exc)
            return False

    def _send_request(self, rid: int, frames: list[bytes], deadline: float) -> None:
        if rid not in self._pending:
            return
        if self._down:
            self._finish(rid, Outcome(CONNECTION_LOST,
                                      detail=f"{self.channel_name} connection is down"))
            return
        heap = self._timeouts
        if len(heap) > 2 * len(self._pending) + 64:
            # Answered requests leave their deadline behind; drop those now and then so
            # the heap stays the size of what is really outstanding.
            with self._plock:
                live = self._pending.keys() & {r for _, r in heap}
            heap[:] = [item for item in heap if item[1] in live]
            heapq.heapify(heap)
        heapq.heappush(heap, (deadline, rid))
        if self._sock is None:
            # Not connected yet and between two attempts: goes out with the next socket.
            self._unsent.append((rid, frames))
            return
        if not self._send(frames):
            if not self._connected:  # no pipe yet (handshake pending or refused): wait
                self._unsent.append((rid, frames))
                return
            self._finish(rid, Outcome(CONNECTION_LOST,
                                      detail=f"{self.channel_name}: send queue full"))

    def _on_message(self, frames: list[bytes]) -> None:
        self._last_heard = time.monotonic()
        if not self._connected:
            self._connected = True
            self._down = False
            log.info("%s connection to %s established", self.channel_name, self.endpoint)
            self._state(True)
            self._flush_unsent()
        try:
            env, bulk = decode(frames)
        except EnvelopeError as exc:
            log.warning("%s: bad message from the notifier: %s", self.channel_name, exc)
            return
        if env.kind == RESPONSE:
            if env.eid == HEARTBEAT_EID and env.req_id == 0:
                return
            if log.isEnabledFor(logging.DEBUG):
                log.debug("MessageServer::GetMessageWithCode : RECV %s: SendWithRespOutOfOrder_%d",
                          describe(env, payload_size(env, bulk)), env.req_id)
            if env.status == OK:
                outcome = Outcome(OK, env, bulk)
            else:
                reason = env.body.get("reason", "") if env.body else ""
                outcome = Outcome(REJECTED, env, bulk, detail=f"{env.status}: {reason}")
            if not self._finish(env.req_id, outcome):
                log.debug("%s: late response %s RI[%d] dropped",
                          self.channel_name, env.eid, env.req_id)
        elif env.kind == EVENT:
            if self._on_event is not None:
                try:
                    self._on_event(env, bulk)
                except Exception:
                    log.exception("%s: on_event failed", self.channel_name)
        else:
            log.warning("%s: unexpected request %s from the notifier ignored",
                        self.channel_name, env.eid)

    def _state(self, up: bool) -> None:
        try:
            self._on_state(self.channel_name, up)
        except Exception:
            log.exception("%s: on_state failed", self.channel_name)

    # -- either thread ------------------------------------------------------------------------

    def _finish(self, rid: int, outcome: Outcome) -> bool:
        with self._plock:
            req = self._pending.pop(rid, None)
        if req is None:
            return False
        try:
            req.future.set_result(outcome)
        except InvalidStateError:
            pass  # the caller cancelled its future
        return True

    def _fail_all(self, status: str, detail: str) -> None:
        with self._plock:
            reqs, self._pending = self._pending, {}
        for req in reqs.values():
            try:
                req.future.set_result(Outcome(status, detail=detail))
            except InvalidStateError:
                pass
