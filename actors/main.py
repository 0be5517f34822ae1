"""SwitchoverMain: feeds the state machine its events and carries out its actions.

"Switchover Main handles common tasks and prepares for entering various switchover modes."
Every decision lives in `actors.statemachine.step`; this actor turns replies, timers and
requests into events, executes exactly the actions a step returns (monitors, links,
timers, probes, hooks, generation, peer notices) and publishes the result to the shared
snapshot the virtual switch and the admin socket read. Anything that may block (the
peer's virtual switch, hooks, network probes) is a job of `actors.main_jobs` and comes
back as a message, so the actor never waits on a socket.
"""
from __future__ import annotations

import logging
from typing import Any, Callable

import pykka

from switchover.actors import statemachine as sm
from switchover.actors.hooks import run_hooks
from switchover.actors.main_jobs import MainDeps, MainJobs
from switchover.actors.messages import (
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
from switchover.actors.module_settings import flag
from switchover.actors.main_operator import MainOperator
from switchover.actors.main_status import MainStatus, role_of
from switchover.actors.peer_view import PeerTracker
from switchover.actors.sysmonitor import ParametersChanged
from switchover.actors.witness_messages import (
    AcquireWitness,
    ReleaseWitness,
    WitnessAcquired,
    WitnessHeldBy,
    WitnessHolder,
    WitnessLost,
    WitnessReleased,
    WitnessUnreachable,
)
from switchover.clock import TimerHandle

log = logging.getLogger("SwitchoverStates")

#: Reference seconds between two state queries to the peer, in every state.
PEER_QUERY_INTERVAL = 2.0
#: Reference seconds between two looks at a starting backup's progress.
STARTUP_POLL = 1.0



class SwitchoverMain(MainStatus, MainOperator, pykka.ThreadingActor):
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
        self._witness_key = False
        self._witness_ok: bool | None = None  # None: no report yet
        self._witness_holder: str | None = None
        self._switch_pending: str | None = None
        self._pending_is_switch = True
        self._peer_check: float | None = None  # CheckPeer's deadline, while it runs
        self._check_answered = False
        self.jobs = MainJobs(deps, self._tell_self)
        self._publish()

    def _tell_self(self, message: Any) -> None:
        if self.actor_ref.is_alive():
            self.actor_ref.tell(message)

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
            witness=self.d.witness is not None,
            witness_key=self._witness_key,
            switch_pending=self._switch_pending,
            pending_is_switch=self._pending_is_switch,
            server_name=self.d.config.server_name,
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
            if self._switch_pending is not None:
                self._end_pending(transition.state)
            if transition.state not in sm.BACKUP_STATES:
                self._handing_over = False
                self._cancel("handover")
                self._starting_up = self._switch_scheduled = None
                self._cancel("startup")
        elif decided and transition.reason != previous:
            log.info("SwitchoverState::State%s: %s", before.value, transition.reason)
        if role_of(before) != role_of(transition.state):
            self.d.on_role(role_of(transition.state), self.upgrade)
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
        elif isinstance(action, a.CheckPeer):
            self._peer_check, self._check_answered = action.within, False
            self._later("peer-check", action.within)
            self._query_in_flight = True  # beside a query in flight, which may be slow
            self.jobs.query_state(self.peer.pair)
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
            if self.d.witness is not None:
                gen = self.d.generation
                next_gen = gen.value if self.state in sm.ACTIVE_STATES or not \
                    self._pending_is_switch else gen.peek_next()
                self.d.witness.tell(AcquireWitness(next_gen))
        elif isinstance(action, a.RerunCommence):
            self.d.events.record("info", f"Switchover Service: {action.reason}",
                                 kind="recommence")
            # Queued on the hook runner like every run: its results are logged there.
            run_hooks("commence", self.d.config.hooks.commence, self._hook_env(action.reason))
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
        # Seen before, then silent: a peer first seen now is starting, not coming back.
        returned = self.peer.unreachable_since is not None \
            and self.peer.last_answered is not None
        view = self.peer.answered(reply)
        self._last_view = view
        if view is not None and self._peer_check is not None:
            self._check_answered = True
        if reply is not None and isinstance(reply.get("pause_version"), int):
            self._take_pause(bool(reply.get("paused")), reply["pause_version"],
                             self.d.config.peer.name)
        if view is not None:
            self.d.generation.observe(view.generation)
            if self.state is sm.State.INIT:
                self.upgrade = view.upgrade
        self._apply(sm.PeerAnswered(view, self.d.config.peer.name,
                                    returned=returned and view is not None))

    def _on_tick(self, message: Tick) -> None:
        name = message.name
        self._timers.pop(name, None)
        if name == "peer-query":
            self._apply(sm.PeerQueryDue())
        elif name == "peer-check" and self._peer_check is not None:
            within, self._peer_check = self._peer_check, None
            self._apply(sm.PeerCheckEnded(self._check_answered, within))
        elif name == "reconnect":
            self._apply(sm.ReconnectExpired())
        elif name == "reconnect-probe":
            self._apply(sm.ReconnectProbeDue())
        elif name == "own-network" and self._cut_off:
            self.jobs.check_own_network()
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

    def _end_pending(self, now: sm.State) -> None:
        """A start or switch that waited for the witness key is over: done (Primary), or
        given up (another role): then the witness stops trying for the key."""
        self._switch_pending = None
        if now not in sm.ACTIVE_STATES and self.d.witness is not None:
            self.d.witness.tell(ReleaseWitness())

    def _on_witness(self, report: Any) -> None:
        """The witness's reports: remember what they say, then let the table decide."""
        if isinstance(report, WitnessAcquired):
            self._witness_key, self._witness_ok = True, True
            self._witness_holder = report.holder.server
        elif isinstance(report, WitnessHeldBy):
            self._witness_ok = True
            self._witness_key = report.holder.server == self.d.config.server_name and \
                self._witness_key
            self._witness_holder = report.holder.server
        elif isinstance(report, WitnessUnreachable):
            self._witness_ok = False
        elif isinstance(report, WitnessLost):
            self._witness_key = False
        elif isinstance(report, (WitnessReleased, WitnessHolder)):
            if isinstance(report, WitnessReleased):
                self._witness_key = False
            self._publish()
            return
        self._apply(report)

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

    def _on_post_event(self, message: PostEvent) -> None:
        self._apply(message.event)

    def _on_parameters(self, message: Any) -> None:
        self.params = message.params

    def _on_shutdown(self, _: Shutdown) -> dict[str, bool]:
        """Stop; the reply says whether discontinue hooks (and a hand-over) are running."""
        self._apply(sm.Stop())
        return {"discontinuing": self._discontinuing}


_HANDLERS: dict[type, Callable[[SwitchoverMain, Any], Any]] = {
    **{kind: SwitchoverMain._on_witness for kind in (
        WitnessAcquired, WitnessHeldBy, WitnessUnreachable, WitnessLost, WitnessReleased,
        WitnessHolder)},
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
