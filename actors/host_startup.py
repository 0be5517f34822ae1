"""The host's start-up phases, in the order the process needs them.

Each phase starts one layer (logs, runtime, keys, the Notifier, the peer links, the
monitors, the replication services, SwitchoverMain, the servers that answer from
outside) and defers its own stop, so `Host.stop` can undo whatever started, in reverse,
however far start-up got. The callbacks the phases wire in are the host's (`host.py`).
"""
from __future__ import annotations

import concurrent.futures
import logging
import os
import shutil
import tempfile
from pathlib import Path
from typing import Any, Callable

import zmq

from switchover.actors import module_loss
from switchover.actors.admin_commands import AdminCommands
from switchover.actors.generation import GenerationStore
from switchover.actors.hooks import HookRunner, install, release_previous_run
from switchover.actors.main import SwitchoverMain
from switchover.actors.main_jobs import MainDeps
from switchover.actors.messages import Begin, PostEvent
from switchover.actors.network import IcmpProber
from switchover.actors.pause import PauseStore
from switchover.actors.peer import PeerLinks, ping_tos
from switchover.actors.replication_health import WarningsPublisher, startup_progress
from switchover.actors.statemachine import Fatal
from switchover.actors.switch_requests import SwitchRequests
from switchover.actors.sysmonitor import SysMonitor
from switchover.actors.witness import Witness, witness_store
from switchover.actors.service_roles import ServiceRoles
from switchover.actors.shared import SharedState
from switchover.replication.service import ServiceContext
from switchover.replication.services import SERVICES
from switchover.clock import RealClock
from switchover.endpoints import notifier_ipc, operator_key_path, tcp
from switchover.logs import EventLog, configure_logging
from switchover.private import private_dir
from switchover.transport.admin import AdminServer
from switchover.transport.notifier import Notifier
from switchover.transport.notifier_peers import PEER_SENDER
from switchover.transport.security import (
    Authenticator,
    CurveKeys,
    generate_keypair,
    load_authorized,
    load_keypair,
)
from switchover.transport.switch import SwitchServer

log = logging.getLogger("SwitchoverMain")

ALL_RIGHTS = frozenset({"status", "remote-control", "master"})


