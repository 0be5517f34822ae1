"""DSService: the DS tree's replication service (name "ds"), as the host sees it.

On the active it serves the backup ("DSServer" requests), publishes every committed
change set as a "DS Change" event (seq and chain in the body, the operations in one
bulk frame) and seeds ``${SERVER}/Server Parameters`` from the configuration when the
store is empty. On the backup its `DSReplicator` follows the active (replicator.py).
Writes are the active's: the backup refuses them unless an operator asks for a local
override, which status then reports as drift until the next resync overwrites it.

``${SERVER}`` is ``/Servers/<name>`` with the name the tree was created under by the
first active, kept in the tree (attribute "Server Name" of ``/Servers``), so it is the
same on both servers and survives a switchover ("The active server name is replicated
and used for both servers"). The parameters in that container are the pair's parameters:
whenever they change on either host (a write, an applied change, a resync) the service
hands the host a new `ServerParameters`, and the host applies the dynamic ones to the
running monitors.
"""
from __future__ import annotations

import logging
import threading
from typing import Any, Mapping

import pykka

from switchover.replication.service import ACTIVE, BACKUP, AdminCommand, ServiceContext
from switchover.replication.upgrade import SpecError, filter_for_state
from switchover.params import ParamError, lookup
from switchover.transport.envelope import Envelope

from . import protocol as p
from .changes import ChangeSet, Put
from .parameters import VALUE, ParameterGuard, container_path, parameter_entry
from .requests import ActiveRequests
from .status import ReplicatorStatus
from .replicator import (DSReplicator, Follow, ReplicatorDeps, Resync,
                         Unfollow, Change)
from .server import AckBoard, DSServer
from .store import DSStore
from .tree import CONTAINER, SERVERS, DSError, Entry

log = logging.getLogger("DSReplicator")

NAME_ATTRIBUTE = "Server Name"
UPGRADE_STATES = {"higher": "UpgradeHigher", "lower": "UpgradeLower"}
FILTER_PARAMETERS = ("Switchover Upgrade Higher DS Exclusions",
                     "Custom Upgrade Synchronization Directories",
                     "Custom Upgrade Attribute Exceptions")


def validate_parameter(name: str, value: str) -> object:
    """The catalogue's check, for `ParameterGuard`: raises ParamError naming the value."""
    return lookup(name).parse(value)


