"""InteractionService: interaction recovery as a replication service of the host.

It owns the InteractionRecovery actor and the edges to the network: the Notifier service
"InteractionRecovery" (applications' requests on the active; the backup's snapshot and
confirmation requests), the active's change events arriving on the backup's channels,
and the operators' `interactions` commands. Handlers on the Notifier and channel threads
never block: they hand work to the actor through inboxes and reply later.
"""
from __future__ import annotations

import concurrent.futures
import logging
from typing import Any, Callable, Mapping

import pykka

from switchover.replication.service import ACTIVE, AdminCommand, ServiceContext
from switchover.transport.channel import preferred
from switchover.transport.envelope import Envelope
from switchover.transport.outcome import CONNECTION_LOST, Outcome

from .active import Request
from .actor import InteractionRecovery
from .messages import (
    Acked,
    Deps,
    DrainChanges,
    DrainRequests,
    Inbox,
    Resync,
    Role,
    SnapshotOpen,
)
from .model import InteractionType
from .status import Status
from .store import InteractionStore
from .sync import SnapshotSessions
from .wire import (
    BATCH,
    CHANGE_EID,
    CHANGES,
    READS,
    SERVICE,
    SHADOW_ACK,
    SNAPSHOT_NEXT,
    SNAPSHOT_OPEN,
    Gather,
    as_dict,
    calls_of,
    summary,
    unpack,
)

log = logging.getLogger("InteractionRecovery")

#: Reference seconds one snapshot request may take (like "Switchover TS Timeout").
SYNC_TIMEOUT = 10.0
#: Reference seconds an application's acknowledgement waits for the backup's confirmation.
ACK_WAIT = 5.0
#: ... but never less than this in real seconds (a short time_scale must not make it 0).
ACK_WAIT_FLOOR = 0.2


