"""The operators' socket: `switchover status/switch/params/ds/...` arrive here.

A ROUTER (CURVE, ZAP domain "admin"). The caller's rights come from the authenticator
through the ZAP User-Id on the request frame, so the handler decides with the operator's
rights in hand. The handler runs on a small worker pool because it may wait on actor
asks (with timeouts); the loop only moves frames. Replies are always
`{"status", "errno", "reason", "result"}`; a handler exception becomes errno 500 with its
message and never a traceback, and an unlisted key gets errno 403.
"""
from __future__ import annotations

import logging
import os
import time
from concurrent.futures import ThreadPoolExecutor
from typing import Any, Callable, Mapping

import orjson
import zmq

from .envelope import MAX_ENVELOPE_BYTES, load_object
from . import refusals
from .loop import LINGER_MS, IOLoop
from .security import DEFAULT_RIGHTS, Authenticator, CurveKeys, curve_client, curve_server

log = logging.getLogger("Admin")

ZAP_DOMAIN = "admin"
WORKERS = 4
MAX_REQUEST_ID = 64

Handler = Callable[[str, Mapping[str, Any], frozenset[str]], Mapping[str, Any]]


class AdminUnavailable(RuntimeError):
    """No answer from the admin socket (host down, wrong address, or key refused)."""


def reply(status: str = "ok", errno: int = 0, reason: str = "", result: Any = None) -> dict:
    """A reply in the admin socket's one shape."""
    return {"status": status, "errno": errno, "reason": reason, "result": result}


def _normalise(out: Any) -> dict[str, Any]:
    if not isinstance(out, Mapping):
        return reply(result=out)
    status = out.get("status", "ok")
    errno = out.get("errno", 0 if status == "ok" else 400)
    return reply(status, errno, out.get("reason", ""), out.get("result"))


def parse_command(frame: bytes) -> tuple[str, Mapping[str, Any]]:
    """(command, args) from a request frame; ValueError saying what is wrong."""
    obj = load_object(frame)
    command = obj.get("command")
    if not isinstance(command, str) or not command:
        raise ValueError("field 'command' must be a non-empty string")
    args = obj.get("args") or {}
    if type(args) is not dict:
        raise ValueError(f"field 'args' must be an object, got {type(args).__name__}")
    return command, args