class DSService:
    name = "ds"

    def __init__(self, ctx: ServiceContext) -> None:
        self.ctx = ctx
        self.role = "none"
        self.upgrade: str | None = None
        self.store: DSStore | None = None
        self.acks = AckBoard()
        self.status = ReplicatorStatus()
        self.drift: list[str] = []
        self.filter_error = ""
        #: The filter parameters' values the stream follows under (see `_refilter`).
        self._filter_source: tuple[str | None, ...] | None = None
        self._replicator: pykka.ActorRef | None = None
        self._unsubscribe = lambda: None
        self._name: str | None = None  # cached "Server Name" of /Servers
        self._stopped = False
        # Set when this host stops being the backup (or the service stops): a request
        # waiting for a channel to the active gives up. A fresh one each time it becomes
        # the backup.
        self._backup_over = threading.Event()
        self._backup_over.set()
        self.requests = ActiveRequests(ctx, lambda: self._backup_over)

    # -- lifecycle --------------------------------------------------------------------

    def start(self) -> None:
        store = self.store = DSStore(self.ctx.data_dir / "ds.sqlite")
        store.add_guard(ParameterGuard(validate_parameter))
        self.server = DSServer(store, self.server_name, self.acks)
        self.ctx.notifier.register_service(p.SERVICE, self._serve)
        self._unsubscribe = store.subscribe(self._committed)
        self._replicator = DSReplicator.start(ReplicatorDeps(
            store=store, clock=self.ctx.clock, remote=self.requests.remote,
            send_ack=self.requests.send_ack,
            on_synced=self._synced, status=self.status,
        ))
        self._publish_params()

    def stop(self) -> None:
        self._stopped = True
        self._backup_over.set()
        self._unsubscribe()
        if self._replicator is not None:
            try:
                self._replicator.stop(timeout=5)
            except pykka.ActorDeadError:
                pass
        self.server.close()
        if self.store is not None:
            self.store.close()

    # -- roles and the stream -----------------------------------------------------------

    def on_role(self, role: str, upgrade: str | None) -> None:
        """Called on SwitchoverMain's thread: whatever happens here must not raise."""
        if self._stopped:
            return
        try:
            self._on_role(role, upgrade)
        except Exception:
            log.exception("DS: taking the role %s failed", role)

    def _on_role(self, role: str, upgrade: str | None) -> None:
        if role == BACKUP and self.role != BACKUP:
            self._backup_over = threading.Event()
        previous, self.role, self.upgrade = self.role, role, upgrade
        if role != BACKUP:
            self._backup_over.set()
        if self.store is not None:
            # The active fsyncs every commit (its changes exist nowhere else until the
            # backup has them); a backup recompares with the active after any restart.
            self.store.set_durability("normal" if role == BACKUP else "full")
        if role == ACTIVE:
            self._tell(Unfollow())
            self.drift = []
            if previous != ACTIVE:
                self._seed()
            return
        self.acks.forget()
        if role == BACKUP:
            self._follow()
        else:
            self._tell(Unfollow())

    def resync(self) -> None:
        if self.role == BACKUP and not self._stopped:
            self._tell(Resync("reconnected to the active server"))

    def events(self) -> tuple[str, ...]:
        return (p.EVENT,)

    def on_peer_event(self, env: Envelope, bulk: tuple[bytes, ...]) -> None:
        """A "DS Change" (once: PeerLinks drops the other channel's copy, the follower
        any other repeat)."""
        seq = env.body.get("seq")
        if self._stopped or self.role != BACKUP or type(seq) is not int or not bulk:
            return
        self._tell(Change(seq, bulk[0]))

    def _committed(self, cs: ChangeSet) -> None:
        """After every commit (any thread): publish on the active, re-read parameters."""
        if self.role == ACTIVE and cs.seq:
            try:
                self.ctx.notifier.publish(
                    Envelope(kind="event", sender=p.SERVICE, target="SwitchoverService",
                             eid=p.EVENT, body={"seq": cs.seq, "chain": cs.chain.hex()}),
                    [cs.encode()])
            except Exception:  # the backup will resync; the commit stands
                log.exception("DS: publishing change %d failed", cs.seq)
        if any(op.path == SERVERS for op in cs.ops):
            self._name = None
        container = container_path(self.server_name())
        if any(op.path.startswith(container) or container.startswith(op.path + "/")
               or op.path == SERVERS for op in cs.ops):
            self._publish_params()

    def _serve(self, env: Envelope, bulk: tuple[bytes, ...], reply: Any) -> None:
        if self.role != ACTIVE:
            reply("rejected", {"reason": f"{self.ctx.config.server_name} is not the active "
                                         f"server (it is {self.role})"})
            return
        self.server.handle(env, bulk, reply)

    # -- the names and the parameters in the tree ------------------------------------------

    def server_name(self) -> str:
        """The name ``${SERVER}`` stands for: the tree's, else the active's."""
        if self._name is None and self.store is not None:
            entry = self.store.get(SERVERS)
            self._name = (entry.value(NAME_ATTRIBUTE) if entry is not None else None) or ""
        if self._name:
            return self._name
        cfg = self.ctx.config
        return cfg.server_name if self.role == ACTIVE else cfg.peer.name

    def active_name(self) -> str:
        cfg = self.ctx.config
        return cfg.server_name if self.role == ACTIVE else cfg.peer.name

    def parameters(self) -> dict[str, str]:
        """The parameters held in the tree, by stored name."""
        if self.store is None:
            return {}
        return {e.path.rsplit("/", 1)[1]: e.value(VALUE, "") or ""
                for e in self.store.children(container_path(self.server_name()))}

    def _publish_params(self) -> None:
        stored = self.parameters()
        if not stored:
            return
        base = self.ctx.config.parameters
        usable: dict[str, str] = {}
        for name, value in stored.items():
            try:
                validate_parameter(name, value)
                usable[name] = value
            except ParamError as exc:  # e.g. written by another release: keep the rest
                log.warning("DS: parameter %r ignored: %s", name, exc)
        try:
            params = base.with_values(usable)
        except ParamError as exc:
            log.error("DS: parameters in the tree refused, keeping those in force: %s", exc)
            return
        self.ctx.set_params(params)
        self._refilter()

    def _seed(self) -> None:
        """First start of the active: the tree's name and the configured parameters."""
        store = self.store
        if store is None or store.count() != 0:
            return
        name = self.ctx.config.server_name
        cfg = self.ctx.config.parameters
        ops = [Put(Entry.make(SERVERS, CONTAINER, {NAME_ATTRIBUTE: name}))]
        ops += [Put(parameter_entry(name, param, cfg.raw(param) or ""))
                for param in cfg.as_dict()]
        try:
            cs = store.write(ops)
            log.info("DS: seeded %s with %d server parameter(s) (change %d)",
                     container_path(name), len(ops) - 1, cs.seq)
        except (DSError, ParamError) as exc:
            log.error("DS: seeding the server parameters failed: %s", exc)

    def _follow(self) -> None:
        """Follow the active under the filter of this backup's state. A filter the
        parameters make malformed stops the stream, with the parser's message in status:
        replicating unfiltered would bring handlers and phones to another release."""
        self.filter_error = ""
        self._filter_source = self._filter_values()
        state = UPGRADE_STATES.get(self.upgrade or "")
        if state is None:
            self._tell(Follow(None))
            return
        raw = {n: v for n, v in zip(FILTER_PARAMETERS, self._filter_source) if v is not None}
        try:
            flt = filter_for_state(state, raw, self.server_name())
        except (SpecError, DSError) as exc:
            self.filter_error = str(exc)
            log.error("DS: %s filter refused, replication stopped: %s", state, exc)
            self._tell(Unfollow())
            return
        self._tell(Follow(flt))

    def _filter_values(self) -> tuple[str | None, ...]:
        params = self.ctx.params()
        return tuple(params.raw(n) for n in FILTER_PARAMETERS)

    def _refilter(self) -> None:
        """The parameters in force changed: in an upgrade state, a changed filter applies
        at once (a new resync under it), not at the next role change."""
        if (self.role == BACKUP and UPGRADE_STATES.get(self.upgrade or "")
                and self._filter_values() != self._filter_source):
            log.info("DS: the upgrade filter's parameters changed: comparing again under "
                     "the new filter")
            self._follow()

    # -- replicator plumbing ------------------------------------------------------------

    def _tell(self, message: Any) -> None:
        ref = self._replicator
        if ref is not None:
            try:
                ref.tell(message)
            except pykka.ActorDeadError:
                log.error("DSReplicator is not running")

    def _synced(self) -> None:
        if self.drift:
            log.info("DS: local changes on this server were overwritten by the resync: %s",
                     ", ".join(self.drift))
        self.drift = []
        self._name = None
        self._publish_params()

    # -- status -------------------------------------------------------------------------

    def health(self) -> Mapping[str, Any]:
        store = self.store
        if store is None:
            return {"state": "not running"}
        seq = store.seq
        out: dict[str, Any] = {"role": self.role, "seq": seq, "entries": store.count(),
                               "server": self.server_name()}
        if self.role == ACTIVE:
            acks = self.acks.snapshot()
            if not acks["session"]:
                out["state"] = "not running: no backup has acknowledged changes yet"
            elif acks["seq"] >= seq:
                out["state"] = "in sync"
            else:
                out["state"] = f"lagging by {seq - acks['seq']} changes"
            out["backup_seq"] = acks["seq"]
            out["synchronous"] = self._synchronous()
            return out
        s = self.status.snapshot()
        if self.role != BACKUP:
            out["state"] = "not running"
        elif self.filter_error:
            out["state"] = f"not running: {self.filter_error}"
        elif s["syncing"]:
            out["state"] = "syncing"
            out["progress"] = {"compared": s.get("compared", 0), "fetched": s.get("fetched", 0)}
        elif s["error"]:
            out["state"] = f"syncing (retrying: {s['error']})"
        elif s["active_seq"] > s["applied"]:
            out["state"] = f"lagging by {s['active_seq'] - s['applied']} changes"
        else:
            out["state"] = "in sync"
        out.update(active_seq=s["active_seq"], resyncs=s["resyncs"],
                   bytes=s.get("bytes", s["bytes_total"]), last_sync=s["last_sync"])
        if s["copy_phases"]:  # the last copy of the active's store, ms per phase
            out["last_copy_ms"] = dict(s["copy_phases"])
        if self.upgrade:
            out["upgrade"] = self.upgrade
        return out

    def warnings(self) -> list[str]:
        out: list[str] = []
        if self.drift:
            out.append(f"DS: local changes on the backup will be overwritten at the next "
                       f"resync ({', '.join(self.drift[:5])}"
                       f"{', ...' if len(self.drift) > 5 else ''})")
        if self.filter_error:
            out.append(f"DS: not replicating in the upgrade state: {self.filter_error}")
        health = self.health()
        state = str(health.get("state", ""))
        if state.startswith("lagging") and self.role == BACKUP:
            out.append(f"DS: this backup is {state} behind the active")
        if self.role == ACTIVE:
            lagging = self.acks.snapshot()["lagging_since"]
            if lagging is not None:
                out.append(f"DS: synchronous replication timed out: the backup "
                           f"{self.ctx.config.peer.name} has not applied change {lagging} "
                           f"(the backup lags; a switchover now would lose it)")
        if self.status.error and self.role == BACKUP:
            out.append(f"DS: {self.status.error}")
        return out

    def _synchronous(self) -> bool:
        return bool(self.ctx.params()["Switchover Synchronous DS Replication"])

    def commands(self) -> Mapping[str, AdminCommand]:
        from .admin import commands

        return commands(self)
