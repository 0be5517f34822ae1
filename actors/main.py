"""SwitchoverMain: feeds the state machine its events and carries out its actions.

"Switchover Main handles common tasks and prepares for entering various switchover modes."
Every decision lives in `actors.statemachine.step`; this actor turns replies, timers and
requests into events, executes exactly the actions a step returns (monitors, links,
timers, probes, hooks, generation, peer notices) and publishes the result to the shared
snapshot the virtual switch and the admin socket read. Anything that may block (the
peer's virtual switch, hooks, network probes) runs on the host's executor and comes back
as a message, so the actor never waits on a socket.
"""
from __future__ import annotations

import concurrent.futures
import dataclasses
import logging
import time
from dataclasses import dataclass, field
from typing import Any, Callable, Mapping

import pykka

from actors import statemachine as sm
from actors.generation import GenerationStore
from actors.hooks import run_hooks
from actors.messages import (
    Begin,
    ConnectionChanged,
    DiscontinueRequest,
    GetStatus,
    PeerAnswer,
    PostEvent,
    Rejoin,
    RequestSwitch,
    SetPause,
    Shutdown,
    Tick,
)
from actors.module_settings import flag
from actors.network import Diagnosis, NetworkPlan, Prober, run_diagnosis
from actors.pause import PauseStore
from actors.peer_view import PeerTracker
from actors.shared import SharedState
from actors.sysmonitor import ParametersChanged
from switchover.clock import Clock, TimerHandle
from switchover.config import Config
from switchover.logs import EventLog
from transport.outcome import Outcome

log = logging.getLogger("SwitchoverStates")

#: The reference seconds a virtual-switch query may take before the peer counts as silent.
PEER_QUERY_TIMEOUT = 5.0
#: Reference seconds between two state queries to the peer, in every state.
PEER_QUERY_INTERVAL = 2.0
#: Reference seconds between two looks at a starting backup's progress.
STARTUP_POLL = 1.0



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
    #: The cut-off backup's own-network check: what to ping, and with what.
    network_plan: Callable[[], NetworkPlan] = lambda: NetworkPlan()
    prober: Prober | None = None
    #: The warnings this server reports to its peer (its replication health).
    own_warnings: Callable[[], list[str]] = lambda: []
    wall: Callable[[], float] = time.time
    #: Called (on an executor thread) once the discontinue hooks have run and, in a
    #: planned hand-over, the peer has been told: the host waits for it when it stops.
    on_discontinued: Callable[[], None] = lambda: None
    #: The pair's pause (maintenance mode); None keeps it in memory only.
    pause: PauseStore | None = None
    #: What a starting backup still waits for ("DS syncing ..., initial mirror ..."), or
    #: None once its first DS compare and its InitialMirrorDir copy are done.
    startup_progress: Callable[[], str | None] = lambda: None


