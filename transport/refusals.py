"""Refused connections, made visible: one log line per peer address and reason.

A server socket (virtual switch, Notifier main/aux, admin) refuses random bytes, a
foreign CURVE key or a client that never finishes its handshake inside libzmq, where
nothing is logged. Its monitor events say what happened: ACCEPTED (with the
connection's descriptor, from which the peer's address is read), HANDSHAKE_SUCCEEDED,
HANDSHAKE_FAILED_* and DISCONNECTED. A connection that ends without a successful
handshake is a refusal, with the reason the events give. Each (address, reason) is
logged at most once per `interval`, the next line saying how many were held back, so
a flood cannot fill the disk; `REFUSALS` counts them all for the metrics.
"""
from __future__ import annotations

import collections
import logging
import socket
import threading
import time
from typing import Any, Callable

import zmq
from zmq.utils.monitor import parse_monitor_message

log = logging.getLogger("Security")

#: Bytes that are not a ZMTP greeting, or a handshake that broke off (libzmq reports
#: some as a protocol failure, most only as a disconnect before the handshake).
MALFORMED = "malformed greeting"
TIMEOUT = "handshake timeout"
KEY_REFUSED = "CURVE key refused"
#: Refusals by (socket name, reason) since the process started.
REFUSALS: collections.Counter[tuple[str, str]] = collections.Counter()
_REFUSALS_LOCK = threading.Lock()
EVENTS = (zmq.EVENT_ACCEPTED | zmq.EVENT_DISCONNECTED | zmq.EVENT_HANDSHAKE_SUCCEEDED
          | zmq.EVENT_HANDSHAKE_FAILED_AUTH | zmq.EVENT_HANDSHAKE_FAILED_PROTOCOL
          | zmq.EVENT_HANDSHAKE_FAILED_NO_DETAIL)
#: Most (address, reason) pairs remembered; past this the memory starts again.
MAX_KEYS = 10_000


def lock() -> threading.Lock:
    """Held while REFUSALS is read or changed."""
    return _REFUSALS_LOCK


def peer_address(fd: int) -> str:
    """host:port of the connection on descriptor `fd`, or "unknown" if it is gone."""
    try:
        with socket.socket(fileno=socket.dup(fd)) as conn:
            host, port = conn.getpeername()[:2]
    except OSError:
        return "unknown"
    return f"{host}:{port}"


class RefusalCore:
    """Monitor events in, refusals out (pure apart from the address look-up)."""

    def __init__(self, handshake_seconds: float,
                 address_of: Callable[[int], str] = peer_address) -> None:
        self.handshake_seconds = handshake_seconds
        self.address_of = address_of
        self.open: dict[int, tuple[str, float]] = {}
        self.done: set[int] = set()
        self.failure: str | None = None

    def feed(self, event: int, value: int, now: float) -> tuple[str, str] | None:
        """(address, reason) when this event ends a refused connection."""
        if event == zmq.EVENT_ACCEPTED:
            self.open[value] = (self.address_of(value), now)
            self.done.discard(value)
        elif event == zmq.EVENT_HANDSHAKE_SUCCEEDED:
            self.done.update(self.open)  # no descriptor given: the open ones are through
        elif event == zmq.EVENT_HANDSHAKE_FAILED_AUTH:
            self.failure = KEY_REFUSED
        elif event in (zmq.EVENT_HANDSHAKE_FAILED_PROTOCOL,
                       zmq.EVENT_HANDSHAKE_FAILED_NO_DETAIL):
            self.failure = MALFORMED
        elif event == zmq.EVENT_DISCONNECTED:
            address, since = self.open.pop(value, ("unknown", now))
            if value in self.done:
                self.done.discard(value)
                return None
            reason, self.failure = self.failure, None
            if reason is None:
                reason = TIMEOUT if now - since >= self.handshake_seconds * 0.9 else MALFORMED
            return address, reason
        return None


class RefusalLog:
    """Logs refusals once per (address, reason) per `interval`, counting the rest."""

    def __init__(self, name: str, interval: float = 60.0) -> None:
        self.name = name
        self.interval = interval
        self.last: dict[tuple[str, str], tuple[float, int]] = {}

    def refused(self, address: str, reason: str, now: float) -> bool:
        """Count a refusal; True when it was logged."""
        with _REFUSALS_LOCK:
            REFUSALS[(self.name, reason)] += 1
        key = (address.rsplit(":", 1)[0], reason)  # per host: a flood changes ports
        logged_at, held = self.last.get(key, (None, 0))
        if logged_at is not None and now - logged_at < self.interval:
            self.last[key] = (logged_at, held + 1)
            return False
        if len(self.last) >= MAX_KEYS:
            self.last.clear()
        self.last[key] = (now, 0)
        more = f" ({held} more since the last line)" if held else ""
        log.warning("refused a connection to the %s socket from %s: %s%s",
                    self.name, address, reason, more)
        return True


def watch(loop: Any, sock: zmq.Socket, name: str) -> None:
    """Log and count the refusals of server socket `sock`, on `loop`'s thread (call in
    its setup, after bind)."""
    core = RefusalCore(sock.getsockopt(zmq.HANDSHAKE_IVL) / 1000.0)
    refusals = RefusalLog(name)
    monitor = sock.get_monitor_socket(EVENTS)
    monitor.linger = 0

    def on_events(mon: zmq.Socket) -> None:
        while True:
            try:
                message = parse_monitor_message(mon.recv_multipart(zmq.NOBLOCK))
            except zmq.Again:
                return
            now = time.monotonic()
            out = core.feed(message["event"], message["value"], now)
            if out is not None:
                refusals.refused(*out, now)

    loop.register(monitor, on_events)
