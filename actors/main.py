"""SwitchoverMain: owns the state machine and carries out its actions.

"Switchover Main handles common tasks and prepares for entering various switchover modes."
Decisions live in `actors.statemachine.step`; this actor feeds it events, executes the
actions it returns (monitors, hooks, generation, peer notices) and publishes the result
to the shared snapshot the virtual switch and the admin socket read. Anything that may
block (the peer's virtual switch, hooks) runs on the host's executor and comes back as a
message, so the actor never waits on a socket.
"""
from __future__ import annotations

import concurrent.futures
import logging
from dataclasses import dataclass, field
from typing import Any, Callable, Mapping

import pykka

from actors import statemachine as sm
from actors.generation import GenerationStore, rank
from actors.hooks import run_hooks
from actors.messages import (
    Begin,
    ConnectionChanged,
    DiscontinueRequest,
    GetStatus,
    PeerAnswer,
    PostEvent,
    RequestSwitch,
    Shutdown,
    Tick,
)
from actors.shared import SharedState
from actors.sysmonitor import ParametersChanged
from switchover.clock import Clock, TimerHandle
from switchover.config import Config, release_key
from switchover.logs import EventLog
from transport.outcome import Outcome

log = logging.getLogger("SwitchoverStates")

#: The reference seconds Init waits for the peer's virtual switch before going fail-safe.
INIT_QUERY_TIMEOUT = 5.0
#: How often an active server asks its peer who is active (two actives must meet).
PEER_PROBE_INTERVAL = 5.0


@dataclass
class MainDeps:
    config: Config
    clock: Clock
    events: EventLog
    generation: GenerationStore
    shared: SharedState
    executor: concurrent.futures.Executor
    peer_query: Callable[[Mapping[str, Any], float], Mapping[str, Any] | None]
    links: Any  # actors.peer.PeerLinks (started when this host watches an active peer)
    force_backup: bool = False
    manual_switch_only: bool = False
    sysmonitor: Any = None  # pykka.ActorRef of SysMonitor, when monitors exist
    #: Told every role change ("active", "backup", "stale", "stopping") with the upgrade
    #: state, and every Resync; the host passes both on to the replication services.
    on_role: Callable[[str, str | None], None] = lambda role, upgrade: None
    on_resync: Callable[[], None] = lambda: None
    connections: dict[str, bool] = field(default_factory=lambda: {"main": False, "aux": False})


