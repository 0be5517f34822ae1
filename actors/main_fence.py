"""SwitchoverMain's fence run: the `[hooks] fence` commands against the lost active.

The state machine decides when to fence and what the outcome means
(`actors.state_fence`); this runs the commands on the hook runner (one after another with
the other hooks, each with its time limit, every command's result in the event log as a
"hook" entry) and tells the outcome back to SwitchoverMain as FenceDone, so the actor
never waits for a process.
"""
from __future__ import annotations

from typing import Any

from switchover.actors import statemachine as sm
from switchover.actors.hooks import HookReport, run_hooks


def fence_env(config: Any) -> dict[str, str]:
    """Whom to fence, for the hook: the peer's name and both its addresses."""
    peer = config.peer
    return {"SWITCHOVER_FENCE_PEER": peer.name, "SWITCHOVER_PEER_ADDRESS": peer.address,
            "SWITCHOVER_PEER_AUX_ADDRESS": peer.aux_address}


def fence_detail(report: HookReport) -> str:
    """One line: what failed, or what ran."""
    failed = [r.summary() for r in report.results if not r.ok]
    return "; ".join(failed or [r.summary() for r in report.results])


class MainFence:
    """Mixed into SwitchoverMain: runs RunFence and remembers that it runs."""

    _fencing: bool = False

    def _run_fence(self, action: sm.RunFence) -> None:
        cfg = self.d.config
        self._fencing = True
        peer = cfg.peer
        self.d.events.record(
            "warning", f"Switchover Service: fencing {peer.name} ({peer.address}) before "
                       f"taking over: {action.reason}")
        tell = self._tell_self

        def done(report: HookReport) -> None:
            tell(sm.FenceDone(report.ok, fence_detail(report), action.reason, action.forced))

        env = {**self._hook_env(action.reason), **fence_env(cfg)}
        if run_hooks("fence", cfg.hooks.fence, env, on_done=done) is None:
            # `[hooks] fence` emptied by a reload since the decision: nothing to wait for.
            tell(sm.FenceDone(True, "no fence hook configured any more", action.reason,
                              action.forced))

    def _on_fence_done(self, event: sm.FenceDone) -> None:
        self._fencing = False
        self._apply(event)

    def _fence_status(self) -> dict[str, Any]:
        """For `status`: whether a fence hook is configured and whether it runs now."""
        return {"configured": bool(self.d.config.hooks.fence), "running": self._fencing,
                "policy": str(self.params["Switchover Fence Policy"])}

    def _fence_warnings(self) -> list[str]:
        if not self._fencing:
            return []
        return [f"fencing {self.d.config.peer.name}: the switch waits for the fence hook"]
