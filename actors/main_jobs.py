"""What SwitchoverMain needs (`MainDeps`) and the work it runs off its own thread.

Everything here may block — a virtual-switch request to the peer, a Notifier ping, the
cut-off backup's own-network probes, the discontinue hooks — so it runs on the host's
executor (or the hook runner) and comes back to the actor as a message; the actor never
waits on a socket or a process.
"""
from __future__ import annotations

import concurrent.futures
import dataclasses
import logging
import time
from dataclasses import dataclass, field
from typing import Any, Callable, Mapping

from switchover.actors import statemachine as sm
from switchover.actors.generation import GenerationStore
from switchover.actors.hooks import run_hooks
from switchover.actors.messages import PeerAnswer, PostEvent
from switchover.actors.network import NetworkPlan, Prober, run_diagnosis
from switchover.actors.pause import PauseStore
from switchover.actors.shared import SharedState
from switchover.actors.witness_driver import MIN_LEASE_SECONDS
from switchover.actors.witness_messages import ReleaseWitness
from switchover.clock import Clock
from switchover.config import Config
from switchover.logs import EventLog
from switchover.transport.channel import preferred

log = logging.getLogger("SwitchoverStates")

#: The reference seconds a virtual-switch query may take before the peer counts as silent.
PEER_QUERY_TIMEOUT = 5.0

Tell = Callable[[Any], None]


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
    wall: Callable[[], float] = time.time
    #: Called (on an executor thread) once the discontinue hooks have run and, in a
    #: planned hand-over, the peer has been told: the host waits for it when it stops.
    on_discontinued: Callable[[], None] = lambda: None
    #: The pair's pause (maintenance mode); None keeps it in memory only.
    pause: PauseStore | None = None
    #: What a starting backup still waits for ("DS syncing ..., initial mirror ..."), or
    #: None once its first DS compare and its InitialMirrorDir copy are done.
    startup_progress: Callable[[], str | None] = lambda: None
    #: The Witness actor (pykka.ActorRef) when `[witness]` is configured.
    witness: Any = None


def hooks_budget(hooks: Any) -> float:
    """Real seconds the discontinue hooks may take to the end (their time limits)."""
    return sum(c.timeout or hooks.timeout for c in hooks.discontinue) + 5.0


class MainJobs:
    """The blocking work of SwitchoverMain; each result is told back to it."""

    def __init__(self, deps: MainDeps, tell: Tell) -> None:
        self.d = deps
        self._tell = tell

    def _background(self, work: Callable[[], Any], reply: Callable[[Any], Any]) -> None:
        tell = self._tell

        def done(future: concurrent.futures.Future) -> None:
            try:
                result = future.result()
            except Exception as exc:  # a failed query is an unreachable peer
                log.warning("background task failed: %s", exc)
                result = None
            message = reply(result)
            if message is not None:
                tell(message)

        try:
            self.d.executor.submit(work).add_done_callback(done)
        except RuntimeError:  # the executor is shutting down with the host
            pass

    def query_state(self, pair: Mapping[str, str]) -> None:
        """Ask the peer's virtual switch for its state; the answer comes as PeerAnswer."""
        cfg = self.d.config
        request = {"op": "state", "server": cfg.server_name, "letter": cfg.letter,
                   "pair": dict(pair)}
        self._background(lambda: self.d.peer_query(request, PEER_QUERY_TIMEOUT),
                         lambda reply: PeerAnswer(reply, "state"))

    def notify_peer(self, op: str, **fields: Any) -> None:
        """A one-way virtual-switch request (discontinue, handover, pause): best effort."""
        request = {"op": op, "server": self.d.config.server_name, **fields}
        self._background(lambda: self.d.peer_query(request, PEER_QUERY_TIMEOUT),
                         lambda _: None)

    def probe_notifier(self, timeout: float) -> None:
        """Reconnecting: ask the primary's Notifier whether it is back (main, else aux)."""
        links = self.d.links
        future = links.request(preferred(links.connected)[0], "Notifier", "Ping",
                               timeout=timeout)
        tell = self._tell

        def done(f: concurrent.futures.Future) -> None:
            try:
                ok = bool(f.result().ok)
            except Exception:
                ok = False
            tell(PostEvent(sm.ReconnectProbed(ok)))

        future.add_done_callback(done)

    def check_own_network(self) -> None:
        """The cut-off backup's gateway and NetTest addresses, probed again."""
        prober, plan = self.d.prober, self.d.network_plan()
        if prober is None:
            self._tell(PostEvent(sm.OwnNetworkChecked(True)))
            return
        if plan.gateway_ping and not plan.gateways:
            # No default route is no network: the kernel drops the routes through a link
            # that went down, and nothing would be pinged.
            self._tell(PostEvent(sm.OwnNetworkChecked(False)))
            return
        # Only this server's own network: the primary's address is not in question here.
        plan = dataclasses.replace(plan, primary_address="", ping_sets=1)
        clock = self.d.clock
        self._background(
            lambda: run_diagnosis(plan, prober,
                                  sleep=lambda s: time.sleep(clock.real_seconds(s))),
            lambda diagnosis: PostEvent(sm.OwnNetworkChecked(
                diagnosis is not None and not diagnosis.local_down)),
        )

    def discontinue(self, env: Mapping[str, str], tell_peer: bool) -> None:
        """Run the discontinue hooks; then, in a planned hand-over, tell the peer that it
        may commence, so its commence hooks follow ours."""
        cfg, query, done = self.d.config, self.d.peer_query, self.d.on_discontinued
        executor = self.d.executor

        witness = self.d.witness
        release_wait = self._release_wait() if witness is not None else None

        def after() -> None:
            try:
                if witness is not None and witness.is_alive():
                    self._release_witness(witness, release_wait if tell_peer else None)
                if tell_peer:
                    query({"op": "handed-over", "server": cfg.server_name}, PEER_QUERY_TIMEOUT)
            finally:
                done()

        def later(_: Any = None) -> None:
            try:
                executor.submit(after)
            except RuntimeError:  # the executor is already stopping: tell from here
                after()

        if run_hooks("discontinue", cfg.hooks.discontinue, env, on_done=later) is None:
            later()

    def _release_wait(self) -> float:
        """Real seconds a revoke may take: its own etcd call and a renewal ahead of it,
        each bounded by a sixth of the lease etcd grants (see actors.witness_driver)."""
        ttl = float(self.d.config.parameters["Switchover Witness Lease TTL"])
        return max(MIN_LEASE_SECONDS, self.d.clock.real_seconds(ttl)) / 3 + 1.0

    @staticmethod
    def _release_witness(witness: Any, wait: float | None) -> None:
        """Give the key back; with `wait`, until etcd confirmed (or the wait ran out), so
        that the peer told next finds the key free and takes it at once."""
        if wait is None:
            witness.tell(ReleaseWitness())
            return
        try:
            revoked = witness.ask(ReleaseWitness(), timeout=wait)
            if isinstance(revoked, concurrent.futures.Future):
                revoked.result(timeout=wait)
        except Exception as exc:  # a dead actor or etcd too slow: the lease expires by itself
            log.warning("Releasing the witness key: %s", exc or type(exc).__name__)
