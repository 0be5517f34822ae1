"""One host process: starts the sockets and actors in order, stops them in reverse.

The only place that sees every room. `switchover run` builds a `Host` and calls `run()`,
which returns the process exit code once SIGTERM (or SIGINT) has stopped everything:
actors stopped, sockets closed with linger, the ZeroMQ context destroyed last. The
start-up phases are `host_startup.py`; this module keeps the process's life (signals,
stop, reload) and the callbacks the phases wire between the rooms.
"""
from __future__ import annotations

import gc
import logging
import signal
import threading
from typing import Any, Callable, Mapping

import pykka
import pykka.debug

from switchover.actors import module_loss
from switchover.actors.host_startup import StartupPhases
from switchover.actors.main_jobs import hooks_budget
from switchover.actors.messages import ConnectionChanged, Shutdown
from switchover.actors.primary_messages import ConnectionDropped
from switchover.actors.primary_settings import PrimaryMonitorSettings
from switchover.actors.reload import reload_host
from switchover.actors.sysmonitor import ParametersChanged
from switchover.replication.service import STALE, ReplicationService
from switchover.config import Config
from switchover.params import ServerParameters
from switchover.sdnotify import notify
from switchover.transport.envelope import Envelope
from switchover.transport.switch import switch_request

log = logging.getLogger("SwitchoverMain")

#: Real seconds a virtual-switch request may always take (see Host.peer_query).
PEER_QUERY_FLOOR = 1.0


class Host(StartupPhases):
    def __init__(
        self, config: Config, *, force_backup: bool = False, manual_switch_only: bool = False
    ) -> None:
        self.config = config
        self.force_backup = force_backup
        self.manual_switch_only = manual_switch_only
        self._stop = threading.Event()
        self.params = config.parameters
        self.services: list[ReplicationService] = []
        self._cleanup: list[tuple[str, Callable[[], Any]]] = []
        #: Set once the discontinue hooks (and a hand-over's notice) have run.
        self._discontinued = threading.Event()
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
        """On SwitchoverMain's thread: the services take the role as a job (never waited
        for here: `service_roles.py`)."""
        self.service_roles.change(role, upgrade)
        # Type=notify: started once the first role is decided; STATUS= follows the role.
        self._role = role
        notify(*(("READY=1",) if role != "stopping" else ()), f"STATUS={self.status_line()}")

    def _services_take_role(self, role: str, upgrade: str | None) -> None:
        # Error (and Init) serve nothing: to the services that is the stale role.
        self._each_service("on_role", STALE if role == "none" else role, upgrade)

    def _services_took_role(self, role: str, seconds: float) -> None:
        log.info("SwitchoverMain: the replication services took the role %s in %.2f s",
                 role, seconds)

    def _close_service_roles(self) -> None:
        if not self.service_roles.close(timeout=10.0):
            log.error("SwitchoverMain: the replication services did not take their last "
                      "role within 10 s")

    def status_line(self) -> str:
        """What `systemctl status` shows: this server and its role."""
        what = {"none": "serving nothing (Init or Error)"}.get(self._role, self._role)
        return f"{self.config.server_name} is {what}"

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
        """The last pairing mismatch a peer's query showed (a warning in status)."""
        requests = getattr(self, "switch_requests", None)
        return requests.pairing_refused if requests is not None else None

    def _network_plan(self):
        """What a cut-off backup pings to see whether its own network is back."""
        return PrimaryMonitorSettings.from_params(
            self.params, this_server=self.config.server_name,
            primary_address=self.config.peer.address,
        ).network_plan()

    def _on_peer_event(self, env: Envelope, bulk: tuple[bytes, ...]) -> None:
        """The peer's events no replication service declared (once each: PeerLinks)."""
        if env.eid == module_loss.EID:
            lost = module_loss.heard(env.body)
            if lost.module == self.params["Switchover Monitoring"]:
                self.sysmonitor.tell(lost)
