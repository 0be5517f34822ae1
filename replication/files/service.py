"""The file replication service: what the host starts, tells roles to, and asks for health.

On the active a `FileMonitor` actor watches and announces, and the Notifier service
"FileMonitor" serves manifests and file contents (on a small thread pool, never on the
Notifier's thread). On the backup a `Mirror` actor copies and follows, and a
`HealthCheck` actor asks the active's File Monitor whether it is alive. Roles change at
any time (a switch makes the backup the active); each change stops the other side's
actors first.

Handlers are published, not followed: `files.publish` on the active announces the
Handler Path with a "Handlers Published" event, and the backup compares that directory
once.
"""
from __future__ import annotations

import concurrent.futures
import itertools
import logging
import secrets
import threading
from typing import Any, Callable, Mapping

import pykka

from switchover.replication.files import protocol as proto
from switchover.replication.files import spec as specmod
from switchover.replication.files.health import NOT_CURRENT, NOT_RUNNING, HealthCheck, Progress
from switchover.replication.files.mirror import Mirror, Notice, Publish, Resync
from switchover.replication.files.monitor import FileMonitor, Health
from switchover.replication.files.settings import Specs, build_specs, texts
from switchover.replication.service import (ACTIVE, BACKUP, AdminCommand, ServiceCommandError,
                                 ServiceContext)
from switchover.transport.envelope import Envelope

log = logging.getLogger("FileMonitor")