class InteractionService:
    name = "interactions"

    def __init__(self, ctx: ServiceContext) -> None:
        self.ctx = ctx
        self.status = Status()
        self.requests = Inbox()
        self.changes = Inbox()
        self.sessions = SnapshotSessions(idle_seconds=max(5.0, ctx.clock.real_seconds(60)))
        self.path = ctx.data_dir / "interactions.sqlite"
        self.actor: pykka.ActorRef | None = None

    # --- ReplicationService -----------------------------------------------------------

    def start(self) -> None:
        deps = Deps(
            path=self.path, clock=self.ctx.clock, params=self.ctx.params,
            publish=self._publish, peer_request=self._peer_request, peer_send=self._peer_send,
            status=self.status, sessions=self.sessions, requests=self.requests,
            changes=self.changes, sync_timeout=SYNC_TIMEOUT,
            ack_wait=max(ACK_WAIT_FLOOR, self.ctx.clock.real_seconds(ACK_WAIT)),
            # every reference second, but at most four times a real second (small scales)
            tick=max(1.0, 0.25 / max(self.ctx.clock.real_seconds(1.0), 1e-6)),
        )
        self.actor = InteractionRecovery.start(deps)
        self.ctx.notifier.register_service(SERVICE, self._on_request)

    def on_role(self, role: str, upgrade: str | None) -> None:
        if role == ACTIVE:
            log.info("InteractionRecovery: this server is active: promoting shadows first")
        self._tell(Role(role))

    def resync(self) -> None:
        self._tell(Resync())

    def events(self) -> tuple[str, ...]:
        return (CHANGE_EID,)

    def on_peer_event(self, env: Envelope, bulk: tuple[bytes, ...]) -> None:
        """A batch of changes (once: PeerLinks drops the other channel's copy, the
        streams' followers any other repeat of an op)."""
        try:
            self.status.add_received(sum(1 for chunk in bulk for _ in unpack(chunk)))
        except ValueError:
            pass  # the actor logs the bad batch
        self.changes.put((env.body, bulk), DrainChanges())

    def health(self) -> Mapping[str, Any]:
        return self.status.health()

    def warnings(self) -> list[str]:
        return self.status.warnings()

    def commands(self) -> Mapping[str, AdminCommand]:
        return {
            "interactions.list": ("status", self._cmd_list),
            "interactions.get": ("status", self._cmd_get),
            "interactions.stats": ("status", self._cmd_stats),
        }

    def stop(self) -> None:
        if self.actor is not None:
            self.actor.stop(timeout=10)
        self.sessions.close_all()

    # --- edges ------------------------------------------------------------------------

    def _tell(self, message: Any) -> None:
        if self.actor is not None and self.actor.is_alive():
            self.actor.tell(message)

    def _on_request(self, env: Envelope, bulk: tuple[bytes, ...],
                    reply: Callable[..., None]) -> None:
        """On the Notifier thread: never blocks."""
        eid = env.eid
        if eid in CHANGES or eid in READS:
            self.requests.put(Request(eid, env.body, bulk, reply), DrainRequests())
        elif eid == BATCH:
            try:
                if bulk:
                    raise ValueError("batch: calls with files go alone, not in a batch")
                calls = calls_of(env.body)
            except ValueError as exc:
                reply("rejected", {"code": "invalid", "reason": str(exc)})
                return
            gather = Gather(len(calls), reply)
            self.requests.put_many([Request(e, b, (), gather.part(n))
                                    for n, (e, b) in enumerate(calls)], DrainRequests())
        elif eid == SNAPSHOT_NEXT:
            self.sessions.next(str(env.body.get("sid")), int(env.body.get("index", -1)), reply)
        elif eid == SNAPSHOT_OPEN:
            self._tell(SnapshotOpen(env.body, reply))
        elif eid == SHADOW_ACK:
            self._tell(Acked(dict(env.body.get("seqs") or {})))
            reply("ok", None)
        else:
            reply("rejected", {"code": "invalid", "reason": f"unknown request {eid!r}"})

    def _publish(self, body: Mapping[str, Any], bulk: Any) -> None:
        self.ctx.notifier.publish(Envelope(kind="event", sender=SERVICE, target=SERVICE,
                                           eid=CHANGE_EID, body=body), bulk)

    def _peer_request(self, eid: str, body: Mapping[str, Any], timeout: float) -> Outcome:
        """Blocking (snapshot thread only): main first, aux if main fails."""
        outcome = Outcome(CONNECTION_LOST, detail="no channel")
        for channel in preferred(self.ctx.links.connected):
            future = self.ctx.links.request(channel, SERVICE, eid, timeout=timeout, body=body)
            try:
                outcome = future.result(timeout=self.ctx.clock.real_seconds(timeout) + 5.0)
            except concurrent.futures.TimeoutError:
                outcome = Outcome("timeout", detail=f"{eid}: no outcome")
            if outcome.ok or outcome.status == "rejected":
                return outcome
        return outcome

    def _peer_send(self, eid: str, body: Mapping[str, Any], done: Callable[[], None]) -> None:
        """Asynchronous (the actor's confirmations): `done` runs whatever the outcome."""
        future = self.ctx.links.request(preferred(self.ctx.links.connected)[0], SERVICE, eid,
                                        timeout=SYNC_TIMEOUT, body=body)
        future.add_done_callback(lambda _: done())

    # --- operators' commands: read on a connection of their own -----------------------

    def _read(self, fn: Callable[[InteractionStore], Any]) -> Any:
        store = InteractionStore(self.path)
        try:
            return fn(store)
        finally:
            store.close()

    def _cmd_list(self, args: Mapping[str, Any]) -> dict[str, Any]:
        t = args.get("type")
        limit = int(args.get("limit") or 100)
        kind = InteractionType(t) if t else None

        def run(store: InteractionStore) -> dict[str, Any]:
            found = store.list(kind)
            return {"total": len(found), "interactions": [summary(i) for i in found[:limit]]}

        return self._read(run)

    def _cmd_get(self, args: Mapping[str, Any]) -> dict[str, Any]:
        key = str(args.get("key"))
        found = self._read(lambda store: store.get(key))
        return {"interaction": as_dict(found) if found is not None else None}

    def _cmd_stats(self, _: Mapping[str, Any]) -> dict[str, Any]:
        stats = self._read(lambda store: store.stats())
        return {"health": self.health(),
                "stats": [{"queue_kind": k.queue_kind, "queue": k.queue, "type": k.type,
                           "metric": k.metric, "n": n} for k, n in stats.items()]}
