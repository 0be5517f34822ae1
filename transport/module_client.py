"""The client library a monitored module (TsServer, ...) embeds.

It registers the module with the local Notifier under its name, heartbeats so the
Notifier notices at once when the module dies, answers requests, and re-registers by
itself when the Notifier restarts (a heartbeat answered "not registered", or silence).
By default it answers "TS Diagnostic Ping" with its PID, as the reference's module does:
"The module sends its current process ID (PID) in a response".
"""
from __future__ import annotations

import logging
import os
import time
from typing import Any, Callable, Mapping

import zmq

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

log = logging.getLogger("NotifierLib")

PING_EID = "TS Diagnostic Ping"
NOTIFIER = "Notifier"
_REGISTER_ID = 1
_HEARTBEAT_ID = 2
_UNREGISTER_ID = 3

Handler = Callable[[Envelope], "Mapping[str, Any] | None"]


def default_handler(env: Envelope) -> Mapping[str, Any] | None:
    """Answer the TS ping with this process's PID; reject anything else."""
    if env.eid == PING_EID:
        return {"pid": os.getpid()}
    return None


class ModuleClient(IOLoop):
    """A module's connection to its host's Notifier (see the module docstring)."""

    def __init__(
        self,
        ctx: zmq.Context,
        *,
        endpoint: str,
        name: str,
        handler: Handler | None = None,
        heartbeat_interval: float = 1.0,
        heartbeat_liveness: int = 3,
    ) -> None:
        super().__init__(ctx, f"module-{name}")
        self.endpoint = endpoint
        self.module_name = name
        self._handler = handler or default_handler
        self._interval = heartbeat_interval
        self._silence = heartbeat_interval * heartbeat_liveness
        self._pid = os.getpid()
        self._sock: zmq.Socket | None = None
        self._registered = False
        self._last_heard = 0.0
        self._next_heartbeat = 0.0
        self._next_register = 0.0
        #: Counts this client's connections, so that the Notifier can tell a reconnect
        #: of this process from a second client of the same name.
        self._connection = 0

    @property
    def registered(self) -> bool:
        """True once the Notifier has accepted the registration (until it is lost)."""
        return self._registered

    def send_event(self, eid: str, body: Mapping[str, Any] | None = None) -> None:
        """Send an event; the Notifier forwards it to the peer host (thread-safe)."""
        frames = encode(Envelope(EVENT, self.module_name, "*", eid, 0, "*", None, body))
        self.call_soon(lambda: self._send(frames))

    # -- loop thread ----------------------------------------------------------------------

    def setup(self) -> None:
        self._open()

    def _open(self) -> None:
        sock = self.socket(zmq.DEALER)
        sock.maxmsgsize = MAX_BULK_BYTES + MAX_ENVELOPE_BYTES
        sock.reconnect_ivl = 100
        sock.reconnect_ivl_max = max(100, int(self._interval * 1000))
        sock.connect(self.endpoint)
        self.register(sock, lambda s: drain(s, self._on_message, self.name))
        self._sock = sock
        self._connection += 1
        now = time.monotonic()
        self._last_heard = now
        self._registered = False
        self._next_register = now

    def teardown(self) -> None:
        if self._sock is not None and self._registered:
            # Say goodbye so the Notifier reports the module gone now, not after the
            # liveness window; a short linger gives the frame a chance to leave.
            self._sock.linger = 200
            self._send(encode(Envelope(REQUEST, self.module_name, NOTIFIER, "Unregister",
                                       _UNREGISTER_ID)))

    def tick(self, now: float) -> float | None:
        if now - self._last_heard > self._silence:
            log.warning("%s: notifier at %s silent for %.1fs: reconnecting",
                        self.module_name, self.endpoint, now - self._last_heard)
            if self._sock is not None:
                self.close_socket(self._sock)
            self._open()
        if not self._registered:
            if now >= self._next_register:
                self._next_register = now + self._interval
                self._send(encode(Envelope(REQUEST, self.module_name, NOTIFIER, "Register",
                                           _REGISTER_ID, "*", None,
                                           {"name": self.module_name, "pid": self._pid,
                                            "connection": self._connection})))
            return self._next_register
        if now >= self._next_heartbeat:
            self._next_heartbeat = now + self._interval
            self._send(encode(Envelope(REQUEST, self.module_name, NOTIFIER, "Heartbeat",
                                       _HEARTBEAT_ID)))
        return min(self._next_heartbeat, self._last_heard + self._silence + 0.001)

    def _send(self, frames: list[bytes]) -> None:
        if self._sock is None:
            return
        try:
            send_frames(self._sock, frames)
        except zmq.ZMQError as exc:
            log.debug("%s: send failed: %s", self.module_name, exc)

    def _on_message(self, frames: list[bytes]) -> None:
        self._last_heard = time.monotonic()
        try:
            env, bulk = decode(frames)
        except EnvelopeError as exc:
            log.warning("%s: bad message from the notifier: %s", self.module_name, exc)
            return
        if env.kind == RESPONSE:
            if env.target == self.module_name and env.sender == NOTIFIER:
                self._own_response(env)
            return
        if env.kind != REQUEST:
            return
        debug = log.isEnabledFor(logging.DEBUG)
        if debug:
            log.debug("MessageServer::GetMessagesWithCode : RECV %s: ReqHandler",
                      describe(env, payload_size(env, bulk)))
        try:
            result = self._handler(env)
        except Exception as exc:
            log.exception("%s: handler failed on %s", self.module_name, env.eid)
            reply = env.reply("error", {"reason": f"{type(exc).__name__}: {exc}"})
        else:
            if result is None:
                reply = env.reply("rejected", {"reason": f"{self.module_name} does not "
                                                         f"handle {env.eid!r}"})
            else:
                reply = env.reply("ok", result)
        try:
            frames = encode(reply)
        except (EnvelopeError, TypeError) as exc:
            frames = encode(env.reply("error", {"reason": f"cannot encode response: {exc}"}))
        if debug:
            log.debug("CNotifierSocketConnection::Write : SENT %s",
                      describe(reply, payload_size(reply)))
        self._send(frames)

    def _own_response(self, env: Envelope) -> None:
        if env.eid == "Register":
            if env.status == "ok":
                if not self._registered:
                    log.info("%s registered with the notifier at %s", self.module_name,
                             self.endpoint)
                self._registered = True
                self._next_heartbeat = time.monotonic() + self._interval
            else:
                log.error("%s: registration refused: %s", self.module_name,
                          env.body.get("reason", env.status))
        elif env.eid == "Heartbeat" and env.status != "ok":
            if self._registered:
                log.warning("%s: notifier no longer knows this module (%s): registering again",
                            self.module_name, env.body.get("reason", env.status))
            self._registered = False
            self._next_register = time.monotonic()
