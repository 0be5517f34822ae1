"""The Notifier: the ROUTER hub of one host.

Two ROUTER sockets share one loop thread. "remote" is bound to the main and aux
endpoints and serves the peer host's two channels (CURVE, ZAP domain "notifier");
"local" is bound to an ipc file (mode 0600) and serves the monitored modules of this
host. Requests are routed by `target` (a registered module, an in-process service, or
the Notifier itself), responses back by the rewritten req_id the RouteTable hands out.
Modules heartbeat; one that goes quiet or unregisters is reported at once through
`on_module`, so the active can tell the backup without waiting for a ping to fail.
"""
from __future__ import annotations

import itertools
import logging
import os
import threading
import time
import uuid
from typing import Any, Callable, Mapping, Sequence

import zmq
from zmq.utils.monitor import recv_monitor_message

from .envelope import (
    EMPTY_BODY,
    EVENT,
    MAX_BULK_BYTES,
    MAX_ENVELOPE_BYTES,
    REQUEST,
    RESPONSE,
    Envelope,
    EnvelopeError,
    FrozenDict,
    describe_route,
    encode,
    encode_fields,
    parse,
    payload_size,
    salvage,
)
from . import refusals
from .loop import BATCH, IOLoop, drain, send_frames
from .routing import Pending, RouteError, RouteTable
from .security import Authenticator, CurveKeys, curve_server

log = logging.getLogger("NotifierLib")

NOTIFIER = "Notifier"
REMOTE = "remote"
LOCAL = "local"
ZAP_DOMAIN = "notifier"
#: Per-frame limit at the socket: a frame far beyond what decode accepts is dropped by
#: libzmq (and its sender disconnected) before it costs memory; up to this size the
#: sender gets a precise rejection instead.
SOCKET_MAXMSGSIZE = MAX_BULK_BYTES + MAX_ENVELOPE_BYTES

Reply = Callable[..., None]
ServiceHandler = Callable[[Envelope, tuple[bytes, ...], Reply], None]


#: Messages queued per remote connection before replies are refused: bulk transfers
#: (DS pages, file chunks, interaction bursts) need more room than ZeroMQ's 1,000.
REMOTE_SNDHWM = 100_000


#: The sender name of the peer server's channels ("SwitchoverService" in the reference's
#: Notifier log lines).
PEER_SENDER = "SwitchoverService"


def ipc_path(endpoint: str) -> str | None:
    """The filesystem path of an ipc endpoint (None for tcp or abstract sockets)."""
    if endpoint.startswith("ipc://") and not endpoint.startswith("ipc://@"):
        return endpoint[len("ipc://"):]
    return None


