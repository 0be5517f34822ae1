"""The Notifier's routing table, with no sockets in it.

Who is registered under which name, which forwarded request belongs to whom, and which
module has gone quiet: all decided here, as plain data, so the rules can be tested
without a network. The Notifier loop only moves frames according to what this says.

Request ids are rewritten on the way through: two senders (the peer's main and aux
channels, or a local module) may both use req_id 7 towards TsServer, and the response
must find its way back to the right one with its original id.
"""
from __future__ import annotations

import itertools
from dataclasses import dataclass, field
from typing import Any, Hashable

#: Forwarded requests nobody answers are forgotten after this long (seconds), so a dead
#: module cannot make the table grow without bound. Origins have their own timeouts.
PENDING_TTL = 300.0
#: At most this many forwarded requests wait for answers at once.
MAX_PENDING = 100_000


class RouteError(Exception):
    """A routing request refused; the text is the reason sent back to the sender."""


@dataclass
class ModuleEntry:
    """A local module registered with the Notifier."""

    name: str
    identity: bytes
    pid: int | None
    registered_at: float
    last_seen: float
    route_id: int
    #: The module client's connection number (it counts its reconnects).
    connection: int = 0

    def info(self) -> dict[str, Any]:
        return {"name": self.name, "pid": self.pid, "route_id": self.route_id,
                "registered_at": self.registered_at, "last_seen": self.last_seen}


@dataclass(slots=True)
class Pending:
    """A forwarded request waiting for its response."""

    origin: Hashable  # which socket it came in on ("remote", "local", "service")
    identity: bytes  # the origin's routing identity on that socket
    req_id: int  # the id the origin used
    target: str
    deadline: float
    route_req_id: int = field(default=0)


@dataclass(frozen=True)
class Route:
    """Where a request for some target goes."""

    kind: str  # "module" or "service"
    name: str
    identity: bytes = b""
    route_id: int = 0


class RouteTable:
    """Targets -> destinations, rewritten req_ids -> origins, module liveness."""

    def __init__(self, *, pending_ttl: float = PENDING_TTL, max_pending: int = MAX_PENDING):
        self._modules: dict[str, ModuleEntry] = {}
        self._by_identity: dict[bytes, ModuleEntry] = {}
        self._services: dict[str, int] = {}
        self._routes: dict[str, Route] = {}  # resolve()'s answers, kept with the names
        self._pending: dict[int, Pending] = {}
        self._ids = itertools.count(1)
        self._route_ids = itertools.count(1)
        self._pending_ttl = pending_ttl
        self._max_pending = max_pending

    # -- names -------------------------------------------------------------------------

    def add_service(self, name: str) -> None:
        if name in self._modules or name in self._services:
            raise RouteError(f"name {name!r} is already registered")
        rid = self._services[name] = next(self._route_ids)
        self._routes[name] = Route("service", name, b"", rid)

    def remove_service(self, name: str) -> None:
        if self._services.pop(name, None) is not None:
            self._routes.pop(name, None)

    def register(self, name: str, identity: bytes, pid: int | None, now: float,
                 connection: int = 0) -> ModuleEntry:
        """Register a module; a live name held by another process is refused.

        The same connection registering again (its first answer was lost) is a refresh.
        The same process registering from a later connection (a higher `connection`
        number: it reconnected while its old connection still looked alive) moves the
        registration to the new connection: the module never left, so nobody is told it
        did, and the old connection closing later unregisters nothing. A second client
        of the same name in the same process is still refused.
        """
        if not name:
            raise RouteError("module name must not be empty")
        if name == "Notifier" or name in self._services:
            raise RouteError(f"name {name!r} is reserved")
        held = self._modules.get(name)
        if held is not None and held.identity != identity:
            if (pid is None or held.pid != pid or connection <= held.connection
                    or identity in self._by_identity):
                raise RouteError(f"module {name!r} is already registered (pid {held.pid})")
            del self._by_identity[held.identity]
            held.identity, held.connection = identity, connection
            self._by_identity[identity] = held
            self._routes[name] = Route("module", name, identity, held.route_id)
        old = self._by_identity.get(identity)
        if old is not None and old.name != name:
            raise RouteError(f"this connection is already registered as {old.name!r}")
        if held is not None:
            held.pid, held.last_seen = pid, now
            return held
        entry = ModuleEntry(name, identity, pid, now, now, next(self._route_ids), connection)
        self._modules[name] = entry
        self._by_identity[identity] = entry
        self._routes[name] = Route("module", name, identity, entry.route_id)
        return entry

    def unregister(self, identity: bytes) -> tuple[ModuleEntry | None, list[Pending]]:
        """Remove the module on `identity`; return it and the requests it now cannot answer."""
        entry = self._by_identity.pop(identity, None)
        if entry is None:
            return None, []
        del self._modules[entry.name]
        self._routes.pop(entry.name, None)
        return entry, self._orphans(entry.name)

    def heard(self, identity: bytes, now: float) -> ModuleEntry | None:
        """Note traffic from a local connection; return its module if registered."""
        entry = self._by_identity.get(identity)
        if entry is not None:
            entry.last_seen = now
        return entry

    def module_by_identity(self, identity: bytes) -> ModuleEntry | None:
        return self._by_identity.get(identity)

    def expire(self, now: float, silence: float) -> list[tuple[ModuleEntry, list[Pending]]]:
        """Drop modules silent for longer than `silence`; with their orphaned requests."""
        dead = [e for e in self._modules.values() if now - e.last_seen > silence]
        out = []
        for entry in dead:
            _, orphans = self.unregister(entry.identity)
            out.append((entry, orphans))
        return out

    def next_deadline(self, silence: float) -> float | None:
        if not self._modules:
            return None
        return min(e.last_seen for e in self._modules.values()) + silence

    def modules(self) -> dict[str, dict[str, Any]]:
        return {name: e.info() for name, e in self._modules.items()}

    def resolve(self, target: str) -> Route:
        """Where a request for `target` goes; RouteError when nothing by that name."""
        route = self._routes.get(target)
        if route is None:
            raise RouteError(f"no module named {target}")
        return route

    # -- request ids ----------------------------------------------------------------------

    def begin(self, origin: Hashable, identity: bytes, req_id: int, target: str,
              now: float) -> int:
        """Record a forwarded request; return the req_id to use towards the target."""
        if len(self._pending) >= self._max_pending:
            self.sweep(now)
            if len(self._pending) >= self._max_pending:
                raise RouteError("notifier overloaded: too many requests in flight")
        rid = next(self._ids)
        self._pending[rid] = Pending(origin, identity, req_id, target,
                                     now + self._pending_ttl, rid)
        return rid

    def complete(self, route_req_id: int) -> Pending | None:
        """The origin of a response, forgetting it; None for an unknown or stale id."""
        return self._pending.pop(route_req_id, None)

    def next_route_id(self) -> int:
        """A fresh small number naming a connection in log lines (the reference's 98:)."""
        return next(self._route_ids)

    def pending_count(self) -> int:
        return len(self._pending)

    def sweep(self, now: float) -> list[Pending]:
        """Forget forwarded requests older than the TTL."""
        stale = [rid for rid, p in self._pending.items() if p.deadline <= now]
        return [self._pending.pop(rid) for rid in stale]

    def _orphans(self, target: str) -> list[Pending]:
        gone = [rid for rid, p in self._pending.items() if p.target == target]
        return [self._pending.pop(rid) for rid in gone]
