"""The virtual switch (port 3633): the two hosts agree on roles through it.

Init asks the peer "what is your state?"; a host that becomes active tells the other
"you are no longer active"; manual switch requests travel here too. The server is a
ROUTER (CURVE, ZAP domain "switch") whose handler runs on the loop thread and must be
fast. `switch_request` is a one-shot DEALER: no answer within the timeout returns None,
which is how Init learns that the peer is unreachable.
"""
from __future__ import annotations

import logging
from typing import Any, Callable, Mapping

import orjson
import zmq

from .envelope import MAX_ENVELOPE_BYTES, load_object
from . import refusals
from .loop import LINGER_MS, IOLoop, drain, send_frames
from .security import Authenticator, CurveKeys, curve_client, curve_server

log = logging.getLogger("Switch")

ZAP_DOMAIN = "switch"
DEFAULT_PORT = 3633
#: Socket-monitor events of a CURVE handshake that the peer did not accept.
HANDSHAKE_FAILED = (zmq.EVENT_HANDSHAKE_FAILED_NO_DETAIL | zmq.EVENT_HANDSHAKE_FAILED_PROTOCOL
                    | zmq.EVENT_HANDSHAKE_FAILED_AUTH)
KEY_REFUSED = ("the peer refused our server-group key (the CURVE handshake failed): both "
               "servers must use the same server group key")


def _error(reason: str) -> dict[str, Any]:
    return {"status": "error", "reason": reason}


def parse_request(frame: bytes) -> dict[str, Any]:
    """A switch request as a dict; ValueError saying what is wrong with it."""
    return load_object(frame)


class SwitchServer(IOLoop):
    """ROUTER answering switch requests with `handler(request) -> reply`."""

    def __init__(
        self,
        ctx: zmq.Context,
        *,
        endpoint: str,
        keys: CurveKeys | None,
        authenticator: Authenticator | None,
        handler: Callable[[Mapping[str, Any]], Mapping[str, Any]],
    ) -> None:
        super().__init__(ctx, "switch")
        self.endpoint = endpoint
        self._keys = keys
        self._authenticator = authenticator
        self._handler = handler
        self._sock: zmq.Socket | None = None

    def setup(self) -> None:
        sock = self.socket(zmq.ROUTER)
        sock.maxmsgsize = MAX_ENVELOPE_BYTES * 2
        if self._keys is not None:
            auth = self._authenticator
            if auth is not None and not auth.has_domain(ZAP_DOMAIN):
                auth.allow(ZAP_DOMAIN, {self._keys.public: frozenset({"peer"})})
            curve_server(sock, self._keys, ZAP_DOMAIN)
        sock.bind(self.endpoint)
        refusals.watch(self, sock, "virtual switch")
        self._sock = sock
        self.register(sock, lambda s: drain(s, self._on_message, self.name))

    def _on_message(self, frames: list[bytes]) -> None:
        if len(frames) != 2:
            log.warning("switch: malformed request (%d frames)", len(frames))
            reply: Mapping[str, Any] = _error(f"expected 1 request frame, got {len(frames) - 1}")
        else:
            try:
                request = parse_request(frames[1])
            except ValueError as exc:
                log.warning("switch: %s", exc)
                reply = _error(str(exc))
            else:
                try:
                    reply = self._handler(request)
                except Exception as exc:
                    log.exception("switch handler failed on %r", request.get("command"))
                    reply = _error(f"{type(exc).__name__}: {exc}")
        try:
            data = orjson.dumps(reply)
        except TypeError as exc:
            data = orjson.dumps(_error(f"reply cannot be encoded: {exc}"))
        assert self._sock is not None
        try:
            send_frames(self._sock, [frames[0], data])
        except zmq.ZMQError as exc:
            log.debug("switch: reply not delivered: %s", exc)


def switch_request(
    ctx: zmq.Context,
    endpoint: str,
    request: Mapping[str, Any],
    *,
    keys: CurveKeys | None,
    server_public: bytes | None,
    timeout: float,
) -> Mapping[str, Any] | None:
    """Ask the peer's switch once; its reply, or None if nothing came within `timeout`.

    The socket lives and dies inside this call, on the caller's thread.
    """
    sock = ctx.socket(zmq.DEALER)
    sock.linger = LINGER_MS
    monitor = None
    try:
        sock.maxmsgsize = MAX_ENVELOPE_BYTES * 2
        if keys is not None:
            if server_public is None:
                raise ValueError("a CURVE switch request needs the server's public key")
            curve_client(sock, keys, server_public)
            monitor = sock.get_monitor_socket(HANDSHAKE_FAILED)
        sock.connect(endpoint)
        sock.send(orjson.dumps(request))
        if not sock.poll(max(0, int(timeout * 1000))):
            if monitor is not None and monitor.poll(0):
                # The peer answered the connection but not our CURVE handshake: its
                # server-group key is not ours. Say so, rather than "cannot reach".
                return {"status": "error", "refused_key": True, "reason": KEY_REFUSED}
            return None
        try:
            return parse_request(sock.recv())
        except ValueError as exc:
            log.warning("switch: bad reply from %s: %s", endpoint, exc)
            return None
    finally:
        if monitor is not None:
            sock.disable_monitor()
            monitor.close(0)
        sock.close(0)