def _envelope(kind: str, sender: str, target: str, eid: str, req_id: int, oid: str,
              status: str | None, body: dict[str, Any] | None) -> Envelope:
    """The Envelope of checked fields (see `parse`), for the paths that need one."""
    return Envelope(kind, sender, target, eid, req_id, oid, status,
                    FrozenDict(body) if body else EMPTY_BODY)


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
        self._interval = heartbeat_interval
        self._silence = heartbeat_interval * heartbeat_liveness
        self._on_module = on_module
        self._on_peer = on_peer
        self._table = RouteTable()
        self._services: dict[str, ServiceHandler] = {}
        self._peers: dict[bytes, float] = {}  # remote identity -> last heard
        self._peer_route: dict[bytes, int] = {}
        self._last_remote = float("-inf")
        self._peer_up = False
        self._modules_snapshot: dict[str, Mapping[str, Any]] = {}
        self._next_sweep = 0.0
        self._remote: zmq.Socket | None = None
        self._local: zmq.Socket | None = None
        self._pid = os.getpid()
        self._lock = threading.Lock()
        #: Every published event carries `req_id` = the next of these numbers and `oid` =
        #: this epoch, so the backup's links deliver each event once although it comes
        #: on main and on aux (and a restarted Notifier is told apart by its epoch).
        self.epoch = f"epoch-{uuid.uuid4().hex[:16]}"
        self._event_numbers = itertools.count(1)

    # -- public, any thread ---------------------------------------------------------------

    @property
    def peer_connected(self) -> bool:
        """True while a remote channel has been heard within the liveness window."""
        return time.monotonic() - self._last_remote <= self._silence

    def modules(self) -> dict[str, Mapping[str, Any]]:
        """The registered local modules (name -> name, pid, route_id, registered_at)."""
        return dict(self._modules_snapshot)

    def register_service(self, name: str, handler: ServiceHandler) -> None:
        """Serve requests for `name` in-process (the host's actors).

        `handler(env, bulk, reply)` runs on the notifier thread and must not block;
        `reply(status="ok", body=None, bulk=())` may be called once, later, from any thread.
        """
        def add() -> None:
            self._table.add_service(name)
            self._services[name] = handler

        if self.running and not self.in_loop():
            done = threading.Event()
            errors: list[BaseException] = []

            def run() -> None:
                try:
                    add()
                except BaseException as exc:
                    errors.append(exc)
                finally:
                    done.set()

            if not self.call_soon(run) or not done.wait(5.0):
                raise RuntimeError(f"{self.name}: could not register service {name!r}")
            if errors:
                raise errors[0]
        else:
            add()

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
        # A module's process that dies closes its connection at once; the monitor tells
        # which descriptor closed, and SRCFD tells which descriptor a module spoke on.
        self._local_fds: dict[int, bytes] = {}
        self._fd_of_last: int | None = None
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
        for entry, orphans in self._table.expire(now, self._silence):
            log.warning("module %s (pid %s) silent for %.1fs: unregistered",
                        entry.name, entry.pid, now - entry.last_seen)
            self._module_gone(entry.info(), "silent", orphans)
        deadlines = []
        if self._peer_up:
            if now - self._last_remote > self._silence:
                self._peer_up = False
                log.warning("remote peer silent for %.1fs: connection lost",
                            now - self._last_remote)
                self._peers.clear()
                self._callback(self._on_peer, False)
            else:
                deadlines.append(self._last_remote + self._silence)
        if now >= self._next_sweep:
            self._next_sweep = now + 1.0
            self._table.sweep(now)
            for ident, seen in list(self._peers.items()):
                if now - seen > self._silence:
                    del self._peers[ident]
                    self._peer_route.pop(ident, None)
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
            now = time.monotonic()
            self._peers[ident] = now
            self._last_remote = now
            if not self._peer_up:
                self._peer_up = True
                log.info("remote peer connected")
                self._callback(self._on_peer, True)
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
            self._fd_of_last = parts[-1].get(zmq.SRCFD)
            try:
                self._on_local([part.bytes for part in parts])
            except Exception:
                log.exception("%s: message handler failed", self.name)

    def _on_local_monitor(self, sock: zmq.Socket) -> None:
        while sock.poll(0):
            event = recv_monitor_message(sock)
            if event["event"] != zmq.EVENT_DISCONNECTED:
                continue
            ident = self._local_fds.pop(event["value"], None)
            if ident is None:
                continue
            entry, orphans = self._table.unregister(ident)
            if entry is not None:
                log.warning("module %s (pid %s) connection closed: unregistered",
                            entry.name, entry.pid)
                self._module_gone(entry.info(), "connection closed", orphans)

    def _on_local(self, frames: list[bytes]) -> None:
        ident = frames[0]
        entry = self._table.heard(ident, time.monotonic())
        try:
            fields, bulk = parse(frames[1:])
        except EnvelopeError as exc:
            self._bad(LOCAL, ident, frames[1:], exc)
            return
        kind, sender, target, eid, req_id, oid, status, body = fields
        if kind == REQUEST:
            self._request(LOCAL, ident, fields, bulk)
        elif kind == RESPONSE:
            pending = self._table.complete(req_id)
            if pending is None:
                log.warning("response %s RI[%d] from %s matches no request (late or unknown)",
                            eid, req_id, sender)
                return
            # Forwarded with the origin's own req_id; nothing else changes on the way.
            if log.isEnabledFor(logging.DEBUG):
                out = _envelope(RESPONSE, sender, target, eid, pending.req_id, oid, status,
                                body)
                origin = self._label(pending.origin, pending.identity, target)
                where = f"{entry.route_id if entry else ''}:{sender}"
                log.debug("CRoute::LogMessage : %s", describe_route(
                    out, payload_size(out, bulk), self._route_of(pending), where, origin))
            try:
                out_frames = encode_fields(RESPONSE, sender, target, eid, pending.req_id, oid,
                                           status, body, bulk)
            except EnvelopeError as exc:  # a longer req_id pushed it over the limit
                log.warning("response %s RI[%d] from %s cannot be forwarded: %s",
                            eid, req_id, sender, exc)
                out_frames = encode_fields(RESPONSE, sender, target, eid, pending.req_id, oid,
                                           "error", {"reason": str(exc)})
            self._send(pending.origin, [pending.identity, *out_frames])
        else:  # event
            if entry is None:
                log.warning("event %s from an unregistered local connection dropped", eid)
                return
            _, sender, target, eid, _, _, status, body = fields
            self._publish(self._stamped(sender, target, eid, status, body, bulk))

    def _request(self, origin: str, ident: bytes, fields: tuple, bulk: tuple[bytes, ...]) -> None:
        kind, sender, target, eid, req_id, oid, status, body = fields
        if target == NOTIFIER:
            self._own(origin, ident, _envelope(*fields))
            return
        try:
            route = self._table.resolve(target)
        except RouteError as exc:
            log.warning("request %s for %s from %s rejected: %s", eid, target, sender, exc)
            self._answer(origin, ident, _envelope(*fields), "rejected", {"reason": str(exc)})
            return
        if route.kind == "module":
            try:
                rid = self._table.begin(origin, ident, req_id, route.name, time.monotonic())
            except RouteError as exc:
                self._answer(origin, ident, _envelope(*fields), "rejected",
                             {"reason": str(exc)})
                return
            if log.isEnabledFor(logging.DEBUG):
                env = _envelope(*fields)
                log.debug("CRoute::LogMessage : %s", describe_route(
                    env, payload_size(env, bulk), "", self._label(origin, ident, sender),
                    f"{route.route_id}:{route.name}"))
            try:
                out_frames = encode_fields(REQUEST, sender, target, eid, rid, oid, status,
                                           body, bulk)
            except EnvelopeError as exc:  # a longer req_id pushed it over the limit
                self._table.complete(rid)
                self._answer(origin, ident, _envelope(*fields), "error", {"reason": str(exc)})
                return
            self._send(LOCAL, [route.identity, *out_frames])
            return
        env = _envelope(*fields)
        handler = self._services[route.name]
        reply = self._make_reply(origin, ident, env)
        try:
            handler(env, bulk, reply)
        except Exception as exc:
            log.exception("service %s failed on %s", route.name, env.eid)
            reply("error", {"reason": f"{type(exc).__name__}: {exc}"})

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
            name, pid = env.body.get("name"), env.body.get("pid")
            connection = env.body.get("connection", 0)
            if not isinstance(name, str) or not (pid is None or type(pid) is int) \
                    or type(connection) is not int:
                self._answer(origin, ident, env, "error", {
                    "reason": "Register needs body {'name': str, 'pid': int, "
                              "'connection': int (optional)}"})
                return
            known = self._table.module_by_identity(ident)
            try:
                entry = self._table.register(name, ident, pid, time.monotonic(), connection)
            except RouteError as exc:
                log.warning("registration of %s (pid %s) rejected: %s", name, pid, exc)
                self._answer(origin, ident, env, "rejected", {"reason": str(exc)})
                return
            self._answer(origin, ident, env, "ok",
                         {"name": name, "route_id": entry.route_id, "server": self.server_name})
            if self._fd_of_last is not None:
                self._local_fds[self._fd_of_last] = ident
            if known is None and name in self._modules_snapshot:
                log.info("module %s (pid %s) reconnected: registration moved to its new "
                         "connection", name, pid)
            elif known is None:
                log.info("module %s registered (pid %s)", name, pid)
                self._modules_snapshot = self._table.modules()
                self._callback(self._on_module, name, True, entry.info())
        elif eid == "Unregister" and origin == LOCAL:
            entry, orphans = self._table.unregister(ident)
            self._answer(origin, ident, env, "ok", None)
            if entry is not None:
                log.info("module %s unregistered (pid %s)", entry.name, entry.pid)
                self._module_gone(entry.info(), "unregistered", orphans)
        else:
            self._answer(origin, ident, env, "rejected",
                         {"reason": f"unknown eid {eid!r} for Notifier"})

    def _module_gone(self, info: dict[str, Any], reason: str, orphans: list[Pending]) -> None:
        self._modules_snapshot = self._table.modules()
        for p in orphans:
            out = Envelope(RESPONSE, p.target, "", "", p.req_id, "*", "rejected",
                           {"reason": f"module {p.target} {reason}"})
            self._send(p.origin, [p.identity, *encode(out)])
        self._callback(self._on_module, info["name"], False, {**info, "reason": reason})

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
        once = [True]

        def reply(status: str = "ok", body: Mapping[str, Any] | None = None,
                  bulk: Sequence[bytes] = ()) -> None:
            try:
                once.pop()
            except IndexError:
                log.warning("second reply to %s RI[%d] ignored", env.eid, env.req_id)
                return
            resp = env.reply(status, body)
            try:
                frames = [ident, *encode(resp, bulk)]
            except (EnvelopeError, TypeError) as exc:
                log.warning("response to %s RI[%d] cannot be sent: %s", env.eid, env.req_id, exc)
                frames = [ident, *encode(env.reply("error", {"reason": str(exc)}))]
            if self.in_loop():
                self._send(origin, frames)
            else:
                self.call_soon(lambda: self._send(origin, frames))

        return reply

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
        now = time.monotonic()
        for ident, seen in list(self._peers.items()):
            if now - seen <= self._silence:
                self._send(REMOTE, [ident, *frames])

    def _label(self, origin: Any, ident: bytes, sender: str) -> str:
        if origin == REMOTE:
            rid = self._peer_route.get(ident)
            if rid is None:
                rid = self._peer_route[ident] = self._table.next_route_id()
            return f"{rid}:{sender}(remote)"
        entry = self._table.module_by_identity(ident)
        return f"{entry.route_id if entry else ''}:{sender}"

    def _route_of(self, pending: Pending) -> int | str:
        if pending.origin == REMOTE:
            return self._peer_route.get(pending.identity, "")
        entry = self._table.module_by_identity(pending.identity)
        return entry.route_id if entry else ""

    def _callback(self, fn: Callable[..., None] | None, *args: Any) -> None:
        if fn is None:
            return
        try:
            fn(*args)
        except Exception:
            log.exception("notifier callback %r failed", fn)
