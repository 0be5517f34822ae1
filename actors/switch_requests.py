"""What the virtual switch (port 3633) answers, from the shared snapshot.

The switch's loop thread calls `SwitchRequests.handle`; it never waits on an actor: it
answers "what is your state?" from what SwitchoverMain last published (refusing a peer
whose configuration pairs the two servers differently), and passes the peer's notices
(discontinue, planned hand-over, pause, a switch request) on to SwitchoverMain as
messages.
"""
from __future__ import annotations

import logging
from typing import Any, Callable, Mapping

from switchover.actors.messages import DiscontinueRequest, PostEvent, RequestSwitch, SetPause
from switchover.actors.peer_view import pairing_error
from switchover.actors.shared import SharedState
from switchover.actors.statemachine import HandedOver, HandOverRequested
from switchover.config import Config
from switchover.logs import EventLog

log = logging.getLogger("SwitchoverMain")


class SwitchRequests:
    def __init__(self, config: Config, shared: SharedState, events: EventLog,
                 tell_main: Callable[[Any], None]) -> None:
        self.config = config
        self._shared = shared
        self._events = events
        self._tell_main = tell_main
        #: The last pairing mismatch a peer's query showed (a warning in status).
        self.pairing_refused: str | None = None

    def _refuse_pairing(self, pairing: str) -> None:
        """A peer whose configuration pairs the servers differently: say so, once."""
        if self.pairing_refused != pairing:
            self.pairing_refused = pairing
            log.error("SwitchoverMain: refusing the peer's state query: %s", pairing)
            self._events.record("error", f"Switchover Service: {pairing}")

    def handle(self, request: Mapping[str, Any]) -> Mapping[str, Any]:
        """One request from the peer's virtual switch client; the reply to send."""
        op = request.get("op")
        if op == "state":
            snapshot = self._shared.snapshot()
            pairing = pairing_error(snapshot.get("pair", {}), request.get("pair"),
                                    self.config.server_name, str(request.get("server")),
                                    (self.config.letter, request.get("letter")))
            if pairing:
                self._refuse_pairing(pairing)
                return {"status": "error", "reason": pairing, "pairing": pairing}
            return {"status": "ok", **snapshot, "warnings": snapshot.get("warnings", [])}
        if op == "discontinue":
            server, generation = request.get("server"), request.get("generation")
            letter = request.get("letter")
            if not (isinstance(server, str) and isinstance(generation, int)
                    and letter in ("A", "B")):
                return {"status": "error",
                        "reason": "discontinue needs server, generation and letter (A or B)"}
            self._tell_main(DiscontinueRequest(server, generation, letter))
            return {"status": "ok"}
        if op == "pause":
            paused, version = request.get("paused"), request.get("version")
            if not isinstance(paused, bool) or not isinstance(version, int):
                return {"status": "error", "reason": "pause needs paused (true or false) "
                        "and version (an integer)"}
            self._tell_main(SetPause(paused, str(request.get("server", "peer")), version))
            return {"status": "ok"}
        if op in ("handover", "handed-over"):
            server = request.get("server")
            if server != self.config.peer.name:
                return {"status": "error", "reason": f"{op} must come from the peer "
                        f"{self.config.peer.name}, not {server!r}"}
            event = HandOverRequested(server) if op == "handover" else HandedOver(server)
            self._tell_main(PostEvent(event))
            return {"status": "ok"}
        if op == "switch":
            if self._shared.snapshot().get("role") != "backup":
                return {"status": "error", "reason": "this server is not the backup"}
            origin = str(request.get("server", "peer"))
            self._tell_main(RequestSwitch(bool(request.get("immediate")), origin,
                                          bool(request.get("force"))))
            return {"status": "ok"}
        return {"status": "error", "reason": f"unknown virtual switch op {op!r}"}
