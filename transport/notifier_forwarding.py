"""Requests the Notifier forwards to a local module, and the modules' responses back.

The Notifier only routes: it forwards the checked fields, rewriting req_id to the
RouteTable's so two senders using the same id towards one module each get their own
answer back with their own id. Forwarding is also where the reference's
"CRoute::LogMessage" lines come from ("Successful TS ping samples"), with the route ids
of both ends.
"""
from __future__ import annotations

import logging
import time
from typing import Any, Callable, Mapping

from .envelope import (
    REQUEST,
    RESPONSE,
    Envelope,
    EnvelopeError,
    Fields,
    describe_route,
    encode_fields,
    envelope_of,
    payload_size,
)
from .notifier_peers import PeerChannels
from .routing import ModuleEntry, Pending, Route, RouteError, RouteTable

log = logging.getLogger("NotifierLib")

REMOTE = "remote"
LOCAL = "local"

#: Sends frames on the socket of an origin (REMOTE or LOCAL).
Send = Callable[[str, list[bytes]], None]
#: Answers the request `env` from (origin, identity) with a status and a body.
Answer = Callable[[str, bytes, Envelope, str, "Mapping[str, Any] | None"], None]


class Forwarder:
    """Carries requests to modules and responses to their origins; loop thread only."""

    def __init__(self, table: RouteTable, peers: PeerChannels, send: Send,
                 answer: Answer) -> None:
        self._table = table
        self._peers = peers
        self._send = send
        self._answer = answer

    def request(self, origin: str, ident: bytes, fields: Fields, bulk: tuple[bytes, ...],
                route: Route) -> None:
        """Forward a request to the module `route` names, under a req_id of the table's."""
        kind, sender, target, eid, req_id, oid, status, body = fields
        try:
            rid = self._table.begin(origin, ident, req_id, route.name, time.monotonic())
        except RouteError as exc:
            self._answer(origin, ident, envelope_of(fields), "rejected", {"reason": str(exc)})
            return
        if log.isEnabledFor(logging.DEBUG):
            env = envelope_of(fields)
            log.debug("CRoute::LogMessage : %s", describe_route(
                env, payload_size(env, bulk), "", self._label(origin, ident, sender),
                f"{route.route_id}:{route.name}"))
        try:
            out_frames = encode_fields(REQUEST, sender, target, eid, rid, oid, status,
                                       body, bulk)
        except EnvelopeError as exc:  # a longer req_id pushed it over the limit
            self._table.complete(rid)
            self._answer(origin, ident, envelope_of(fields), "error", {"reason": str(exc)})
            return
        self._send(LOCAL, [route.identity, *out_frames])

    def response(self, entry: ModuleEntry | None, fields: Fields,
                 bulk: tuple[bytes, ...]) -> None:
        """Return a module's response to the request's origin, with the origin's req_id."""
        kind, sender, target, eid, req_id, oid, status, body = fields
        pending = self._table.complete(req_id)
        if pending is None:
            log.warning("response %s RI[%d] from %s matches no request (late or unknown)",
                        eid, req_id, sender)
            return
        # Forwarded with the origin's own req_id; nothing else changes on the way.
        if log.isEnabledFor(logging.DEBUG):
            out = envelope_of((RESPONSE, sender, target, eid, pending.req_id, oid, status,
                               body))
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

    def _label(self, origin: Any, ident: bytes, sender: str) -> str:
        if origin == REMOTE:
            rid = self._peers.route_id(ident, self._table.next_route_id)
            return f"{rid}:{sender}(remote)"
        entry = self._table.module_by_identity(ident)
        return f"{entry.route_id if entry else ''}:{sender}"

    def _route_of(self, pending: Pending) -> int | str:
        if pending.origin == REMOTE:
            return self._peers.known_route_id(pending.identity)
        entry = self._table.module_by_identity(pending.identity)
        return entry.route_id if entry else ""