class AdminServer(IOLoop):
    """The admin ROUTER; see the module docstring."""

    def __init__(
        self,
        ctx: zmq.Context,
        *,
        endpoint: str,
        keys: CurveKeys | None,
        authenticator: Authenticator | None,
        handler: Handler,
    ) -> None:
        super().__init__(ctx, "admin")
        self.endpoint = endpoint
        self._keys = keys
        self._authenticator = authenticator
        self._handler = handler
        self._sock: zmq.Socket | None = None
        self._pool: ThreadPoolExecutor | None = None

    def start(self) -> None:
        self._pool = ThreadPoolExecutor(WORKERS, thread_name_prefix="admin-worker")
        try:
            super().start()
        except BaseException:
            self._pool.shutdown(wait=True)
            self._pool = None
            raise

    def stop(self, timeout: float = 5.0) -> None:
        """Stop the loop, then wait for running handlers (they are bounded by timeouts)."""
        super().stop(timeout)
        pool, self._pool = self._pool, None
        if pool is not None:
            pool.shutdown(wait=True, cancel_futures=True)

    # -- loop thread ----------------------------------------------------------------------

    def setup(self) -> None:
        sock = self.socket(zmq.ROUTER)
        sock.maxmsgsize = MAX_ENVELOPE_BYTES * 2
        if self._keys is not None:
            auth = self._authenticator
            if auth is not None:
                # Unlisted keys may finish the handshake so they hear "403", not silence.
                if not auth.has_domain(ZAP_DOMAIN):
                    auth.allow(ZAP_DOMAIN, {})
                auth.set_admit_unknown(ZAP_DOMAIN, True)
            curve_server(sock, self._keys, ZAP_DOMAIN)
        sock.bind(self.endpoint)
        refusals.watch(self, sock, "admin")
        self._sock = sock
        self.register(sock, self._on_readable)

    def _on_readable(self, sock: zmq.Socket) -> None:
        for _ in range(64):
            try:
                frames = sock.recv_multipart(zmq.NOBLOCK, copy=False)
            except zmq.Again:
                return
            try:
                self._on_message(frames)
            except Exception:
                log.exception("admin: request handling failed")

    def _on_message(self, frames: list[zmq.Frame]) -> None:
        ident = frames[0].bytes
        if len(frames) != 3 or len(frames[1]) > MAX_REQUEST_ID:
            log.warning("admin: malformed request (%d frames)", len(frames))
            rid = frames[1].bytes[:MAX_REQUEST_ID] if len(frames) > 1 else b""
            self._send(ident, rid, reply("error", 400, "expected [request id, request JSON]"))
            return
        rid = frames[1].bytes
        try:
            command, args = parse_command(frames[2].bytes)
        except ValueError as exc:
            log.warning("admin: %s", exc)
            self._send(ident, rid, reply("error", 400, str(exc)))
            return
        rights = self._rights(frames[2])
        if rights is None:
            log.warning("admin: %s refused: client key not authorised", command)
            self._send(ident, rid, reply("error", 403, "client key not authorised"))
            return
        pool = self._pool
        if pool is None:
            return
        pool.submit(self._work, ident, rid, command, args, rights)

    def _rights(self, frame: zmq.Frame) -> frozenset[str] | None:
        if self._keys is None:
            return DEFAULT_RIGHTS  # no CURVE: nobody is identified, so look-only
        if self._authenticator is None:
            return None
        try:
            user_id = frame.get("User-Id")
        except zmq.ZMQError:
            return None
        return self._authenticator.rights_for_user_id(ZAP_DOMAIN, user_id)

    def _work(self, ident: bytes, rid: bytes, command: str, args: Mapping[str, Any],
              rights: frozenset[str]) -> None:
        try:
            out = _normalise(self._handler(command, args, rights))
            data = orjson.dumps(out)
        except Exception as exc:
            log.warning("admin: %s failed: %s: %s", command, type(exc).__name__, exc)
            data = orjson.dumps(reply("error", 500, str(exc) or type(exc).__name__))
        self.call_soon(lambda: self._send_raw(ident, rid, data))

    def _send(self, ident: bytes, rid: bytes, out: Mapping[str, Any]) -> None:
        self._send_raw(ident, rid, orjson.dumps(out))

    def _send_raw(self, ident: bytes, rid: bytes, data: bytes) -> None:
        if self._sock is None:
            return
        try:
            self._sock.send_multipart([ident, rid, data], zmq.NOBLOCK)
        except zmq.ZMQError as exc:
            log.debug("admin: reply not delivered: %s", exc)


def admin_request(
    ctx: zmq.Context,
    endpoint: str,
    command: str,
    args: Mapping[str, Any] | None = None,
    *,
    client_keys: CurveKeys | None,
    server_public: bytes | None,
    timeout: float,
) -> Mapping[str, Any]:
    """Send one command and return the reply; AdminUnavailable if none within `timeout`."""
    sock = ctx.socket(zmq.DEALER)
    sock.linger = LINGER_MS
    try:
        if client_keys is not None:
            if server_public is None:
                raise ValueError("a CURVE admin request needs the server's public key")
            curve_client(sock, client_keys, server_public)
        sock.connect(endpoint)
        rid = os.urandom(8).hex().encode()
        sock.send_multipart([rid, orjson.dumps({"command": command, "args": dict(args or {})})])
        deadline = time.monotonic() + timeout
        while True:
            left = deadline - time.monotonic()
            if left <= 0 or not sock.poll(int(left * 1000) + 1):
                raise AdminUnavailable(f"no answer from {endpoint} within {timeout:g}s")
            frames = sock.recv_multipart()
            if len(frames) == 2 and frames[0] == rid:
                try:
                    out = orjson.loads(frames[1])
                except orjson.JSONDecodeError as exc:
                    raise AdminUnavailable(f"bad reply from {endpoint}: {exc}") from None
                if type(out) is not dict:
                    raise AdminUnavailable(f"bad reply from {endpoint}: not an object")
                return out
    finally:
        sock.close(0)
