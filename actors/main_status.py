"""What SwitchoverMain tells about itself: the shared snapshot the virtual switch answers
from (what the peer sees), and `status` (this server, its peer as the peer reports itself,
and the warnings that matter for the pair).
"""
from __future__ import annotations

from typing import Any

from switchover.actors import statemachine as sm
from switchover.actors.messages import GetStatus


class MainStatus:
    """Mixed into SwitchoverMain: reads its state, changes nothing."""

    def _mode(self) -> str:
        if self.upgrade:
            return f"upgrade {self.upgrade}"
        if self._paused:
            return "paused"
        return "manual switch only" if self.d.manual_switch_only else "auto"

    def _connections(self) -> dict[str, bool | None]:
        if self._watching:
            return dict(self.d.connections)
        if self.state in sm.ACTIVE_STATES:
            # The active serves the backup's channels: they are up while its Notifier
            # hears the peer.
            up = bool(self.peer.report.get("connections", {}).get("main")
                      or self.peer.report.get("connections", {}).get("aux"))
            return {"main": up, "aux": up} if self.peer.report else {"main": None, "aux": None}
        return {"main": None, "aux": None}

    def _publish(self) -> None:
        cfg = self.d.config
        self.d.shared.update(
            server=cfg.server_name,
            letter=cfg.letter,
            pair=self.peer.pair,
            state=self.state.value,
            role=role_of(self.state),
            release=cfg.release,
            generation=self.d.generation.value,
            reason=self.reason,
            mode=self._mode(),
            connections=self._connections(),
            paused=self._paused,
            pause_version=self.d.pause.version if self.d.pause is not None else 0,
        )

    def _on_status(self, _: GetStatus) -> dict[str, Any]:
        cfg = self.d.config
        role = role_of(self.state)
        return {
            "server": cfg.server_name,
            "letter": cfg.letter,
            "state": self.state.value,
            "role": role,
            "reason": self.reason,
            "generation": self.d.generation.value,
            "release": cfg.release,
            "mode": self._mode(),
            "upgrade": self.upgrade,
            "peer": self.peer.status(),
            "connections": self._connections(),
            "warnings": self.peer.warnings(role) + (
                [f"this server is starting up: {self._starting_up}"]
                if self._starting_up is not None else []) + self._witness_warnings()
            + self._fence_warnings(),
            "starting_up": self._starting_up,
            "witness": self._witness_status(),
            "fence": self._fence_status(),
        }

    def _witness_status(self) -> dict[str, Any]:
        if self.d.witness is None:
            return {"configured": False}
        return {"configured": True, "holder": self._witness_holder,
                "held_here": self._witness_key, "reachable": self._witness_ok,
                "switch_pending": self._switch_pending}

    def _witness_warnings(self) -> list[str]:
        """docs/witness.md: what the pair gives up, said where the operator looks."""
        if self.d.witness is None:
            return ["no witness: a partition can make both servers active"]
        if self._witness_ok is False:
            return ["witness unreachable: no automatic switch possible"]
        return []



def role_of(state: sm.State) -> str:
    """The role a state serves in: active, backup, stale, stopping or none."""
    if state in sm.ACTIVE_STATES:
        return "active"
    if state in sm.BACKUP_STATES:
        return "backup"
    if state is sm.State.INACTIVE:
        return "stale"
    if state is sm.State.STOPPING:
        return "stopping"
    return "none"