class FileService:
    name = "files"

    def __init__(self, ctx: ServiceContext) -> None:
        self.ctx = ctx
        self.role = "none"
        self.upgrade: str | None = None
        self.progress = Progress(ctx.clock)
        self.monitor: pykka.ActorRef | None = None
        self.mirror: pykka.ActorRef | None = None
        self.health_check: pykka.ActorRef | None = None
        self.health_problem: str | None = None
        self.monitor_stopped_by_operator = False
        self._lock = threading.RLock()
        self._specs: tuple[object, Specs] | None = None
        self._pool = concurrent.futures.ThreadPoolExecutor(4, thread_name_prefix="files")
        #: The active's last handler publish ("<random>-<n>"), None before the first.
        self.published: str | None = None
        self._publish_prefix = secrets.token_hex(6)
        self._publish_count = itertools.count(1)

    # -- parameters -----------------------------------------------------------------

    def specs(self) -> Specs:
        """The specs of the parameters in force now (rebuilt only when they change)."""
        params = self.ctx.params()
        cached = self._specs
        if cached is None or cached[0] is not params:
            cached = (params, build_specs(self.ctx.root, params))
            self._specs = cached
        return cached[1]

    # -- ReplicationService ----------------------------------------------------------

    def start(self) -> None:
        self.ctx.notifier.register_service(proto.SERVICE, self._serve)
        params = self.ctx.params()
        for name, text in texts(params).items():
            if name in ("CustomMirrorDir", "InitialMirrorDir") and text:
                for warning in specmod.warnings(text, name):
                    self.ctx.events.record("warning", f"File replication: {warning}")
        self.specs()  # a malformed list shows at start, not at the first change

    def on_role(self, role: str, upgrade: str | None) -> None:
        with self._lock:
            previous, self.role, self.upgrade = self.role, role, upgrade
            if role == ACTIVE:
                self._stop_backup()
                if self.monitor is None and not self.monitor_stopped_by_operator:
                    self._start_monitor()
                self.progress.set_state("active")
            elif role == BACKUP:
                self._stop_monitor()
                if previous != BACKUP or self.mirror is None:
                    self._start_backup()
            else:
                self._stop_monitor()
                self._stop_backup()
                self.progress.set_state(f"not running: this server is {role}")

    def resync(self) -> None:
        mirror = self.mirror
        if mirror is not None and mirror.is_alive():
            mirror.tell(Resync("reconnected"))

    def events(self) -> tuple[str, ...]:
        return (proto.CHANGE, proto.PUBLISH)

    def on_peer_event(self, env: Envelope, bulk: tuple[bytes, ...]) -> None:
        """A File Change or Handlers Published (once: PeerLinks drops the other
        channel's copy, the mirror's follower any other repeat of a notice)."""
        if env.eid == proto.PUBLISH:
            self._on_publish(env)
            return
        epoch, seq = env.body.get("epoch"), env.body.get("seq")
        if not isinstance(epoch, str) or type(seq) is not int:
            log.warning("FileMonitor: malformed File Change notice ignored")
            return
        mirror = self.mirror
        if mirror is None or not mirror.is_alive():
            return
        try:
            rows = tuple(proto.decode_changes(bulk))
        except ValueError as exc:
            log.warning("FileMonitor: File Change %d unreadable: %s", seq, exc)
            return
        mirror.tell(Notice(epoch, seq, rows))

    def _on_publish(self, env: Envelope) -> None:
        publish_id = env.body.get("id")
        if not isinstance(publish_id, str) or not publish_id:
            log.warning("FileMonitor: malformed Handlers Published event ignored")
            return
        mirror = self.mirror
        if mirror is not None and mirror.is_alive():
            log.info("FileMonitor: %s published its handlers (%s)",
                     self.ctx.config.peer.name, env.body.get("dir"))
            mirror.tell(Publish(publish_id))

    def health(self) -> Mapping[str, Any]:
        snap = self.progress.snapshot()
        if self.role == ACTIVE:
            alive = self.monitor is not None and self.monitor.is_alive()
            snap["state"] = ("active: File Monitor watching and serving changes" if alive
                             else "not running: File Monitor is stopped on this server")
        elif self.role == BACKUP and self.health_problem and \
                not snap["state"].startswith("not running"):
            snap["state"] = f"not current: {self.health_problem}"
        if self.upgrade:
            snap["upgrade"] = self.upgrade
        return snap

    def warnings(self) -> list[str]:
        server = self.ctx.config.server_name
        if self.role == ACTIVE:
            if self.monitor is None or not self.monitor.is_alive():
                return [NOT_RUNNING.format(why="File Monitor is stopped on this server",
                                           server=self.ctx.config.peer.name)]
            return []
        if self.role != BACKUP:
            return []
        state = self.health()["state"]
        if state.startswith("not running: "):
            return [NOT_RUNNING.format(why=state[len("not running: "):], server=server)]
        if state.startswith("not current: "):
            return [NOT_CURRENT.format(why=state[len("not current: "):], server=server)]
        if state.startswith("initial mirror"):
            return [NOT_CURRENT.format(why=f"the start-up copy is still running ({state})",
                                       server=server)]
        return []

    def commands(self) -> Mapping[str, AdminCommand]:
        return {
            "files.status": ("status", lambda args: dict(self.health())),
            "files.resync": ("remote-control", self._cmd_resync),
            "files.publish": ("remote-control", self._cmd_publish),
            "files.monitor-stop": ("master", self._cmd_monitor_stop),
            "files.monitor-start": ("master", self._cmd_monitor_start),
        }

    def stop(self) -> None:
        with self._lock:
            self._stop_monitor()
            self._stop_backup()
        self._pool.shutdown(wait=True, cancel_futures=True)

    # -- actors ---------------------------------------------------------------------

    def _start_monitor(self) -> None:
        self.monitor = FileMonitor.start(notifier=self.ctx.notifier, clock=self.ctx.clock,
                                         specs=self.specs, published=lambda: self.published)

    def _stop_monitor(self) -> None:
        monitor, self.monitor = self.monitor, None
        if monitor is not None:
            try:
                monitor.stop(timeout=10)
            except (pykka.ActorDeadError, pykka.Timeout):
                pass

    def _start_backup(self) -> None:
        self._stop_backup()
        self.health_problem = None
        self.progress = Progress(self.ctx.clock)
        peer = self.ctx.config.peer.name
        self.mirror = Mirror.start(
            links=self.ctx.links, clock=self.ctx.clock, events=self.ctx.events,
            specs=self.specs, params=self.ctx.params, upgrade=self.upgrade,
            progress=self.progress, peer=peer, fail=self.ctx.fail)
        self.health_check = HealthCheck.start(
            links=self.ctx.links, clock=self.ctx.clock, events=self.ctx.events,
            params=self.ctx.params, peer=peer, report=self._on_health)

    def _stop_backup(self) -> None:
        """Stop both backup actors together (a host stop must stay well under 5 s): the
        mirror answers its stop at once, cancelling the job under way."""
        stopping = []
        for name in ("health_check", "mirror"):
            ref = getattr(self, name)
            setattr(self, name, None)
            if ref is not None:
                try:
                    stopping.append(ref.stop(block=False))
                except pykka.ActorDeadError:
                    pass
        for future in stopping:
            try:
                future.get(timeout=5)
            except (pykka.ActorDeadError, pykka.Timeout):
                pass
        self.health_problem = None

    def _on_health(self, problem: str | None) -> None:
        self.health_problem = problem

    # -- the active's Notifier service ------------------------------------------------

    def _serve(self, env: Envelope, bulk: tuple[bytes, ...], reply: Callable[..., None]) -> None:
        """Runs on the Notifier's thread: hand the work on, never block here."""
        monitor = self.monitor
        if self.role != ACTIVE or monitor is None or not monitor.is_alive():
            reply("rejected", {"reason": f"File Monitor is not running on "
                                         f"{self.ctx.config.server_name}"})
            return
        if env.eid == proto.HEALTH:
            try:
                monitor.tell(Health(reply))
            except pykka.ActorDeadError:
                reply("rejected", {"reason": "File Monitor is not running"})
            return
        serve = {proto.MANIFEST: proto.serve_manifest, proto.READ: proto.serve_read,
                 proto.CHUNK: proto.serve_chunk}.get(env.eid)
        if serve is None:
            reply("rejected", {"reason": f"unknown request {env.eid!r} for FileMonitor"})
            return
        try:
            self._pool.submit(self._run, serve, env.body, reply)
        except RuntimeError:
            reply("rejected", {"reason": "File Monitor is stopping"})

    def _run(self, serve: Callable[..., tuple[dict, list[bytes]]], body: Mapping[str, Any],
             reply: Callable[..., None]) -> None:
        try:
            out, frames = serve(self.specs().watch, body)
        except proto.Refused as exc:
            reply("rejected", {"reason": str(exc)})
        except Exception as exc:
            log.exception("FileMonitor: request failed")
            reply("error", {"reason": f"{type(exc).__name__}: {exc}"})
        else:
            reply("ok", out, frames)

    # -- admin commands ---------------------------------------------------------------

    def _cmd_resync(self, _: Mapping[str, Any]) -> dict[str, Any]:
        mirror = self.mirror
        if self.role != BACKUP or mirror is None:
            raise ServiceCommandError(409, f"only the backup compares its files with the "
                                           f"active's; {self.ctx.config.server_name} is "
                                           f"{self.role}")
        mirror.tell(Resync("operator"))
        return {"message": "comparing the mirrored directories with the active's"}

    def _cmd_publish(self, _: Mapping[str, Any]) -> dict[str, Any]:
        """The reference's handler publish: the backup copies the handler directory once."""
        server = self.ctx.config.server_name
        if self.role != ACTIVE:
            raise ServiceCommandError(409, f"handlers are published on the active server; "
                                           f"{server} is {self.role}")
        monitor = self.monitor
        if monitor is None or not monitor.is_alive():
            raise ServiceCommandError(409, f"File Monitor is stopped on {server}: the backup "
                                           "could not fetch the handlers (files.monitor-start)")
        handlers = self.specs().normal.handler
        if not handlers:
            raise ServiceCommandError(409, "Handler Path is not set: no handlers to publish")
        where = ", ".join(str(d.path) for d in handlers)
        with self._lock:
            publish_id = f"{self._publish_prefix}-{next(self._publish_count)}"
            self.published = publish_id
        self.ctx.notifier.publish(Envelope(
            kind="event", sender=proto.SERVICE, target="SwitchoverService", eid=proto.PUBLISH,
            body={"id": publish_id, "dir": where}))
        self.ctx.events.record("info", f"File replication: handlers published ({where})")
        return {"message": f"handlers published: {where} announced to the backup",
                "id": publish_id, "dir": where}

    def _cmd_monitor_stop(self, _: Mapping[str, Any]) -> dict[str, Any]:
        with self._lock:
            self.monitor_stopped_by_operator = True
            self._stop_monitor()
        return {"message": "File Monitor stopped"}

    def _cmd_monitor_start(self, _: Mapping[str, Any]) -> dict[str, Any]:
        with self._lock:
            self.monitor_stopped_by_operator = False
            if self.role == ACTIVE and self.monitor is None:
                self._start_monitor()
        return {"message": "File Monitor started" if self.role == ACTIVE
                else "File Monitor runs only on the active server"}
