"""The peer server's channels as the Notifier sees them on its remote socket.

The reference's primary monitor checks the "connected" state of the remote notifier
connections directly ("Detecting Status of the Remote Notifier Connections"): this is
where that state lives. Only messages from the peer's own channels (sender
`PEER_SENDER`) count; they alone receive published events. The rules are plain data
with the time passed in, so the loop only feeds them what it hears.
"""
from __future__ import annotations

import logging
from typing import Callable

log = logging.getLogger("NotifierLib")

#: The sender name of the peer server's channels ("SwitchoverService" in the reference's
#: Notifier log lines).
PEER_SENDER = "SwitchoverService"


class PeerChannels:
    """Which remote identities are the peer's live channels, and whether the peer is up."""

    def __init__(self, silence: float, on_change: Callable[[bool], None]) -> None:
        self._silence = silence
        self._on_change = on_change
        self._seen: dict[bytes, float] = {}  # remote identity -> last heard
        self._route: dict[bytes, int] = {}
        self._last = float("-inf")
        self._up = False

    def connected(self, now: float) -> bool:
        """True while a channel has been heard within the liveness window."""
        return now - self._last <= self._silence

    def heard(self, ident: bytes, now: float) -> None:
        """A message from one of the peer's channels: it is live, the peer is up."""
        self._seen[ident] = now
        self._last = now
        if not self._up:
            self._up = True
            log.info("remote peer connected")
            self._on_change(True)

    def check(self, now: float) -> float | None:
        """Declare the peer lost once it is silent too long; else when to look again."""
        if not self._up:
            return None
        if now - self._last > self._silence:
            self._up = False
            log.warning("remote peer silent for %.1fs: connection lost", now - self._last)
            self._seen.clear()
            self._on_change(False)
            return None
        return self._last + self._silence

    def sweep(self, now: float) -> None:
        """Forget the channels gone quiet (a reconnect arrives under a new identity)."""
        for ident, seen in list(self._seen.items()):
            if now - seen > self._silence:
                del self._seen[ident]
                self._route.pop(ident, None)

    def live(self, now: float) -> list[bytes]:
        """The identities that published events go to."""
        return [ident for ident, seen in self._seen.items() if now - seen <= self._silence]

    def route_id(self, ident: bytes, new_id: Callable[[], int]) -> int:
        """The route id a remote connection shows in CRoute::LogMessage lines."""
        rid = self._route.get(ident)
        if rid is None:
            rid = self._route[ident] = new_id()
        return rid

    def known_route_id(self, ident: bytes) -> int | str:
        """The route id already given to `ident`, or "" (the log line's empty field)."""
        return self._route.get(ident, "")
