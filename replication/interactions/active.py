"""The active's side of interaction recovery, run on the InteractionRecovery actor's thread.

Applications' requests are applied to the store (`originate`), then published to the
backup in numbered batches, then acknowledged. While the backup confirms what it has
applied ("Shadow Ack"), an application's acknowledgement waits for that confirmation:
a change the application saw acknowledged is then already a shadow, so a SIGKILL of the
active right after the acknowledgement loses nothing. A backup that does not confirm
within the wait is treated as absent (logged once) and acknowledgements go out at once
until it confirms again: an absent backup must not stall the applications.

What is published follows the backup's subscription (the types and mail filter it asked
for with its last "Snapshot Open"), so both hosts agree on what is shadowed even while a
parameter change is reaching them one after the other; without a subscription it
follows this host's own parameters.
"""
from __future__ import annotations

import collections
import logging
import os
import time
from dataclasses import dataclass, field
from typing import Any, Callable, Mapping, Sequence

import orjson

from .model import Close, Create, Interaction, InteractionType, InvalidOperation, Op
from .recovery import EnabledTypes, outbound, shadowable
from .store import InteractionStore
from .sync import SnapshotSessions
from .wire import CHANGES, READS, as_dict, blobs_of, change_item, chunked, op_of, summary

log = logging.getLogger("InteractionRecovery")

Reply = Callable[..., None]
#: Interactions per `list` answer (about 200 bytes each: well inside one bulk frame).
PAGE = 10_000
Publish = Callable[[Mapping[str, Any], Sequence[bytes]], None]


@dataclass(frozen=True)
class Request:
    """One application request as the Notifier handed it over."""

    eid: str
    body: Mapping[str, Any]
    bulk: tuple[bytes, ...]
    reply: Reply


@dataclass
class _Waiting:
    type: InteractionType
    seq: int
    reply: Reply
    body: dict[str, Any]
    deadline: float
    rid: str | None
    #: Replies to resends of the same request, answered with it (see `_duplicate`).
    resent: list[Reply] = field(default_factory=list)

    def answer(self, status: str, body: Mapping[str, Any] | None = None) -> None:
        """`body` replaces the original's own (a refusal); resends get it as duplicates."""
        self.reply(status, self.body if body is None else body)
        for reply in self.resent:
            reply(status, {**self.body, "duplicate": True} if body is None else body)


