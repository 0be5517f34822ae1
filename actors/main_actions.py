"""SwitchoverMain's executor: carries out exactly the actions a step of the state machine
returns (monitors, links, timers, probes, hooks, generation, peer notices).

Mixed into SwitchoverMain (`actors.main`), which turns what happens into events; nothing
here decides anything. What may block (the peer's virtual switch, hooks, probes) goes to
`actors.main_jobs` and comes back as a message.
"""
from __future__ import annotations

import logging
from typing import Callable

from switchover.actors import statemachine as sm
from switchover.actors.hooks import run_hooks

log = logging.getLogger("SwitchoverStates")


class MainActions:
    """The executor half of SwitchoverMain."""

    def _execute(self, action: sm.Action) -> None:
        a = sm  # the actions, re-exported by the state machine
        if isinstance(action, a.Log):
            self.d.events.record(action.level, action.message)
        elif isinstance(action, a.BecomeActive):
            self._become_active(action.reason, action.switch)
        elif isinstance(action, a.StartMonitors):
            if self.d.sysmonitor is not None:
                self.d.sysmonitor.tell(a.StartMonitors())
        elif isinstance(action, a.StopMonitors):
            if self.d.sysmonitor is not None:
                self.d.sysmonitor.tell(a.StopMonitors())
        elif isinstance(action, a.OpenLinks):
            self._open_links()
        elif isinstance(action, a.CloseLinks):
            self._close_links()
        elif isinstance(action, a.StartReconnectTimer):
            log.info("SwitchoverState::StartReconnectTimer: %s", action.message)
            self._cut_off = False
            self._later("reconnect", action.seconds)
        elif isinstance(action, a.CancelReconnectTimer):
            self._cancel("reconnect")
        elif isinstance(action, a.ProbeNotifier):
            self._at("reconnect-probe", action.after, self._probe_reconnect)
        elif isinstance(action, a.WatchOwnNetwork):
            self._cut_off = True
            self._later("own-network", action.after)
        elif isinstance(action, a.QueryPeer):
            self._at("peer-query", action.after, self._query_peer)
        elif isinstance(action, a.CheckPeer):
            self._check_peer(action.within)
        elif isinstance(action, a.TellPeerDiscontinue):
            self._tell_peer_discontinue(self.d.generation.value)
        elif isinstance(action, a.Resync):
            self.d.events.record(
                "info", f"Re-synchronizing with the primary {self.d.config.peer.name}"
            )
            self.d.on_resync()
        elif isinstance(action, a.GoStale):
            self._go_stale(action.reason, action.tell_peer)
        elif isinstance(action, a.Discontinue):
            self._discontinue(action.reason, action.tell_peer)
        elif isinstance(action, a.PendSwitch):
            self._switch_pending, self._pending_is_switch = action.reason, action.switch
        elif isinstance(action, a.TakeWitness):
            self._take_witness()
        elif isinstance(action, a.RerunCommence):
            self.d.events.record("info", f"Switchover Service: {action.reason}",
                                 kind="recommence")
            # Queued on the hook runner like every run: its results are logged there.
            run_hooks("commence", self.d.config.hooks.commence, self._hook_env(action.reason))
        elif isinstance(action, a.RunFence):
            self._run_fence(action)
        elif isinstance(action, a.AbandonSwitch):
            if self._switch_pending is not None:
                self._end_pending(self.state)
        elif isinstance(action, a.ScheduleSwitchAfterStartup):
            self._switch_scheduled = action.reason
        elif isinstance(action, a.AskPeerToHandOver):
            self._handing_over = True
            self._later("handover", action.timeout)
            self.jobs.notify_peer("handover")
        else:
            log.warning("SwitchoverMain: no executor for action %r", action)

    def _at(self, name: str, after: float, now: Callable[[], None]) -> None:
        if after > 0:
            self._later(name, after)
        else:
            self._cancel(name)
            now()

    def _become_active(self, reason: str, switch: bool) -> None:
        self._cancel("reconnect")
        self._cancel("reconnect-probe")
        self._cancel("own-network")
        if switch:
            generation = self.d.generation.advance()
            self.d.events.record("error", reason, reason=reason)
            self.d.events.record(
                "error", "Switchover Service: Switch Initiated",
                reason=reason, generation=generation,
            )
            self._tell_peer_discontinue(generation)
        else:
            generation = self.d.generation.resume()
            self.d.events.record(
                "info",
                f"Switchover Service: {self.d.config.server_name} is the active server "
                f"(generation {generation}): {reason}",
                generation=generation,
            )
        run_hooks("commence", self.d.config.hooks.commence, self._hook_env(reason))

    def _go_stale(self, reason: str, tell_peer: bool) -> None:
        self.d.events.record(
            "error",
            f"Switchover Service: {self.d.config.server_name} is stale (inactive) until "
            f"restarted: {reason}",
        )
        self._discontinue(reason, tell_peer)

    def _discontinue(self, reason: str, tell_peer: bool) -> None:
        self._discontinuing = True
        if tell_peer:
            self.d.events.record("info", f"Switchover Service: {reason}")
        self.jobs.discontinue(self._hook_env(reason), tell_peer)

    def _open_links(self) -> None:
        if not self._watching:
            self._watching = True
            self._links_lost = False
            self.d.links.start()

    def _close_links(self) -> None:
        if self._watching:
            self._watching = False
            self.d.links.stop()
            self.d.connections.update(main=False, aux=False)

    def _query_peer(self) -> None:
        if not self._query_in_flight:
            self._query_in_flight = True
            self.jobs.query_state(self.peer.pair)

    def _probe_reconnect(self) -> None:
        self.jobs.probe_notifier(float(self.params["Switchover TS Timeout"]) / 2)

    def _tell_peer_discontinue(self, generation: int) -> None:
        self.jobs.notify_peer("discontinue", generation=generation,
                              letter=self.d.config.letter)

    def _hook_env(self, reason: str) -> dict[str, str]:
        cfg = self.d.config
        return {
            "SWITCHOVER_SERVER": cfg.server_name,
            "SWITCHOVER_PEER": cfg.peer.name,
            "SWITCHOVER_REASON": reason,
            "SWITCHOVER_GENERATION": str(self.d.generation.value),
        }

