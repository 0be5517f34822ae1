"""The Notifier: the ROUTER hub of one host.

Two ROUTER sockets share one loop thread. "remote" is bound to the main and aux
endpoints and serves the peer host's two channels (CURVE, ZAP domain "notifier");
"local" is bound to an ipc file (mode 0600) and serves the monitored modules of this
host. Requests are routed by `target` (a registered module, an in-process service, or
the Notifier itself), responses back by the rewritten req_id the RouteTable hands out.
This module owns the two sockets and the loop; the rest are modules of their own: the
peer's channels (`notifier_peers`), the modules' registrations (`notifier_modules`),
forwarding to modules (`notifier_forwarding`) and in-process services
(`notifier_services`).
"""
from __future__ import annotations

import itertools
import logging
import os
import time
import uuid
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
    Fields,
    encode,
    encode_fields,
    envelope_of,
    parse,
    salvage,
)
from . import refusals
from .loop import BATCH, IOLoop, drain, send_frames
from .notifier_forwarding import LOCAL, REMOTE, Forwarder
from .notifier_modules import ModuleRegistry
from .notifier_peers import PEER_SENDER, PeerChannels
from .notifier_services import Reply, ServiceHandler, once_reply, serve
from .routing import RouteError, RouteTable
from .security import Authenticator, CurveKeys, curve_server

log = logging.getLogger("NotifierLib")

NOTIFIER = "Notifier"
ZAP_DOMAIN = "notifier"
#: Per-frame limit at the socket: a frame far beyond what decode accepts is dropped by
#: libzmq (and its sender disconnected) before it costs memory; up to this size the
#: sender gets a precise rejection instead.
SOCKET_MAXMSGSIZE = MAX_BULK_BYTES + MAX_ENVELOPE_BYTES


#: Messages queued per remote connection before replies are refused: bulk transfers
#: (DS pages, file chunks, interaction bursts) need more room than ZeroMQ's 1,000.
REMOTE_SNDHWM = 100_000


def ipc_path(endpoint: str) -> str | None:
    """The filesystem path of an ipc endpoint (None for tcp or abstract sockets)."""
    if endpoint.startswith("ipc://") and not endpoint.startswith("ipc://@"):
        return endpoint[len("ipc://"):]
    return None


