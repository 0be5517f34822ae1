"""One host process: starts the sockets and actors in order, stops them in reverse.

The only place that sees every room. `switchover run` builds a `Host` and calls `run()`,
which returns the process exit code once SIGTERM (or SIGINT) has stopped everything:
actors stopped, sockets closed with linger, the ZeroMQ context destroyed last.
"""
from __future__ import annotations

import concurrent.futures
import gc
import logging
import os
import shutil
import signal
import tempfile
import threading
from pathlib import Path
from typing import Any, Callable, Mapping

import pykka
import pykka.debug
import zmq

from actors.admin_commands import AdminCommands
from actors.generation import GenerationStore
from actors.hooks import HookRunner, install, release_previous_run
from actors.main import MainDeps, SwitchoverMain, hooks_budget
from actors.messages import (
    Begin,
    ConnectionChanged,
    DiscontinueRequest,
    PostEvent,
    RequestSwitch,
    SetPause,
    Shutdown,
)
from actors.network import IcmpProber
from actors.primary_driver import ConnectionDropped
from actors.statemachine import Fatal, HandedOver, HandOverRequested
from actors.sysmonitor import ModuleLost, ParametersChanged, SysMonitor
from replication.service import STALE, ReplicationService, ServiceContext
from replication.services import SERVICES
from actors.pause import PauseStore
from actors.peer import PeerLinks, ping_tos
from actors.reload import reload_host
from actors.peer_view import pairing_error
from actors.primary_settings import PrimaryMonitorSettings
from actors.shared import SharedState
from switchover.clock import RealClock
from switchover.config import Config
from switchover.endpoints import notifier_ipc, operator_key_path, tcp
from switchover.logs import EventLog, configure_logging
from switchover.params import ServerParameters
from switchover.private import private_dir
from switchover.sdnotify import notify
from transport.admin import AdminServer
from transport.envelope import Envelope
from transport.notifier import PEER_SENDER, Notifier
from transport.security import Authenticator, generate_keypair, load_authorized, load_keypair
from transport.switch import SwitchServer, switch_request

log = logging.getLogger("SwitchoverMain")

ALL_RIGHTS = frozenset({"status", "remote-control", "master"})
#: Real seconds a virtual-switch request may always take (see Host.peer_query).
PEER_QUERY_FLOOR = 1.0


