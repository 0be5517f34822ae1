"""The operators' requests SwitchoverMain takes: a manual switch, rejoin, pause and resume
(from an operator here, or passed on by the peer). Each becomes an event of the state
machine; the reply says what was decided, in the decision's own words.
"""
from __future__ import annotations

from typing import Any

from switchover.actors import statemachine as sm
from switchover.actors.messages import Rejoin, RequestSwitch, SetPause


class MainOperator:
    """Mixed into SwitchoverMain: operator requests in, state-machine events out."""

    def _on_request_switch(self, message: RequestSwitch) -> dict[str, Any]:
        if self.state not in sm.BACKUP_STATES:
            return {"accepted": False,
                    "message": f"{self.d.config.server_name} is {self.state.value}, not a backup"}
        self.d.events.record(
            "warning", f"Manual switchover requested by {message.origin}"
            + (" (immediate)" if message.immediate else "")
            + (" (forced: without the witness key)" if message.force else ""),
        )
        transition = self._apply(sm.ManualSwitch(message.immediate, message.force))
        accepted = self.state is sm.State.PRIMARY or self._handing_over or self._fencing
        return {"accepted": accepted, "message": transition.reason}

    def _on_rejoin(self, message: Rejoin) -> dict[str, Any]:
        """`switchover rejoin`: a stale server becomes a backup again, or says why not."""
        if self.state is not sm.State.INACTIVE:
            return {"accepted": False, "message": f"{self.d.config.server_name} is "
                    f"{self.state.value}, not stale: nothing to rejoin"}
        self.d.events.record("warning", f"Rejoin requested by {message.origin}",
                             kind="operator")
        transition = self._apply(sm.RejoinRequested(self._last_view, self.d.config.peer.name))
        return {"accepted": self.state in sm.BACKUP_STATES, "message": transition.reason}

    def _on_set_pause(self, message: SetPause) -> dict[str, Any]:
        store = self.d.pause
        if store is None:
            return {"paused": False, "changed": False}
        changed = self._take_pause(message.paused, message.version, message.origin)
        if message.version is None:  # an operator here: the peer takes the same version
            self.jobs.notify_peer("pause", paused=store.paused, version=store.version)
        return {"paused": store.paused, "changed": changed}

    def _take_pause(self, paused: bool, version: int | None, origin: str) -> bool:
        store = self.d.pause
        if store is None or (version is not None and version <= store.version):
            return False
        changed = store.set(paused, version)
        if changed:
            what = "paused (maintenance mode): no automatic switch until resumed" if paused \
                else "resumed: automatic switching is on again"
            self.d.events.record("warning", f"Switchover Service: the pair is {what} "
                                 f"(by {origin})", kind="operator")
            self._apply(sm.PauseChanged(paused))
        else:
            self._publish()
        return changed

