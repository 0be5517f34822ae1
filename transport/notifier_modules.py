"""The monitored modules' registrations on the Notifier's local socket.

A module registers by name (the name requests are routed to, e.g. TsServer),
heartbeats, and unregisters; one that goes silent or whose connection closes is
unregistered at once, its pending requests are rejected and `on_module` is told, so
the active can tell the backup without waiting for a ping to fail. The routing rules
are the RouteTable's; this keeps the life cycle around them: the snapshot other threads
read, which connection descriptor belongs to which module, and the log lines.
"""
from __future__ import annotations

import logging
import time
from typing import Any, Callable, Mapping

from .envelope import RESPONSE, Envelope, encode
from .notifier_forwarding import LOCAL, Answer, Send
from .routing import Pending, RouteError, RouteTable

log = logging.getLogger("NotifierLib")


class ModuleRegistry:
    """Register, Unregister and the losses of the local modules; loop thread only,
    except `snapshot`."""

    def __init__(self, table: RouteTable, server_name: str, answer: Answer, send: Send,
                 on_module: Callable[[str, bool, Mapping[str, Any]], None]) -> None:
        self._table = table
        self._server_name = server_name
        self._answer = answer
        self._send = send
        self._on_module = on_module
        self._snapshot: dict[str, Mapping[str, Any]] = {}
        # A module's process that dies closes its connection at once; the socket monitor
        # tells which descriptor closed, and SRCFD tells which descriptor a module spoke on.
        self._fds: dict[int, bytes] = {}
        #: The descriptor the message being handled came in on (None when unknown).
        self.fd_of_last: int | None = None

    def snapshot(self) -> dict[str, Mapping[str, Any]]:
        """The registered modules (name -> name, pid, route_id, registered_at); any thread."""
        return dict(self._snapshot)

    def register(self, ident: bytes, env: Envelope) -> None:
        """A module's Register: its name routes to this connection from now on."""
        name, pid = env.body.get("name"), env.body.get("pid")
        connection = env.body.get("connection", 0)
        if not isinstance(name, str) or not (pid is None or type(pid) is int) \
                or type(connection) is not int:
            self._answer(LOCAL, ident, env, "error", {
                "reason": "Register needs body {'name': str, 'pid': int, "
                          "'connection': int (optional)}"})
            return
        known = self._table.module_by_identity(ident)
        try:
            entry = self._table.register(name, ident, pid, time.monotonic(), connection)
        except RouteError as exc:
            log.warning("registration of %s (pid %s) rejected: %s", name, pid, exc)
            self._answer(LOCAL, ident, env, "rejected", {"reason": str(exc)})
            return
        self._answer(LOCAL, ident, env, "ok",
                     {"name": name, "route_id": entry.route_id, "server": self._server_name})
        if self.fd_of_last is not None:
            self._fds[self.fd_of_last] = ident
        if known is None and name in self._snapshot:
            log.info("module %s (pid %s) reconnected: registration moved to its new "
                     "connection", name, pid)
        elif known is None:
            log.info("module %s registered (pid %s)", name, pid)
            self._snapshot = self._table.modules()
            self._on_module(name, True, entry.info())

    def unregister(self, ident: bytes, env: Envelope) -> None:
        """A module's Unregister: a loss told at once, like a silent module's."""
        entry, orphans = self._table.unregister(ident)
        self._answer(LOCAL, ident, env, "ok", None)
        if entry is not None:
            log.info("module %s unregistered (pid %s)", entry.name, entry.pid)
            self._gone(entry.info(), "unregistered", orphans)

    def connection_closed(self, fd: int) -> None:
        """The socket monitor saw descriptor `fd` close."""
        ident = self._fds.pop(fd, None)
        if ident is None:
            return
        entry, orphans = self._table.unregister(ident)
        if entry is not None:
            log.warning("module %s (pid %s) connection closed: unregistered",
                        entry.name, entry.pid)
            self._gone(entry.info(), "connection closed", orphans)

    def expire(self, now: float, silence: float) -> None:
        """Unregister the modules silent for longer than `silence`."""
        for entry, orphans in self._table.expire(now, silence):
            log.warning("module %s (pid %s) silent for %.1fs: unregistered",
                        entry.name, entry.pid, now - entry.last_seen)
            self._gone(entry.info(), "silent", orphans)

    def _gone(self, info: dict[str, Any], reason: str, orphans: list[Pending]) -> None:
        self._snapshot = self._table.modules()
        for p in orphans:
            out = Envelope(RESPONSE, p.target, "", "", p.req_id, "*", "rejected",
                           {"reason": f"module {p.target} {reason}"})
            self._send(p.origin, [p.identity, *encode(out)])
        self._on_module(info["name"], False, {**info, "reason": reason})