class Host:
    def __init__(
        self, config: Config, *, force_backup: bool = False, manual_switch_only: bool = False
    ) -> None:
        self.config = config
        self.force_backup = force_backup
        self.manual_switch_only = manual_switch_only
        self._stop = threading.Event()
        self.params = config.parameters
        self.services: list[ReplicationService] = []
        self._events_lock = threading.Lock()
        self._last_module_lost: ModuleLost | None = None
        self._cleanup: list[tuple[str, Callable[[], Any]]] = []
        #: Set once the discontinue hooks (and a hand-over's notice) have run.
        self._discontinued = threading.Event()
        #: The last pairing mismatch a peer's query showed (a warning in status).
        self._pairing_refused: str | None = None
        self._reload_lock = threading.Lock()
        self._role = "none"

    def request_stop(self, *_: Any) -> None:
        self._stop.set()

    def run(self) -> int:
        """Start, wait for a stop signal, stop; the exit code is 0 on a clean stop."""
        signal.signal(signal.SIGTERM, self.request_stop)
        signal.signal(signal.SIGINT, self.request_stop)
        signal.signal(signal.SIGUSR1, lambda *_: pykka.debug.log_thread_tracebacks())
        signal.signal(signal.SIGHUP, lambda *_: self._on_sighup())
        try:
            self.start()
            # What start-up made (modules, actors, sockets) lives as long as the process:
            # taken out of the collector's view, a full collection scans only the work in
            # flight, and its pause stops costing the monitors and the streams milliseconds.
            # Start-up's garbage is collected first, or frozen cycles would never be.
            gc.collect()
            gc.freeze()
            self._stop.wait()
            log.info("SwitchoverMain: stop requested")
        finally:
            self.stop()
        return 0

    def _defer(self, name: str, stop: Callable[[], Any]) -> None:
        self._cleanup.append((name, stop))

    def start(self) -> None:
        cfg = self.config
        data_dir = cfg.data_dir
        private_dir(data_dir)
        configure_logging(data_dir / "switchover.log", server=cfg.server_name,
                          settings=cfg.log)
        for warning in cfg.parameters.warnings():
            log.warning("SwitchoverMain: %s", warning)
        self.events = EventLog(data_dir / "events.jsonl", cfg.server_name)
        self._defer("event log", self.events.close)
        self.hooks = install(HookRunner(self.events, cfg.hooks))
        self._defer("hook runner", self.hooks.close)
        self.clock = RealClock(cfg.time_scale)
        self._defer("clock", self.clock.stop)
        self.ctx = zmq.Context()
        self._defer("zmq context", lambda: self.ctx.term())
        self.executor = concurrent.futures.ThreadPoolExecutor(4, thread_name_prefix="host")
        self._defer("executor", lambda: self.executor.shutdown(wait=True, cancel_futures=True))

        keys = load_keypair(cfg.security.server_group_key)
        self._operator = _operator_keys(data_dir)
        self.auth = Authenticator(self.ctx)
        self.auth.start()
        self._defer("authenticator", self.auth.stop)
        pair = {keys.public: frozenset({"peer"})}
        self.auth.allow("notifier", pair)
        self.auth.allow("switch", pair)
        self.auth.allow("admin", self.admin_rights(cfg.security.admin_keys))

        this, peer = cfg.this, cfg.peer
        self.shared = SharedState(server=cfg.server_name, state="Init", role="none")
        self.notifier = Notifier(
            self.ctx,
            remote_endpoints=_unique([tcp(this.address, this.main_port),
                                      tcp(this.aux_address, this.aux_port)]),
            local_endpoint=notifier_ipc(data_dir),
            keys=keys,
            authenticator=self.auth,
            server_name=cfg.server_name,
            heartbeat_interval=self.clock.real_seconds(1.0),
            on_module=self._on_module,
        )
        self.notifier.start()
        self._defer("notifier", self.notifier.stop)

        self.links = PeerLinks(
            self.ctx,
            self.clock,
            endpoints={"main": tcp(peer.address, peer.main_port),
                       "aux": tcp(peer.aux_address, peer.aux_port)},
            keys=keys,
            server_public=keys.public,
            sender=PEER_SENDER,
            on_state=self._on_channel_state,
            on_event=self._on_peer_event,
            reconnect_delay=cfg.parameters["Switchover Notifier Reconnect Delay"],
            tos=ping_tos(cfg.parameters),
        )
        self._defer("peer links", self.links.stop)

        self._peer_switch = tcp(peer.address, peer.switch_port)
        self._keys = keys

        self.sysmonitor = SysMonitor.start(
            clock=self.clock,
            links=self.links,
            prober=IcmpProber(time_scale=cfg.time_scale),
            params=cfg.parameters,
            this_server=cfg.server_name,
            primary_address=peer.address,
            post=lambda event: self._tell_main(PostEvent(event)),
        )
        self._defer("SysMonitor", lambda: self.sysmonitor.stop(timeout=5))
        # Services start before SwitchoverMain and stop after it, so every role change
        # SwitchoverMain announces (stopping included) finds them running.
        context = ServiceContext(
            config=cfg, clock=self.clock, events=self.events, notifier=self.notifier,
            links=self.links, executor=self.executor, params=lambda: self.params,
            set_params=self.set_params,
            fail=lambda reason: self._tell_main(PostEvent(Fatal(reason))),
        )
        self.services = [factory(context) for factory in SERVICES]
        for service in self.services:
            service.start()
            self._defer(f"{service.name} replication", service.stop)

        self.generation = GenerationStore(data_dir / "generation.json")
        self.main_deps = MainDeps(
            config=cfg,
            clock=self.clock,
            events=self.events,
            generation=self.generation,
            shared=self.shared,
            executor=self.executor,
            peer_query=self.peer_query,
            links=self.links,
            force_backup=self.force_backup,
            manual_switch_only=self.manual_switch_only,
            sysmonitor=self.sysmonitor,
            on_role=self._on_role,
            on_resync=lambda: self._each_service("resync"),
            network_plan=self._network_plan,
            prober=IcmpProber(time_scale=cfg.time_scale),
            own_warnings=self._service_warnings,
            on_discontinued=self._discontinued.set,
            pause=PauseStore(data_dir / "pause.json"),
            startup_progress=self._startup_progress,
        )
        self.main = SwitchoverMain.start(self.main_deps)
        self._defer("SwitchoverMain", self._stop_main)


        self.switch = SwitchServer(
            self.ctx, endpoint=tcp(this.address, this.switch_port), keys=keys,
            authenticator=self.auth, handler=self._on_switch_request,
        )
        self.switch.start()
        self._defer("virtual switch", self.switch.stop)

        commands = AdminCommands.for_host(self)
        self.admin = AdminServer(
            self.ctx, endpoint=tcp(this.address, this.admin_port), keys=keys,
            authenticator=self.auth, handler=commands.handle,
        )
        self.admin.start()
        self._defer("admin socket", self.admin.stop)
        if cfg.metrics.port is not None:
            from switchover.metrics import serve

            self._defer("metrics", serve(cfg.metrics.address, cfg.metrics.port,
                                         lambda: commands.status({}), self.events.subscribe))
        release_previous_run(self.events, cfg, self.generation.value)
        self.main.tell(Begin())

    def stop(self) -> None:
        notify("STOPPING=1")
        while self._cleanup:
            name, stop = self._cleanup.pop()
            try:
                stop()
            except Exception:
                log.exception("SwitchoverMain: stopping %s failed", name)
        leftovers = pykka.ActorRegistry.get_all()
        if leftovers:
            log.error("SwitchoverMain: actors still running at exit (a bug): %s", leftovers)
            pykka.ActorRegistry.stop_all()

    def peer_query(self, request: Mapping[str, Any], timeout: float) -> Mapping[str, Any] | None:
        """One request to the peer's virtual switch; None when it does not answer.

        `timeout` is in reference seconds, but never under PEER_QUERY_FLOOR real seconds:
        a connection and CURVE handshake do not get faster with `time_scale`, and a peer
        missed for that reason would make this host start active beside it.
        """
        return switch_request(
            self.ctx, self._peer_switch, request, keys=self._keys,
            server_public=self._keys.public,
            timeout=max(self.clock.real_seconds(timeout), PEER_QUERY_FLOOR),
        )

    def _stop_main(self) -> None:
        try:
            reply = self.main.ask(Shutdown(), timeout=5)
        except (pykka.ActorDeadError, pykka.Timeout):
            reply = {}
        if reply.get("discontinuing"):
            # The active's discontinue hooks, then (planned hand-over) the backup told to
            # commence: both before this process goes.
            if not self._discontinued.wait(hooks_budget(self.config.hooks) + 5.0):
                log.error("SwitchoverMain: the discontinue hooks did not finish in time")
        self.main.stop(timeout=5)

    def _tell_main(self, message: Any) -> None:
        main = getattr(self, "main", None)
        if main is not None and main.is_alive():
            main.tell(message)

    def set_params(self, params: ServerParameters) -> None:
        """New parameters in force (a SIGHUP reload, or DS when it holds them)."""
        if not params.changed(self.params):
            return
        self.params = params
        message = ParametersChanged(params)
        self.sysmonitor.tell(message)
        self._tell_main(message)

    def _on_channel_state(self, channel: str, up: bool) -> None:
        self._tell_main(ConnectionChanged(channel, up))
        sysmonitor = getattr(self, "sysmonitor", None)
        if not up and sysmonitor is not None and sysmonitor.is_alive():
            sysmonitor.tell(ConnectionDropped(channel))

    def _on_role(self, role: str, upgrade: str | None) -> None:
        # Error (and Init) serve nothing: to the services that is the stale role.
        self._each_service("on_role", STALE if role == "none" else role, upgrade)
        # Type=notify: started once the first role is decided; STATUS= follows the role.
        self._role = role
        notify(*(("READY=1",) if role != "stopping" else ()), f"STATUS={self.status_line()}")

    def status_line(self) -> str:
        """What `systemctl status` shows: this server and its role."""
        what = {"none": "serving nothing (Init or Error)"}.get(self._role, self._role)
        return f"{self.config.server_name} is {what}"

    def admin_rights(self, admin_keys: Path | None) -> dict[bytes, frozenset[str]]:
        """Operators' keys and rights: `[security] admin_keys`, and the local operator."""
        admins = dict(load_authorized(admin_keys)) if admin_keys else {}
        admins[self._operator.public] = ALL_RIGHTS
        return admins

    def _each_service(self, method: str, *args: Any) -> None:
        """Tell every service; one service's failure must not stop SwitchoverMain."""
        for service in self.services:
            try:
                getattr(service, method)(*args)
            except Exception:
                log.exception("SwitchoverMain: %s replication failed in %s", service.name, method)

    def _on_sighup(self) -> None:
        """SIGHUP: the reload runs on the host's executor, off the signal handler."""
        executor = getattr(self, "executor", None)
        if executor is not None:
            executor.submit(self.reload)

    def reload(self) -> None:
        """Re-read the configuration (see actors/reload.py for what a SIGHUP changes)."""
        with self._reload_lock:
            reload_host(self)

    @property
    def pairing_refused(self) -> str | None:
        return self._pairing_refused

    def _network_plan(self):
        """What a cut-off backup pings to see whether its own network is back."""
        return PrimaryMonitorSettings.from_params(
            self.params, this_server=self.config.server_name,
            primary_address=self.config.peer.address,
        ).network_plan()

    def _service_warnings(self) -> list[str]:
        """The replication warnings this server reports to its peer and to status."""
        out: list[str] = []
        for service in self.services:
            try:
                out += service.warnings()
            except Exception:
                log.exception("SwitchoverMain: %s replication warnings failed", service.name)
        return out

    def _startup_progress(self) -> str | None:
        """What a starting backup still waits for: its first DS compare-and-update ("in
        sync") and its InitialMirrorDir copy; None when both are done."""
        waiting: list[str] = []
        for service in self.services:
            try:
                health = service.health()
            except Exception:
                log.exception("SwitchoverMain: %s health failed", service.name)
                continue
            state = str(health.get("state", ""))
            if service.name == "ds" and state != "in sync" and \
                    not state.startswith(("lagging", "not running: ")):
                progress = health.get("progress") or {}
                waiting.append(f"DS {state or 'starting'}" + (
                    f" ({progress.get('compared', 0)} compared, "
                    f"{progress.get('fetched', 0)} fetched)" if progress else ""))
            elif service.name == "files" and state.startswith("initial mirror"):
                waiting.append(state)
        return ", ".join(waiting) or None

    def _refuse_pairing(self, pairing: str) -> None:
        """A peer whose configuration pairs the servers differently: say so, once."""
        if self._pairing_refused != pairing:
            self._pairing_refused = pairing
            log.error("SwitchoverMain: refusing the peer's state query: %s", pairing)
            self.events.record("error", f"Switchover Service: {pairing}")

    def _on_module(self, name: str, alive: bool, info: Mapping[str, Any]) -> None:
        """A module left or joined this host's Notifier; the backup hears of a loss at once."""
        pid = info.get("pid") or 0
        if alive:
            log.info("NotifierLib: module %s registered (pid %s)", name, pid)
            return
        log.warning("NotifierLib: module %s is gone (pid %s, %s)", name, pid,
                    info.get("reason", "unknown"))
        if self.shared.snapshot().get("role") == "active":
            self.notifier.publish(Envelope(
                kind="event", sender=PEER_SENDER, target=PEER_SENDER,
                eid="Module Lost",
                body={"module": name, "pid": int(pid), "reason": str(info.get("reason", ""))},
            ))

    def _on_peer_event(self, env: Envelope, bulk: tuple[bytes, ...]) -> None:
        for service in self.services:
            if service.on_peer_event(env, bulk):
                return
        if env.eid == "Module Lost":
            body = env.body
            lost = ModuleLost(str(body.get("module")), int(body.get("pid") or 0),
                              str(body.get("reason", "")))
            with self._events_lock:  # the event comes on main and on aux: act once
                if lost == self._last_module_lost:
                    return
                self._last_module_lost = lost
            if lost.module == self.params["Switchover Monitoring"]:
                self.sysmonitor.tell(lost)

    def _on_switch_request(self, request: Mapping[str, Any]) -> Mapping[str, Any]:
        """The virtual switch: answered from the snapshot, never by waiting on an actor."""
        op = request.get("op")
        if op == "state":
            snapshot = self.shared.snapshot()
            pairing = pairing_error(snapshot.get("pair", {}), request.get("pair"),
                                    self.config.server_name, str(request.get("server")))
            if not pairing and request.get("letter") == self.config.letter:
                pairing = (f"pairing mismatch: {request.get('server')} also calls itself "
                           f"SwitchoverServer {self.config.letter}; SwitchoverServer A and B "
                           "are reversed in one of the two configurations")
            if pairing:
                self._refuse_pairing(pairing)
                return {"status": "error", "reason": pairing, "pairing": pairing}
            return {"status": "ok", **snapshot, "warnings": self._service_warnings()}
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
            if self.shared.snapshot().get("role") != "backup":
                return {"status": "error", "reason": "this server is not the backup"}
            origin = str(request.get("server", "peer"))
            self._tell_main(RequestSwitch(bool(request.get("immediate")), origin))
            return {"status": "ok"}
        return {"status": "error", "reason": f"unknown virtual switch op {op!r}"}


def _operator_keys(data_dir: Path):
    """The local operator's keypair, made on first start; the CLI on this host reads it.

    Made in a private directory and renamed into place, so a CLI reading the key while
    the host starts never sees half a file.
    """
    secret = operator_key_path(data_dir)
    if not secret.exists():
        scratch = Path(tempfile.mkdtemp(prefix=".operator-", dir=data_dir))
        try:
            public, made = generate_keypair(scratch, "operator")
            os.replace(public, data_dir / public.name)
            os.replace(made, secret)
        finally:
            shutil.rmtree(scratch, ignore_errors=True)
    os.chmod(secret, 0o600)
    return load_keypair(secret)


def _unique(endpoints: list[str]) -> list[str]:
    return list(dict.fromkeys(endpoints))