class SwitchoverMain(pykka.ThreadingActor):
    def __init__(self, deps: MainDeps) -> None:
        super().__init__()
        self.d = deps
        cfg = deps.config
        self.state = sm.State.INIT
        self.reason = "starting"
        self.upgrade: str | None = None
        self.params = cfg.parameters
        pair = {"A": str(self.params["SwitchoverServer A"]),
                "B": str(self.params["SwitchoverServer B"])}
        self.peer = PeerTracker(cfg.peer.name, cfg.letter, pair, cfg.release, deps.wall)
        self._timers: dict[str, TimerHandle] = {}
        self._watching = False
        self._cut_off = False
        self._query_in_flight = False
        self._links_lost = False
        self._handing_over = False
        self._discontinuing = False
        self._last_view: sm.PeerView | None = None
        self._starting_up: str | None = None  # what start-up still waits for
        self._startup_began = 0.0
        self._switch_scheduled: str | None = None
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
            manual_switch_only=self.d.manual_switch_only or self._paused,
            paused=self._paused,
            reconnect_timeout=float(p["Switchover Reconnect Timeout"]),
            unreachable_switch_allowed=int(p["Switchover Unreachable Primary Ping Count"]) != -1,
            reconnect_delay=float(p["Switchover Notifier Reconnect Delay"]),
            peer_query_interval=PEER_QUERY_INTERVAL,
            letter=self.d.config.letter,
            generation=self.d.generation.value,
            force_backup=self.d.force_backup,
            cut_off=self._cut_off,
            peer_active=self._peer_answers_as("Primary"),
            backup_ready=self._peer_answers_as("Backup") and not self.peer.report.get(
                "warnings") and self.peer.report.get("mode") == "auto",
            handing_over=self._handing_over,
            auto_rejoin=flag(p["Switchover Auto Rejoin"]),
            starting_up=self._starting_up is not None,
            switch_scheduled=self._switch_scheduled,
        )

    @property
    def _paused(self) -> bool:
        return self.d.pause is not None and self.d.pause.paused

    def _peer_answers_as(self, state: str) -> bool:
        return self.peer.unreachable_since is None and self.peer.report.get("state") == state

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

        try:
            self.d.executor.submit(work).add_done_callback(done)
        except RuntimeError:  # the executor is shutting down with the host
            pass

    # --- the state machine ------------------------------------------------------

    def _apply(self, event: sm.Event) -> sm.Transition:
        before, previous = self.state, self.reason
        transition = sm.step(before, event, self._context())
        self.state = transition.state
        decided = not transition.reason.startswith("no action")
        if decided:
            self.reason = transition.reason
        if before is not transition.state:
            log.info(
                "SwitchoverState::State%s: %s, going to State%s",
                before.value, transition.reason, transition.state.value,
            )
            if transition.state is not sm.State.RECONNECTING:
                self._cut_off = False
            if transition.state not in sm.BACKUP_STATES:
                self._handing_over = False
                self._cancel("handover")
                self._starting_up = self._switch_scheduled = None
                self._cancel("startup")
        elif decided and transition.reason != previous:
            log.info("SwitchoverState::State%s: %s", before.value, transition.reason)
        if _role(before) != _role(transition.state):
            self.d.on_role(_role(transition.state), self.upgrade)
            if transition.state in sm.BACKUP_STATES:
                self._starting_up = "starting"
                self._startup_began = self.d.clock.now()
                self._later("startup", STARTUP_POLL)
        for action in transition.actions:
            self._execute(action)
        self._publish()
        return transition

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
        elif isinstance(action, a.ScheduleSwitchAfterStartup):
            self._switch_scheduled = action.reason
        elif isinstance(action, a.AskPeerToHandOver):
            self._handing_over = True
            self._later("handover", action.timeout)
            request = {"op": "handover", "server": self.d.config.server_name}
            self._in_background(lambda: self.d.peer_query(request, PEER_QUERY_TIMEOUT),
                                lambda _: None)
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
        """Run the discontinue hooks; then, in a planned hand-over, tell the peer that it
        may commence, so its commence hooks follow ours (a job: the actor never waits)."""
        cfg, query, done = self.d.config, self.d.peer_query, self.d.on_discontinued
        executor = self.d.executor
        self._discontinuing = True
        if tell_peer:
            self.d.events.record("info", f"Switchover Service: {reason}")

        def after() -> None:
            try:
                if tell_peer:
                    query({"op": "handed-over", "server": cfg.server_name}, PEER_QUERY_TIMEOUT)
            finally:
                done()

        def later(_: Any = None) -> None:
            try:
                executor.submit(after)
            except RuntimeError:  # the executor is already stopping: tell from here
                after()

        if run_hooks("discontinue", cfg.hooks.discontinue, self._hook_env(reason),
                     on_done=later) is None:
            later()

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
        """Ask the peer's virtual switch for its state; the answer comes as PeerAnswer."""
        if self._query_in_flight:
            return
        self._query_in_flight = True
        cfg = self.d.config
        request = {"op": "state", "server": cfg.server_name, "letter": cfg.letter,
                   "pair": self.peer.pair}
        self._in_background(
            lambda: self.d.peer_query(request, PEER_QUERY_TIMEOUT),
            lambda reply: PeerAnswer(reply, "state"),
        )

    def _probe_reconnect(self) -> None:
        """Reconnecting: ask the primary's Notifier whether it is back (main, else aux)."""
        links = self.d.links
        channel = "main" if links.connected("main") or not links.connected("aux") else "aux"
        timeout = float(self.params["Switchover TS Timeout"]) / 2
        future = links.request(channel, "Notifier", "Ping", timeout=timeout)
        ref = self.actor_ref

        def done(f: concurrent.futures.Future) -> None:
            try:
                outcome: Outcome = f.result()
            except Exception:
                ok = False
            else:
                ok = outcome.ok
            if ref.is_alive():
                ref.tell(PostEvent(sm.ReconnectProbed(ok)))

        future.add_done_callback(done)

    def _check_own_network(self) -> None:
        prober, plan = self.d.prober, self.d.network_plan()
        if prober is None:
            self.actor_ref.tell(PostEvent(sm.OwnNetworkChecked(True)))
            return
        if plan.gateway_ping and not plan.gateways:
            # No default route is no network: the kernel drops the routes through a link
            # that went down, and nothing would be pinged.
            self.actor_ref.tell(PostEvent(sm.OwnNetworkChecked(False)))
            return
        # Only this server's own network: the primary's address is not in question here.
        plan = dataclasses.replace(plan, primary_address="", ping_sets=1)

        def check() -> Diagnosis:
            return run_diagnosis(plan, prober, sleep=lambda s: time.sleep(
                self.d.clock.real_seconds(s)))

        self._in_background(
            check,
            lambda diagnosis: PostEvent(sm.OwnNetworkChecked(
                diagnosis is not None and not diagnosis.local_down)),
        )

    def _tell_peer_discontinue(self, generation: int) -> None:
        request = {
            "op": "discontinue",
            "server": self.d.config.server_name,
            "generation": generation,
            "letter": self.d.config.letter,
        }
        self._in_background(lambda: self.d.peer_query(request, PEER_QUERY_TIMEOUT),
                            lambda _: None)

    def _hook_env(self, reason: str) -> dict[str, str]:
        cfg = self.d.config
        return {
            "SWITCHOVER_SERVER": cfg.server_name,
            "SWITCHOVER_PEER": cfg.peer.name,
            "SWITCHOVER_REASON": reason,
            "SWITCHOVER_GENERATION": str(self.d.generation.value),
        }

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
            role=_role(self.state),
            release=cfg.release,
            generation=self.d.generation.value,
            reason=self.reason,
            mode=self._mode(),
            connections=self._connections(),
            paused=self._paused,
            pause_version=self.d.pause.version if self.d.pause is not None else 0,
        )

    # --- handlers -----------------------------------------------------------------

    def _on_begin(self, _: Begin) -> None:
        mode = "manual switch only" if self.d.manual_switch_only else "auto-switch"
        self.d.events.record(
            "info",
            f"Switchover Service starting on {self.d.config.server_name} "
            f"(SwitchoverServer {self.d.config.letter}, release {self.d.config.release}, {mode})",
        )
        self._query_peer()

    def _on_peer_answer(self, message: PeerAnswer) -> None:
        self._query_in_flight = False
        reply = message.reply
        refused = bool(reply and reply.get("refused_key"))
        if refused and not self.peer.refused:
            log.error("SwitchoverState::State%s: %s", self.state.value, reply["reason"])
            self.d.events.record("error", f"Switchover Service: {reply['reason']}")
        self.peer.refused = str(reply["reason"]) if refused else ""
        if refused:
            self.peer.answered(None)
            # Starting up, a peer that refuses our key is still a running peer: never a
            # second active beside it.
            view = sm.PeerView(self.d.config.peer.name, "", pairing=self.peer.refused) \
                if self.state is sm.State.INIT else None
            self._apply(sm.PeerAnswered(view, self.d.config.peer.name))
            return
        if reply is not None and reply.get("status") not in (None, "ok") \
                and not reply.get("pairing"):
            reply = None  # an error answer tells nothing about the peer's state
        view = self.peer.answered(reply)
        self._last_view = view
        if reply is not None and isinstance(reply.get("pause_version"), int):
            self._take_pause(bool(reply.get("paused")), reply["pause_version"],
                             self.d.config.peer.name)
        if view is not None:
            self.d.generation.observe(view.generation)
            if self.state is sm.State.INIT:
                self.upgrade = view.upgrade
        self._apply(sm.PeerAnswered(view, self.d.config.peer.name))

    def _on_tick(self, message: Tick) -> None:
        name = message.name
        self._timers.pop(name, None)
        if name == "peer-query":
            self._apply(sm.PeerQueryDue())
        elif name == "reconnect":
            self._apply(sm.ReconnectExpired())
        elif name == "reconnect-probe":
            self._apply(sm.ReconnectProbeDue())
        elif name == "own-network" and self._cut_off:
            self._check_own_network()
        elif name == "handover" and self._handing_over:
            self._apply(sm.HandOverTimedOut())
        elif name == "startup" and self._starting_up is not None:
            self._check_startup()

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
        any_up = any(self.d.connections.values())
        if not any_up and self._watching:
            self._links_lost = True
        self._publish()
        if any_up and self._links_lost:
            self._links_lost = False
            self._apply(sm.LinksRestored())

    def _check_startup(self) -> None:
        """A starting backup: done once the services say so, or at the time limit."""
        progress = self.d.startup_progress()
        limit = float(self.params["Switchover Initial Mirror Timeout"])
        if progress is not None and self.d.clock.now() - self._startup_began < limit:
            self._starting_up = progress
            self._later("startup", STARTUP_POLL)
            self._publish()
            return
        detail = "" if progress is None else (
            f"Switchover Initial Mirror Timeout ({limit:g} s) reached with {progress}")
        if detail:
            self.d.events.record("warning", f"Switchover Service: start-up ends: {detail}")
        self._starting_up = None
        self._apply(sm.StartupComplete(detail))

    def _on_discontinue(self, message: DiscontinueRequest) -> None:
        self.d.generation.observe(message.generation)
        self._apply(sm.DiscontinueRequested(message.server, message.generation, message.letter))

    def _on_status(self, _: GetStatus) -> dict[str, Any]:
        cfg = self.d.config
        role = _role(self.state)
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
                if self._starting_up is not None else []),
            "starting_up": self._starting_up,
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
        accepted = self.state is sm.State.PRIMARY or self._handing_over
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
            request = {"op": "pause", "server": self.d.config.server_name,
                       "paused": store.paused, "version": store.version}
            self._in_background(lambda: self.d.peer_query(request, PEER_QUERY_TIMEOUT),
                                lambda _: None)
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

    def _on_parameters(self, message: Any) -> None:
        self.params = message.params

    def _on_shutdown(self, _: Shutdown) -> dict[str, bool]:
        """Stop; the reply says whether discontinue hooks (and a hand-over) are running."""
        self._apply(sm.Stop())
        return {"discontinuing": self._discontinuing}


def hooks_budget(hooks: Any) -> float:
    """Real seconds the discontinue hooks may take to the end (their time limits)."""
    return sum(c.timeout or hooks.timeout for c in hooks.discontinue) + 5.0


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
    SetPause: SwitchoverMain._on_set_pause,
    Rejoin: SwitchoverMain._on_rejoin,
}