class ActiveSide:
    def __init__(self, store: InteractionStore, publish: Publish, sessions: SnapshotSessions,
                 ack_wait: float, now: Callable[[], float]) -> None:
        self.store = store
        self._publish = publish
        self.sessions = sessions
        self._ack_wait = ack_wait  # real seconds
        self._now = now  # the injected clock, in real seconds
        self.subscription: tuple[EnabledTypes, bool] | None = None
        self.backup_ok = False
        self._acked: dict[InteractionType, int] = {}
        # Per stream, in the order of their numbers: a confirmation releases a prefix.
        self._waiting: dict[InteractionType, collections.deque[_Waiting]] = {}
        # The same, by the request id they carry.
        self._unconfirmed: dict[str, _Waiting] = {}
        self._source = f"{os.getpid()}-{time.time_ns()}"
        self._batch = 0
        self.published = 0
        self.restart_streams()

    def restart_streams(self) -> None:
        """Number the published streams on from the store (this host became active): a
        backup that holds less than the first change's `prev` knows a change is lost."""
        self._sent = {t: self.store.seq(t) for t in InteractionType}

    # --- what is shadowed -------------------------------------------------------------

    def settings(self, own: tuple[EnabledTypes, bool]) -> tuple[EnabledTypes, bool]:
        return self.subscription if self.subscription is not None else own

    def _outbound(self, before: Interaction | None, op: Op, blobs: Mapping[str, bytes],
                  enabled: EnabledTypes, mail_filter: bool) -> tuple[Op, Mapping[str, bytes]] | None:
        if op.type not in enabled:
            return None
        if op.type.value != "email" or not mail_filter:
            return op, blobs
        if isinstance(op, Close):
            return (op, blobs) if before is not None and shadowable(before, enabled, True) else None
        after = self.store.get(op.key)
        if after is None:
            return None
        out = outbound(before, after, op, enabled, mail_filter)
        if out is None:
            return None
        if isinstance(out, Create) and not isinstance(op, Create):
            blobs = {a.sha256: data for a in after.attachments()
                     if (data := self.store.blob(a.sha256)) is not None}
        return out, blobs

    # --- application requests ---------------------------------------------------------

    def handle(self, requests: Sequence[Request], own: tuple[EnabledTypes, bool]) -> None:
        """Apply a burst of requests; publish their changes; then acknowledge them.

        Changes go to the store in one transaction per run of changes (one commit for the
        burst); a read in between sees every change before it. Emails under the mail
        filter go one by one, because what is sent depends on the state just before.
        """
        settings = self.settings(own)
        self._items: list[list[bytes]] = []
        self._replies: list[tuple[Any, ...]] = []  # (reply, status, body[, bulk])
        self._deadline = self._now() + self._ack_wait
        batch: list[tuple[Request, Op, dict[str, bytes], str | None]] = []
        created: dict[str, InteractionType] = {}
        # Ids applied before this burst, in one query; ids applied by this burst's own
        # commits join as they commit, and repeats inside one commit are the store's.
        self._seen = self.store.seen_requests(
            str(r.body["rid"]) for r in requests
            if r.eid in CHANGES and r.body.get("rid") is not None)
        for req in requests:
            try:
                if req.eid in READS:
                    self._flush(batch, settings)
                    # Reads can be large (a whole list, a long transcript): the JSON rides
                    # in a bulk frame, never inside the 64 KiB envelope.
                    data = orjson.dumps(self._read(req.eid, req.body))
                    self._replies.append((req.reply, "ok", {"payload": "bulk"}, [data]))
                    continue
                if req.eid not in CHANGES:
                    raise InvalidOperation(f"unknown request {req.eid!r}")
                rid = req.body.get("rid")
                rid = str(rid) if rid is not None else None
                if rid is not None and rid in self._seen:
                    self._duplicate(req.reply, rid)
                    continue
                op = op_of(req.eid, req.body, lambda k: created.get(k) or self._type_of(k))
                if isinstance(op, Create):
                    created[op.key] = op.type
                blobs = blobs_of(req.bulk)
                if op.type.value == "email" and settings[1]:
                    self._flush(batch, settings)
                    before = None if isinstance(op, Create) else self.store.get(op.key)
                    self._done(req, self.store.originate(op, blobs, rid), blobs, rid,
                               settings, before)
                    if rid is not None:
                        self._seen.add(rid)
                else:
                    batch.append((req, op, blobs, rid))
            except InvalidOperation as exc:
                self._replies.append((req.reply, "rejected", {"code": "invalid",
                                                              "reason": str(exc)}))
            except Exception as exc:  # noqa: BLE001 - one bad request never stops the rest
                log.exception("InteractionRecovery: %s failed", req.eid)
                self._replies.append((req.reply, "error", {
                    "code": "error", "reason": f"{type(exc).__name__}: {exc}"}))
        self._flush(batch, settings)
        if self._items:
            self._send(self._items)
        for reply, status, body, *bulk in self._replies:
            reply(status, body, *bulk)

    def _flush(self, batch: list[tuple[Request, Op, dict[str, bytes], str | None]],
               settings: tuple[EnabledTypes, bool]) -> None:
        if not batch:
            return
        # every request id was just looked up in `handle`
        results = self.store.originate_many([(op, blobs, rid) for _, op, blobs, rid in batch],
                                            checked=True)
        for (req, _, blobs, rid), result in zip(batch, results):
            if isinstance(result, InvalidOperation):
                self._replies.append((req.reply, "rejected", {"code": "invalid",
                                                              "reason": str(result)}))
            else:
                self._done(req, result, blobs, rid, settings, None)
                if rid is not None:
                    self._seen.add(rid)
        batch.clear()

    def _done(self, req: Request, stamped: Op | None, blobs: dict[str, bytes],
              rid: str | None, settings: tuple[EnabledTypes, bool],
              before: Interaction | None) -> None:
        """A change is committed: queue it for the backup and its acknowledgement."""
        if stamped is None:
            self._duplicate(req.reply, rid)
            return
        body = {"duplicate": False, "key": stamped.key, "seq": stamped.seq,
                "type": stamped.type.value}
        out = self._outbound(before, stamped, blobs, *settings)
        if out is None:
            self._replies.append((req.reply, "ok", body))
            return
        self._items.append(change_item(out[0], rid, dict(out[1]), self._sent[out[0].type]))
        self._sent[out[0].type] = out[0].seq
        if self.backup_ok and self.subscription is not None \
                and stamped.type in self.subscription[0]:
            waiting = self._waiting.get(stamped.type)
            if waiting is None:
                waiting = self._waiting[stamped.type] = collections.deque()
            w = _Waiting(stamped.type, stamped.seq, req.reply, body, self._deadline, rid)
            waiting.append(w)
            if rid is not None:
                self._unconfirmed[rid] = w
        else:
            self._replies.append((req.reply, "ok", body))

    def _duplicate(self, reply: Reply, rid: str | None) -> None:
        """A request applied before (its resend after a timeout or a failover) is answered
        when the first one is: if that still waits for the backup, so does this one, or
        a SIGKILL right after this answer could lose what the application saw acknowledged."""
        original = self._unconfirmed.get(rid) if rid is not None else None
        if original is not None:
            original.resent.append(reply)
        else:
            self._replies.append((reply, "ok", {"duplicate": True}))

    def _release(self, w: _Waiting, status: str = "ok",
                 body: Mapping[str, Any] | None = None) -> None:
        if w.rid is not None:
            self._unconfirmed.pop(w.rid, None)
        w.answer(status, body)

    def _type_of(self, key: str) -> InteractionType | None:
        return self.store.type_of(key)

    def _read(self, eid: str, body: Mapping[str, Any]) -> dict[str, Any]:
        if eid == "get":
            found = self.store.get(str(body.get("key")))
            return {"interaction": as_dict(found) if found is not None else None}
        if eid == "list":  # in pages of `limit`, by key, after the key `after`
            t = body.get("type")
            after, limit = str(body.get("after") or ""), int(body.get("limit") or PAGE)
            found = [i for i in self.store.list(InteractionType(t) if t else None)
                     if i.key > after]
            found.sort(key=lambda i: i.key)
            page = found[:limit]
            return {"interactions": [summary(i) for i in page],
                    "more": len(found) > limit}
        return {"stats": [[*k, n] for k, n in self.store.stats().items()]}

    def _send(self, items: list[list[bytes]]) -> None:
        for chunk in chunked(items):
            self._batch += 1
            self._publish({"src": self._source, "batch": self._batch}, [chunk])
        self.published += len(items)

    # --- the backup's confirmations ---------------------------------------------------

    def acked(self, seqs: Mapping[str, int]) -> None:
        """The backup has applied every stream up to `seqs`: release what waited for it.

        Confirmations may overtake each other (several are in flight), so only the highest
        number counts.
        """
        for name, seq in seqs.items():
            t = InteractionType(name)
            self._acked[t] = max(self._acked.get(t, 0), int(seq))
        if not self.backup_ok:
            log.info("InteractionRecovery: the backup confirms its shadows again")
        self.backup_ok = True
        for t, waiting in self._waiting.items():
            upto = self._acked.get(t, 0)
            while waiting and waiting[0].seq <= upto:
                self._release(waiting.popleft())

    def expire(self) -> None:
        """Acknowledge what waited too long; the backup counts as absent until it confirms."""
        now = self._now()
        if any(w and w[0].deadline <= now for w in self._waiting.values()):
            if self.backup_ok:
                log.warning("InteractionRecovery: the backup has not confirmed changes for "
                            "%.2f s: acknowledging without waiting for it", self._ack_wait)
            self.backup_ok = False
            for waiting in self._waiting.values():
                while waiting:
                    self._release(waiting.popleft())

    def fail_waiting(self, reason: str) -> None:
        """This host stops being active: nothing waits any more (the client resends)."""
        for waiting in self._waiting.values():
            while waiting:
                self._release(waiting.popleft(), "rejected",
                              {"code": "not-active", "reason": reason})

    # --- full synchronisation of the backup -------------------------------------------

    def snapshot_open(self, body: Mapping[str, Any], reply: Reply) -> None:
        try:
            types = [InteractionType(t) for t in body.get("types", ())]
            subscribe = EnabledTypes(frozenset(InteractionType(t)
                                               for t in body.get("subscribe", ())))
            mail_filter = bool(body.get("mail_filter"))
        except (TypeError, ValueError) as exc:
            reply("rejected", {"code": "invalid", "reason": f"Snapshot Open: {exc}"})
            return
        self.subscription = (subscribe, mail_filter)
        self.backup_ok = False
        keep = (lambda i: shadowable(i, subscribe, mail_filter)) if mail_filter else None
        total = sum(self.store.count(t) for t in types)
        sid = self.sessions.open(self.store.snapshot(types, keep))
        log.info("InteractionRecovery: full synchronisation of %s for the backup (%d "
                 "interactions, mail filter %s)", ", ".join(t.value for t in types) or "nothing",
                 total, "on" if mail_filter else "off")
        reply("ok", {"sid": sid, "total": total})