class SwitchoverMain(pykka.ThreadingActor):
    def __init__(self, deps: MainDeps) -> None:
        super().__init__()
        self.d = deps
        self.state = sm.State.INIT
        self.reason = "starting"
        self.upgrade: str | None = None
        self.peer: dict[str, Any] = {"name": deps.config.peer.name, "reachable": None}
        self.switch_scheduled: str | None = None
        self.params = deps.config.parameters
        self._timers: dict[str, TimerHandle] = {}
        self._watching = False
        self._publish()

    # --- plumbing -----------------------------------------------------------------

    def on_receive(self, message: Any) -> Any:
        handler = _HANDLERS.get(type(message))
        if handler is None:
            log.warning("SwitchoverMain: ignoring unknown message %r", message)
            return None
        return handler(self, message)

    def on_stop(self) -> None:
        for timer in self._timers.values():
            timer.cancel()
        self._timers.clear()

    def _context(self) -> sm.Context:
        p = self.params
        return sm.Context(
            manual_switch_only=self.d.manual_switch_only,
            reconnect_timeout=float(p["Switchover Reconnect Timeout"]),
            unreachable_switch_allowed=int(p["Switchover Unreachable Primary Ping Count"]) != -1,
            switch_scheduled=self.switch_scheduled,
        )

    def _cancel(self, name: str) -> None:
        old = self._timers.pop(name, None)
        if old is not None:
            old.cancel()

    def _later(self, name: str, delay: float) -> None:
        self._cancel(name)
        ref = self.actor_ref
        self._timers[name] = self.d.clock.call_later(delay, lambda: ref.tell(Tick(name)))

    def _in_background(self, work: Callable[[], Any], reply: Callable[[Any], Any]) -> None:
        ref = self.actor_ref

        def done(future: concurrent.futures.Future) -> None:
            try:
                result = future.result()
            except Exception as exc:  # a failed query is an unreachable peer
                log.warning("background task failed: %s", exc)
                result = None
            message = reply(result)
            if message is not None and ref.is_alive():
                ref.tell(message)

        self.d.executor.submit(work).add_done_callback(done)

    def _query_peer(self, purpose: str) -> None:
        cfg = self.d.config
        request = {"op": "state", "server": cfg.server_name}
        self._in_background(
            lambda: self.d.peer_query(request, INIT_QUERY_TIMEOUT),
            lambda reply: PeerAnswer(reply, purpose),
        )

    # --- the state machine ------------------------------------------------------

    def _apply(self, event: sm.Event) -> sm.Transition:
        before = self.state
        transition = sm.step(before, event, self._context())
        self.state = transition.state
        self.reason = transition.reason
        if before is not transition.state:
            log.info(
                "SwitchoverState::State%s: %s, going to State%s",
                before.value, transition.reason, transition.state.value,
            )
        if transition.state in sm.BACKUP_STATES:
            self._open_links()  # mirroring goes on in every backup state, manual mode too
        if _role(before) != _role(transition.state):
            self.d.on_role(_role(transition.state), self.upgrade)
        for action in transition.actions:
            self._execute(action, before)
        if transition.state is sm.State.RECONNECTING and before is not sm.State.RECONNECTING:
            self._later("reconnect-probe", self._reconnect_delay())
        self._publish()
        return transition

    def _execute(self, action: sm.Action, before: sm.State) -> None:
        if isinstance(action, sm.Log):
            self.d.events.record(action.level, action.message)
        elif isinstance(action, sm.BecomeActive):
            self._become_active(action.reason, switched=before in sm.BACKUP_STATES)
        elif isinstance(action, sm.StartMonitors):
            self._open_links()
            if self.d.sysmonitor is not None:
                self.d.sysmonitor.tell(sm.StartMonitors())
        elif isinstance(action, sm.StopMonitors):
            if self.d.sysmonitor is not None:
                self.d.sysmonitor.tell(sm.StopMonitors())
        elif isinstance(action, sm.StartReconnectTimer):
            log.info("SwitchoverState::StartReconnectTimer: %s", action.message)
            self._later("reconnect", action.seconds)
        elif isinstance(action, sm.CancelReconnectTimer):
            self._cancel("reconnect")
        elif isinstance(action, sm.Resync):
            self.d.events.record(
                "info", f"Re-synchronizing with the primary {self.d.config.peer.name}"
            )
            self.d.on_resync()
        elif isinstance(action, sm.ScheduleSwitchAfterStartup):
            self.switch_scheduled = action.reason
        elif isinstance(action, sm.GoStale):
            self._go_stale(action.reason)
        else:
            log.warning("SwitchoverMain: no executor for action %r", action)

    def _become_active(self, reason: str, switched: bool) -> None:
        self._stop_watching()
        self._cancel("reconnect")
        self._cancel("reconnect-probe")
        generation = self.d.generation.advance()
        if switched:
            self.d.events.record("error", reason, reason=reason)
            self.d.events.record(
                "error", "Switchover Service: Switch Initiated",
                reason=reason, generation=generation,
            )
            self._tell_peer_discontinue(generation)
        else:
            self.d.events.record(
                "info",
                f"Switchover Service: {self.d.config.server_name} is the active server "
                f"(generation {generation}): {reason}",
                generation=generation,
            )
        run_hooks("commence", self.d.config.hooks.commence, self._hook_env(reason))
        self._later("probe", PEER_PROBE_INTERVAL)

    def _go_stale(self, reason: str) -> None:
        self._cancel("probe")
        self._stop_watching()
        self.d.events.record(
            "error",
            f"Switchover Service: {self.d.config.server_name} is stale (inactive) until "
            f"restarted: {reason}",
        )
        run_hooks("discontinue", self.d.config.hooks.discontinue, self._hook_env(reason))

    def _open_links(self) -> None:
        if not self._watching:
            self._watching = True
            self.d.links.start()

    def _reconnect_delay(self) -> float:
        return float(self.params["Switchover Notifier Reconnect Delay"])

    def _probe_reconnect(self) -> None:
        """In Reconnecting, ask the primary's Notifier whether it is back (main, else aux)."""
        links = self.d.links
        channel = "main" if links.connected("main") or not links.connected("aux") else "aux"
        timeout = float(self.params["Switchover TS Timeout"]) / 2
        future = links.request(channel, "Notifier", "Ping", timeout=timeout)
        ref = self.actor_ref

        def done(f: concurrent.futures.Future) -> None:
            try:
                outcome: Outcome = f.result()
            except Exception:
                return
            if ref.is_alive():
                ref.tell(Tick("reconnected" if outcome.ok else "reconnect-failed"))

        future.add_done_callback(done)

    def _stop_watching(self) -> None:
        if self.d.sysmonitor is not None:
            self.d.sysmonitor.tell(sm.StopMonitors())
        if self._watching:
            self._watching = False
            self.d.links.stop()
            self.d.connections.update(main=False, aux=False)

    def _tell_peer_discontinue(self, generation: int) -> None:
        request = {
            "op": "discontinue",
            "server": self.d.config.server_name,
            "generation": generation,
            "letter": self.d.config.letter,
        }
        self._in_background(lambda: self.d.peer_query(request, INIT_QUERY_TIMEOUT), lambda _: None)

    def _hook_env(self, reason: str) -> dict[str, str]:
        cfg = self.d.config
        return {
            "SWITCHOVER_SERVER": cfg.server_name,
            "SWITCHOVER_PEER": cfg.peer.name,
            "SWITCHOVER_REASON": reason,
            "SWITCHOVER_GENERATION": str(self.d.generation.value),
        }

    def _publish(self) -> None:
        self.d.shared.update(
            server=self.d.config.server_name,
            letter=self.d.config.letter,
            state=self.state.value,
            role=_role(self.state),
            release=self.d.config.release,
            generation=self.d.generation.value,
            reason=self.reason,
        )

    # --- handlers -----------------------------------------------------------------

    def _on_begin(self, _: Begin) -> None:
        mode = "manual switch only" if self.d.manual_switch_only else "auto-switch"
        self.d.events.record(
            "info",
            f"Switchover Service starting on {self.d.config.server_name} "
            f"(SwitchoverServer {self.d.config.letter}, release {self.d.config.release}, {mode})",
        )
        self._query_peer("init")

    def _on_peer_answer(self, message: PeerAnswer) -> None:
        reply = message.reply
        self._remember_peer(reply)
        if message.purpose == "probe":
            self._on_probe(reply)
            return
        if self.state is not sm.State.INIT:
            return
        cfg = self.d.config
        peer_state = reply.get("state") if reply else None
        if self.d.force_backup:
            self._apply(sm.StartBackup(cfg.peer.name, self._upgrade(reply)))
        elif reply is None:
            self._apply(sm.StartActive(
                f"cannot reach {cfg.peer.name} on the virtual switch; starting active (fail-safe)"
            ))
        elif peer_state == sm.State.PRIMARY.value:
            self._apply(sm.StartBackup(cfg.peer.name, self._upgrade(reply)))
        elif peer_state == sm.State.INIT.value and cfg.letter == "B":
            log.info(
                "SwitchoverState::StateInit: %s is starting too; SwitchoverServer A comes up "
                "active first, asking again", cfg.peer.name,
            )
            self._later("init", 1.0)
        elif peer_state == sm.State.INIT.value:
            self._apply(sm.StartActive(
                f"{cfg.peer.name} is starting too; SwitchoverServer A comes up active first"
            ))
        else:
            self._apply(sm.StartActive(f"{cfg.peer.name} is {peer_state}, not active"))

    def _upgrade(self, reply: Mapping[str, Any] | None) -> str | None:
        if not reply or "release" not in reply:
            self.upgrade = None
            return None
        ours, theirs = release_key(self.d.config.release), release_key(str(reply["release"]))
        self.upgrade = "higher" if ours > theirs else "lower" if ours < theirs else None
        return self.upgrade

    def _remember_peer(self, reply: Mapping[str, Any] | None) -> None:
        if reply is None:
            self.peer.update(reachable=False)
            return
        self.peer.update(
            reachable=True,
            state=reply.get("state"),
            role=reply.get("role"),
            release=reply.get("release"),
            generation=reply.get("generation"),
        )
        generation = reply.get("generation")
        if isinstance(generation, int):
            self.d.generation.observe(generation)

    def _on_probe(self, reply: Mapping[str, Any] | None) -> None:
        if self.state is not sm.State.PRIMARY:
            return
        self._later("probe", PEER_PROBE_INTERVAL)
        if not reply or reply.get("state") != sm.State.PRIMARY.value:
            return
        theirs = int(reply.get("generation") or 0)
        ours = self.d.generation.value
        cfg = self.d.config
        if rank(theirs, str(reply.get("letter"))) > rank(ours, cfg.letter):
            self._apply(sm.Discontinue(cfg.peer.name, theirs))
        else:
            log.warning(
                "SwitchoverState::StatePrimary: %s is also active with generation %d (ours "
                "%d); telling it that it is no longer active", cfg.peer.name, theirs, ours,
            )
            self._tell_peer_discontinue(ours)

    def _on_tick(self, message: Tick) -> None:
        name = message.name
        self._timers.pop(name, None)
        reconnecting = self.state is sm.State.RECONNECTING
        if name == "init" and self.state is sm.State.INIT:
            self._query_peer("init")
        elif name == "probe" and self.state is sm.State.PRIMARY:
            self._query_peer("probe")
        elif name == "reconnect" and reconnecting:
            self._apply(sm.ReconnectExpired())
        elif name == "reconnect-probe" and reconnecting:
            self._probe_reconnect()
        elif name == "reconnect-failed" and reconnecting:
            self._later("reconnect-probe", self._reconnect_delay())
        elif name == "reconnected" and reconnecting:
            self._apply(sm.ConnectionsRestored())

    def _on_connection(self, message: ConnectionChanged) -> None:
        if self.d.connections.get(message.channel) == message.up:
            return
        self.d.connections[message.channel] = message.up
        peer = self.d.config.peer.name
        if message.up:
            log.info("DispatcherLib: %s notifier connection to %s established",
                     message.channel, peer)
        else:
            log.warning("DispatcherLib: Lost %s notifier connection to %s", message.channel, peer)
        self._publish()

    def _on_discontinue(self, message: DiscontinueRequest) -> None:
        ours = self.d.generation.value
        newer = rank(message.generation, message.letter) > rank(ours, self.d.config.letter)
        if self.state is sm.State.PRIMARY and newer:
            self._apply(sm.Discontinue(message.server, message.generation))
        elif self.state is sm.State.PRIMARY:
            log.warning(
                "SwitchoverState::StatePrimary: ignoring Discontinue from %s with generation "
                "%d, not newer than ours (%d)", message.server, message.generation, ours,
            )

    def _on_status(self, _: GetStatus) -> dict[str, Any]:
        cfg = self.d.config
        mode = "manual switch only" if (self.d.manual_switch_only or self.upgrade) else "auto"
        return {
            "server": cfg.server_name,
            "letter": cfg.letter,
            "state": self.state.value,
            "role": _role(self.state),
            "reason": self.reason,
            "generation": self.d.generation.value,
            "release": cfg.release,
            "mode": mode,
            "upgrade": self.upgrade,
            "peer": dict(self.peer),
            "connections": dict(self.d.connections) if self._watching else
            {"main": None, "aux": None},
        }

    def _on_post_event(self, message: PostEvent) -> None:
        self._apply(message.event)

    def _on_request_switch(self, message: RequestSwitch) -> dict[str, Any]:
        if self.state not in sm.BACKUP_STATES:
            return {"accepted": False,
                    "message": f"{self.d.config.server_name} is {self.state.value}, not a backup"}
        self.d.events.record(
            "warning", f"Manual switchover requested by {message.origin}"
            + (" (immediate)" if message.immediate else ""),
        )
        transition = self._apply(sm.ManualSwitch(message.immediate))
        accepted = self.state is sm.State.PRIMARY
        return {"accepted": accepted, "message": transition.reason}

    def _on_parameters(self, message: Any) -> None:
        self.params = message.params

    def _on_shutdown(self, _: Shutdown) -> None:
        self._apply(sm.Stop())
        self._stop_watching()


def _role(state: sm.State) -> str:
    if state in sm.ACTIVE_STATES:
        return "active"
    if state in sm.BACKUP_STATES:
        return "backup"
    if state is sm.State.INACTIVE:
        return "stale"
    if state is sm.State.STOPPING:
        return "stopping"
    return "none"


_HANDLERS: dict[type, Callable[[SwitchoverMain, Any], Any]] = {
    Begin: SwitchoverMain._on_begin,
    PeerAnswer: SwitchoverMain._on_peer_answer,
    Tick: SwitchoverMain._on_tick,
    ConnectionChanged: SwitchoverMain._on_connection,
    DiscontinueRequest: SwitchoverMain._on_discontinue,
    GetStatus: SwitchoverMain._on_status,
    Shutdown: SwitchoverMain._on_shutdown,
    PostEvent: SwitchoverMain._on_post_event,
    ParametersChanged: SwitchoverMain._on_parameters,
    RequestSwitch: SwitchoverMain._on_request_switch,
}