class StartupPhases:
    """The phases of `Host.start`; mixed into `Host`, whose callbacks they wire in."""

    _cleanup: list[tuple[str, Callable[[], Any]]]

    def _defer(self, name: str, stop: Callable[[], Any]) -> None:
        self._cleanup.append((name, stop))

    def start(self) -> None:
        """Start in order; each phase defers its own stop (run in reverse by `stop`)."""
        self._start_logs()
        self._start_runtime()
        keys = self._start_security()
        self._start_notifier(keys)
        self._start_links(keys)
        self._start_monitors()
        self._start_services()
        self._start_main()
        self._start_servers(keys)
        release_previous_run(self.events, self.config, self.generation.value)
        self.main.tell(Begin())

    def _start_logs(self) -> None:
        """The data dir, the switchover log and the event log, before anything can fail."""
        cfg = self.config
        private_dir(cfg.data_dir)
        configure_logging(cfg.data_dir / "switchover.log", server=cfg.server_name,
                          settings=cfg.log)
        for warning in cfg.parameters.warnings():
            log.warning("SwitchoverMain: %s", warning)
        self.events = EventLog(cfg.data_dir / "events.jsonl", cfg.server_name)
        self._defer("event log", self.events.close)
        self.hooks = install(HookRunner(self.events, cfg.hooks))
        self._defer("hook runner", self.hooks.close)

    def _start_runtime(self) -> None:
        """The clock, the ZeroMQ context (destroyed last) and the executor for jobs."""
        self.clock = RealClock(self.config.time_scale)
        self._defer("clock", self.clock.stop)
        self.ctx = zmq.Context()
        self._defer("zmq context", lambda: self.ctx.term())
        self.executor = concurrent.futures.ThreadPoolExecutor(4, thread_name_prefix="host")
        self._defer("executor", lambda: self.executor.shutdown(wait=True, cancel_futures=True))

    def _start_security(self) -> CurveKeys:
        """The server-group keypair, the local operator's key and the ZAP allow lists."""
        cfg = self.config
        keys = load_keypair(cfg.security.server_group_key)
        self._operator = _operator_keys(cfg.data_dir)
        self.auth = Authenticator(self.ctx)
        self.auth.start()
        self._defer("authenticator", self.auth.stop)
        pair = {keys.public: frozenset({"peer"})}
        self.auth.allow("notifier", pair)
        self.auth.allow("switch", pair)
        self.auth.allow("admin", self.admin_rights(cfg.security.admin_keys))
        return keys

    def _start_notifier(self, keys: CurveKeys) -> None:
        """This host's Notifier: its modules and the peer's two channels attach to it."""
        cfg, this = self.config, self.config.this
        self.shared = SharedState(server=cfg.server_name, state="Init", role="none")
        losses = module_loss.ModuleLossReporter(lambda env: self.notifier.publish(env),
                                    lambda: self.shared.snapshot().get("role") == "active")
        self.notifier = Notifier(
            self.ctx,
            remote_endpoints=_unique([tcp(this.address, this.main_port),
                                      tcp(this.aux_address, this.aux_port)]),
            local_endpoint=notifier_ipc(cfg.data_dir),
            keys=keys,
            authenticator=self.auth,
            server_name=cfg.server_name,
            heartbeat_interval=self.clock.real_seconds(1.0),
            on_module=losses.on_module,
        )
        self.notifier.start()
        self._defer("notifier", self.notifier.stop)

    def _start_links(self, keys: CurveKeys) -> None:
        """The main and auxiliary channels to the peer's Notifier (opened when backup)."""
        cfg, peer = self.config, self.config.peer
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

    def _start_monitors(self) -> None:
        """SysMonitor, which starts the primary and module monitors when told."""
        cfg = self.config
        self.sysmonitor = SysMonitor.start(
            clock=self.clock,
            links=self.links,
            prober=IcmpProber(time_scale=cfg.time_scale),
            params=cfg.parameters,
            this_server=cfg.server_name,
            primary_address=cfg.peer.address,
            post=lambda event: self._tell_main(PostEvent(event)),
        )
        self._defer("SysMonitor", lambda: self.sysmonitor.stop(timeout=5))

    def _start_services(self) -> None:
        """DS, files, interactions: before SwitchoverMain and stopped after it, so every
        role change it announces (stopping included) finds them running."""
        context = ServiceContext(
            config=self.config, clock=self.clock, events=self.events, notifier=self.notifier,
            links=self.links, executor=self.executor, params=lambda: self.params,
            set_params=self.set_params,
            fail=lambda reason: self._tell_main(PostEvent(Fatal(reason))),
        )
        self.services = [factory(context) for factory in SERVICES]
        for service in self.services:
            self.links.route(service.events(), service.on_peer_event)
            service.start()
            self._defer(f"{service.name} replication", service.stop)
        publisher = WarningsPublisher(self.clock, self.executor, self.shared, self.services)
        publisher.start()
        self._defer("replication warnings", publisher.stop)
        # Stopped after SwitchoverMain, before the services: the last change (stopping)
        # reaches them before they stop.
        self.service_roles = ServiceRoles(self._services_take_role,
                                          lambda: self._each_service("resync"),
                                          self._services_took_role)
        self._defer("service roles", self._close_service_roles)

    def _start_witness(self) -> Any:
        """The Witness actor when `[witness]` is configured (docs/witness.md); its reports
        go to SwitchoverMain."""
        cfg = self.config
        if cfg.witness is None:
            return None
        witness = Witness.start(self.clock, witness_store(cfg.witness), cfg.server_name,
                                float(cfg.parameters["Switchover Witness Lease TTL"]),
                                self._tell_main)
        self._defer("Witness", lambda: witness.stop(timeout=5))
        return witness

    def _start_main(self) -> None:
        """SwitchoverMain, which owns the state machine."""
        cfg = self.config
        witness = self._start_witness()
        self.generation = GenerationStore(cfg.data_dir / "generation.json")
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
            on_resync=self.service_roles.resync,
            network_plan=self._network_plan,
            prober=IcmpProber(time_scale=cfg.time_scale),
            on_discontinued=self._discontinued.set,
            pause=PauseStore(cfg.data_dir / "pause.json"),
            startup_progress=lambda: startup_progress(self.services, self.service_roles.taking),
            witness=witness,
        )
        self.main = SwitchoverMain.start(self.main_deps)
        self._defer("SwitchoverMain", self._stop_main)

    def _start_servers(self, keys: CurveKeys) -> None:
        """The virtual switch and the admin socket, last: they answer from a started host."""
        this = self.config.this
        self.switch_requests = SwitchRequests(
            self.config, self.shared, self.events, self._tell_main)
        self.switch = SwitchServer(
            self.ctx, endpoint=tcp(this.address, this.switch_port), keys=keys,
            authenticator=self.auth, handler=self.switch_requests.handle,
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
        if self.config.metrics.port is not None:
            from switchover.metrics import serve

            metrics = self.config.metrics
            self._defer("metrics", serve(metrics.address, metrics.port,
                                         lambda: commands.status({}), self.events.subscribe))

    def admin_rights(self, admin_keys: Path | None) -> dict[bytes, frozenset[str]]:
        """Operators' keys and rights: `[security] admin_keys`, and the local operator."""
        admins = dict(load_authorized(admin_keys)) if admin_keys else {}
        admins[self._operator.public] = ALL_RIGHTS
        return admins



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
