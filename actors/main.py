"""SwitchoverMain: feeds the state machine its events and carries out its actions.

"Switchover Main handles common tasks and prepares for entering various switchover modes."
Every decision lives in `actors.statemachine.step`; this actor turns replies, timers and
requests into events, has `actors.main_actions` execute exactly the actions a step
returns (monitors, links, timers, probes, hooks, generation, peer notices) and publishes
the result to the shared snapshot the virtual switch and the admin socket read. Its
witness, fence, operator and status sides are mixins of their own (`actors.main_*`). Anything that may block (the
peer's virtual switch, hooks, network probes) is a job of `actors.main_jobs` and comes
back as a message, so the actor never waits on a socket.
"""
from __future__ import annotations

import logging
from typing import Any, Callable

import pykka

from switchover.actors import statemachine as sm
from switchover.actors.main_actions import MainActions
from switchover.actors.main_fence import MainFence
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
from switchover.actors.main_witness import WITNESS_REPORTS, MainWitness
from switchover.actors.peer_view import PeerTracker
from switchover.actors.sysmonitor import ParametersChanged
from switchover.clock import TimerHandle

log = logging.getLogger("SwitchoverStates")

#: Reference seconds between two state queries to the peer, in every state.
PEER_QUERY_INTERVAL = 2.0
#: Reference seconds between two looks at a starting backup's progress.
STARTUP_POLL = 1.0


class SwitchoverMain(MainStatus, MainOperator, MainFence, MainWitness, MainActions,
                     pykka.ThreadingActor):
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
        self._switch_pending: str | None = None
        self._pending_is_switch = True
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
            fence=bool(self.d.config.hooks.fence),
            fence_required=p["Switchover Fence Policy"] == "Require",
            fencing=self._fencing,
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
    **{kind: SwitchoverMain._on_witness for kind in WITNESS_REPORTS},
    Begin: SwitchoverMain._on_begin,
    PeerAnswer: SwitchoverMain._on_peer_answer,
    Tick: SwitchoverMain._on_tick,
    ConnectionChanged: SwitchoverMain._on_connection,
    DiscontinueRequest: SwitchoverMain._on_discontinue,
    GetStatus: SwitchoverMain._on_status,
    Shutdown: SwitchoverMain._on_shutdown,
    PostEvent: SwitchoverMain._on_post_event,
    sm.FenceDone: SwitchoverMain._on_fence_done,
    ParametersChanged: SwitchoverMain._on_parameters,
    RequestSwitch: SwitchoverMain._on_request_switch,
    SetPause: SwitchoverMain._on_set_pause,
    Rejoin: SwitchoverMain._on_rejoin,
}