class Notifier(IOLoop):
    """The host's message hub; see the module docstring."""

    def __init__(
        self,
        ctx: zmq.Context,
        *,
        remote_endpoints: Sequence[str],
        local_endpoint: str,
        keys: CurveKeys | None,
        authenticator: Authenticator | None,
        server_name: str,
        heartbeat_interval: float = 1.0,
        heartbeat_liveness: int = 3,
        on_module: Callable[[str, bool, Mapping[str, Any]], None] | None = None,
        on_peer: Callable[[bool], None] | None = None,
    ) -> None:
        super().__init__(ctx, f"notifier-{server_name}")
        self._remote_endpoints = list(remote_endpoints)
        self._local_endpoint = local_endpoint
        self._keys = keys
        self._authenticator = authenticator
        self.server_name = server_name
        self._silence = heartbeat_interval * heartbeat_liveness
        self._table = RouteTable()
        self._services: dict[str, ServiceHandler] = {}
        self._peers = PeerChannels(self._silence,
                                   lambda up: self._callback(on_peer, up))
        self._modules = ModuleRegistry(self._table, server_name, self._answer, self._send,
                                       lambda *args: self._callback(on_module, *args))
        self._forwarder = Forwarder(self._table, self._peers, self._send, self._answer)
        self._next_sweep = 0.0
        self._remote: zmq.Socket | None = None
        self._local: zmq.Socket | None = None
        self._pid = os.getpid()
        #: Every published event carries `req_id` = the next of these numbers and `oid` =
        #: this epoch, so the backup's links deliver each event once although it comes
        #: on main and on aux (and a restarted Notifier is told apart by its epoch).
        self.epoch = f"epoch-{uuid.uuid4().hex[:16]}"
        self._event_numbers = itertools.count(1)

    # -- public, any thread ---------------------------------------------------------------

    @property
    def peer_connected(self) -> bool:
        """True while a remote channel has been heard within the liveness window."""
        return self._peers.connected(time.monotonic())

    def modules(self) -> dict[str, Mapping[str, Any]]:
        """The registered local modules (name -> name, pid, route_id, registered_at)."""
        return self._modules.snapshot()

    def register_service(self, name: str, handler: ServiceHandler) -> None:
        """Serve requests for `name` in-process (the host's actors).

        `handler(env, bulk, reply)` runs on the notifier thread and must not block;
        `reply(status="ok", body=None, bulk=())` may be called once, later, from any thread.
        """
        def add() -> None:
            self._table.add_service(name)
            self._services[name] = handler

        self.call_and_wait(add, f"register service {name!r}")

    def publish(self, env: Envelope, bulk: Sequence[bytes] = ()) -> None:
        """Send an event to every live remote peer (both channels of the backup),
        numbered within this Notifier's epoch (see `epoch`)."""
        frames = self._stamped(env.sender, env.target, env.eid, env.status, env.body, bulk)
        if self.in_loop():
            self._publish(frames)
        else:
            self.call_soon(lambda: self._publish(frames))

    # -- loop thread ------------------------------------------------------------------------

    def setup(self) -> None:
        remote = self.socket(zmq.ROUTER)
        remote.router_mandatory = 1
        remote.sndhwm = REMOTE_SNDHWM
        remote.maxmsgsize = SOCKET_MAXMSGSIZE
        if self._keys is not None:
            if self._authenticator is not None and not self._authenticator.has_domain(ZAP_DOMAIN):
                self._authenticator.allow(ZAP_DOMAIN, {self._keys.public: frozenset({"peer"})})
            elif self._authenticator is None:
                log.warning("CURVE without an authenticator: any client key is accepted")
            curve_server(remote, self._keys, ZAP_DOMAIN)
        for endpoint in self._remote_endpoints:
            remote.bind(endpoint)
        refusals.watch(self, remote, "notifier")
        local = self.socket(zmq.ROUTER)
        local.router_mandatory = 1
        local.maxmsgsize = SOCKET_MAXMSGSIZE
        local.bind(self._local_endpoint)
        path = ipc_path(self._local_endpoint)
        if path:
            os.chmod(path, 0o600)
        self._remote, self._local = remote, local
        self.register(remote, lambda s: drain(s, self._on_remote, self.name))
        self.register(local, self._drain_local)
        monitor = local.get_monitor_socket(zmq.EVENT_DISCONNECTED)
        self._local_monitor = monitor
        self.register(monitor, self._on_local_monitor)
        log.info("Notifier %s listening on %s (remote) and %s (local)", self.server_name,
                 ", ".join(self._remote_endpoints), self._local_endpoint)

    def teardown(self) -> None:
        monitor = getattr(self, "_local_monitor", None)
        if monitor is not None:
            self._local.disable_monitor()
            self.close_socket(monitor)
        path = ipc_path(self._local_endpoint)
        if path:
            try:
                os.unlink(path)
            except OSError:
                pass

    def tick(self, now: float) -> float | None:
        self._modules.expire(now, self._silence)
        deadlines = []
        peer_deadline = self._peers.check(now)
        if peer_deadline is not None:
            deadlines.append(peer_deadline)
        if now >= self._next_sweep:
            self._next_sweep = now + 1.0
            self._table.sweep(now)
            self._peers.sweep(now)
        deadlines.append(self._next_sweep)
        module_deadline = self._table.next_deadline(self._silence)
        if module_deadline is not None:
            deadlines.append(module_deadline)
        return min(deadlines)

    # inbound

    def _on_remote(self, frames: list[bytes]) -> None:
        ident = frames[0]
        try:
            fields, bulk = parse(frames[1:])
        except EnvelopeError as exc:
            self._bad(REMOTE, ident, frames[1:], exc)
            return
        if fields[1] == PEER_SENDER:
            # Only the peer server's channels get published events and count as the peer;
            # applications on the same socket (other senders) are just served.
            self._peers.heard(ident, time.monotonic())
        kind = fields[0]
        if kind == REQUEST:
            self._request(REMOTE, ident, fields, bulk)
        elif kind == RESPONSE:
            log.warning("unexpected response from the remote peer: %s[%s] RI[%d]",
                        fields[3], fields[1], fields[4])
        else:
            log.debug("event %s from the remote peer ignored", fields[3])

    def _drain_local(self, sock: zmq.Socket) -> None:
        """Like `drain`, keeping each message's source descriptor (module traffic is light)."""
        for _ in range(BATCH):
            try:
                parts = sock.recv_multipart(zmq.NOBLOCK, copy=False)
            except zmq.Again:
                return
            self._modules.fd_of_last = parts[-1].get(zmq.SRCFD)
            try:
                self._on_local([part.bytes for part in parts])
            except Exception:
                log.exception("%s: message handler failed", self.name)

    def _on_local_monitor(self, sock: zmq.Socket) -> None:
        while sock.poll(0):
            event = recv_monitor_message(sock)
            if event["event"] == zmq.EVENT_DISCONNECTED:
                self._modules.connection_closed(event["value"])

    def _on_local(self, frames: list[bytes]) -> None:
        ident = frames[0]
        entry = self._table.heard(ident, time.monotonic())
        try:
            fields, bulk = parse(frames[1:])
        except EnvelopeError as exc:
            self._bad(LOCAL, ident, frames[1:], exc)
            return
        kind, sender, target, eid, _, _, status, body = fields
        if kind == REQUEST:
            self._request(LOCAL, ident, fields, bulk)
        elif kind == RESPONSE:
            self._forwarder.response(entry, fields, bulk)
        else:  # event
            if entry is None:
                log.warning("event %s from an unregistered local connection dropped", eid)
                return
            self._publish(self._stamped(sender, target, eid, status, body, bulk))

    def _request(self, origin: str, ident: bytes, fields: Fields, bulk: tuple[bytes, ...]) -> None:
        kind, sender, target, eid, req_id, oid, status, body = fields
        if target == NOTIFIER:
            self._own(origin, ident, envelope_of(fields))
            return
        try:
            route = self._table.resolve(target)
        except RouteError as exc:
            log.warning("request %s for %s from %s rejected: %s", eid, target, sender, exc)
            self._answer(origin, ident, envelope_of(fields), "rejected", {"reason": str(exc)})
            return
        if route.kind == "module":
            self._forwarder.request(origin, ident, fields, bulk, route)
            return
        env = envelope_of(fields)
        serve(route.name, self._services[route.name], env, bulk,
              self._make_reply(origin, ident, env))

    def _own(self, origin: str, ident: bytes, env: Envelope) -> None:
        """Requests addressed to the Notifier itself."""
        eid = env.eid
        if eid == "Heartbeat":
            if origin == LOCAL and self._table.module_by_identity(ident) is None:
                self._answer(origin, ident, env, "rejected", {"reason": "not registered"})
            else:
                self._answer(origin, ident, env, "ok", None)
        elif eid == "Ping":
            self._answer(origin, ident, env, "ok", {"server": self.server_name, "pid": self._pid})
        elif eid == "Register" and origin == LOCAL:
            self._modules.register(ident, env)
        elif eid == "Unregister" and origin == LOCAL:
            self._modules.unregister(ident, env)
        else:
            self._answer(origin, ident, env, "rejected",
                         {"reason": f"unknown eid {eid!r} for Notifier"})

    def _bad(self, origin: str, ident: bytes, frames: list[bytes], exc: EnvelopeError) -> None:
        """Malformed input: a WARNING always, an error response when it can be addressed."""
        head = frames[0] if frames else b""
        seen = salvage(head)
        log.warning("bad message on %s from %s: %s", origin,
                    seen["sender"] or ident.hex(), exc)
        if seen["kind"] in (RESPONSE, EVENT):
            return  # never answer an answer: two broken peers must not ping-pong
        out = Envelope(RESPONSE, NOTIFIER, seen["sender"], seen["eid"], seen["req_id"],
                       seen["oid"], "error", {"reason": str(exc)})
        self._send(origin, [ident, *encode(out)])

    # outbound

    def _answer(self, origin: str, ident: bytes, env: Envelope, status: str,
                body: Mapping[str, Any] | None) -> None:
        self._send(origin, [ident, *encode(env.reply(status, body, sender=NOTIFIER))])

    def _make_reply(self, origin: str, ident: bytes, env: Envelope) -> Reply:
        def deliver(frames: list[bytes]) -> None:
            if self.in_loop():
                self._send(origin, frames)
            else:
                self.call_soon(lambda: self._send(origin, frames))

        return once_reply(env, ident, deliver)

    def _send(self, origin: str, frames: list[bytes]) -> None:
        sock = self._remote if origin == REMOTE else self._local
        if sock is None:
            return
        try:
            send_frames(sock, frames)
        except zmq.Again:
            # The peer's queue is full (it stopped reading): a reply is lost, say so.
            log.warning("reply to %s %s dropped: its send queue is full", origin,
                        frames[0].hex())
        except zmq.ZMQError as exc:  # the peer is gone (router_mandatory): nothing to do
            log.debug("cannot deliver to %s %s: %s", origin, frames[0].hex(), exc)

    def _stamped(self, sender: str, target: str, eid: str, status: str | None,
                 body: Mapping[str, Any] | None, bulk: Sequence[bytes]) -> list[bytes]:
        """An event's frames with this Notifier's next event number and epoch."""
        return encode_fields(EVENT, sender, target, eid, next(self._event_numbers),
                             self.epoch, status, body, bulk)

    def _publish(self, frames: list[bytes]) -> None:
        for ident in self._peers.live(time.monotonic()):
            self._send(REMOTE, [ident, *frames])

    def _callback(self, fn: Callable[..., None] | None, *args: Any) -> None:
        if fn is None:
            return
        try:
            fn(*args)
        except Exception:
            log.exception("notifier callback %r failed", fn)
