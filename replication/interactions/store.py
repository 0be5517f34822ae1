"""The interaction store: shadows (on the backup) or originals (on the active), in SQLite.

Both hosts keep one, fed by the same numbered operations, so both hold the same
interactions and the same per-queue statistics ("Recovery of statistical data"). The
active numbers each operation (`originate`) and sends it; the backup `apply`s it, drops
what it has already seen by sequence number (an update stream overlapping a snapshot) and
by id (a duplicate Create, a chat line resent with the same message id). When the backup
becomes active, `promote` turns every shadow into a live interaction in one transaction.

A store belongs to one thread at a time: the InteractionRecovery actor's (open it in
`on_start`), or its snapshot load job's while the actor leaves the store alone.
"""
from __future__ import annotations

import hashlib
from dataclasses import replace
from pathlib import Path
from typing import Any, Iterable, Mapping

import orjson

from . import checkpoint, rows
from .model import (
    TRANSCRIPT_TYPES,
    AppendMessage,
    Assign,
    Close,
    Create,
    Interaction,
    InteractionType,
    InvalidOperation,
    Op,
    Requeue,
    SaveDraft,
    State,
    UpdateState,
    apply as apply_op,
)
from .fullsync import FullSync
from .promotion import promote_rows
from .recovery import PromotionAction, PromotionResult
from .rows import StatKey
from .transactions import Transactions

Blobs = Mapping[str, bytes]


class _Discard(Exception):
    """Rolls back a transaction whose operation turned out to change nothing."""


class InteractionStore(Transactions, FullSync):
    """SQLite (WAL) store of interactions, transcripts, files, streams and statistics."""

    def __init__(self, path: str | Path, checkpoint_thread: bool = False) -> None:
        """`checkpoint_thread`: the WAL is checkpointed by a thread of its own (see
        checkpoint.py) rather than by whichever commit fills it; for the actor's store."""
        self.path = str(path)
        self._db = rows.connect(self.path)
        self._db.executescript(rows.SCHEMA)
        self._checkpointer: checkpoint.Checkpointer | None = None
        if checkpoint_thread:
            checkpoint.configure(self._db)
            self._checkpointer = checkpoint.Checkpointer(self.path)
            self._checkpointer.start()
        # Types of interactions created or asked about here. A key never changes type
        # while it exists, so only deletions (`_delete_keys`) remove entries. An entry
        # left by a rolled-back Create names a key that is not here: every operation
        # looks its interaction up anyway and refuses it, and a later Create overwrites it.
        self._types: dict[str, InteractionType] = {}
        # What a transaction writes per operation but only needs once per commit: the
        # streams' numbers, the statistics' increments and the applied request ids. They
        # are staged in memory and written just before the COMMIT (`_write_staged`).
        self._seqs: dict[InteractionType, int] = {}
        self._bumps: list[tuple[str, str, str, str, int]] = []
        self._rids: dict[str, float] = {}

    def close(self) -> None:
        if self._checkpointer is not None:
            self._checkpointer.stop()
        self._db.close()

    def apply(self, op: Op, blobs: Blobs | None = None, rid: str | None = None) -> bool:
        """Applies one operation from the active's stream; False if it changed nothing.

        Nothing changes for an op already seen (its `seq` is not beyond the stream's),
        a Create of an interaction already here, a line whose message id is already in the
        transcript, or a change to an interaction this store does not hold (closed, or
        never shadowed). `blobs` are the bytes of files the op refers to, by SHA-256.
        An invalid op raises InvalidOperation and leaves the store as it was. `rid` is the
        application's request id the op carried, remembered for `seen_request`.
        """
        with self._tx():
            return self._apply_numbered(op, blobs, rid)

    def apply_many(self, ops: Iterable[Op], blobs: Blobs | None = None,
                   rids: Iterable[str | None] | None = None) -> int:
        """Applies a burst of the stream in one transaction; how many changed something.

        All or nothing: one invalid op rolls the whole burst back, as for `apply`.
        `rids`, when given, runs beside `ops` (None for an op without a request id).
        """
        ops = list(ops)
        ids = list(rids) if rids is not None else [None] * len(ops)
        with self._tx():
            return sum(self._apply_numbered(op, blobs, rid) for op, rid in zip(ops, ids))

    def _apply_numbered(self, op: Op, blobs: Blobs | None, rid: str | None = None) -> bool:
        if op.seq < 1:
            raise InvalidOperation(f"{op.key}: a replicated operation needs a sequence number")
        if op.seq <= self.seq(op.type):
            return False
        self._set_seq(op.type, op.seq)
        if rid is not None:
            self._rids.setdefault(rid, op.at)
        return self._apply(op, blobs, strict=False)

    def originate(self, op: Op, blobs: Blobs | None = None,
                  rid: str | None = None) -> Op | None:
        """On the active: numbers `op` in its stream and applies it; the op to send.

        None for a duplicate (a chat line resent after a switchover with a message id the
        transcript already holds), which then takes no sequence number. An operation on an
        interaction the active does not hold is a caller's error and raises. A `rid`
        already seen (the application resent its request) is a duplicate too.
        """
        try:
            with self._tx():
                return self._originate(op, blobs, rid)
        except _Discard:
            return None

    def originate_many(
        self, items: Iterable[tuple[Op, Blobs | None, str | None]], checked: bool = False
    ) -> list[Op | None | InvalidOperation]:
        """`originate` for a burst, in one transaction (one commit for the burst).

        Each item is all or nothing on its own (a savepoint): an invalid one comes back as
        its InvalidOperation and leaves the others applied. Nothing is durable before the
        method returns, so acknowledge the burst only then. `checked`: the caller has just
        asked `seen_request` for every request id (the burst itself is still checked).
        """
        out: list[Op | None | InvalidOperation] = []
        db = self._db
        with self._tx():
            for op, blobs, rid in items:
                # An UpdateState (the commonest op) refuses before it writes anything.
                savepoint = type(op) is not UpdateState
                if savepoint:
                    db.execute("SAVEPOINT one")
                mark = self._mark()
                try:
                    out.append(self._originate(op, blobs, rid, checked))
                except (_Discard, InvalidOperation) as exc:
                    if savepoint:
                        db.execute("ROLLBACK TO one")
                    self._undo(mark)
                    out.append(exc if isinstance(exc, InvalidOperation) else None)
                if savepoint:
                    db.execute("RELEASE one")
        return out

    def _originate(self, op: Op, blobs: Blobs | None, rid: str | None,
                   checked: bool = False) -> Op:
        if rid is not None and (rid in self._rids if checked else self.seen_request(rid)):
            raise _Discard
        stamped = replace(op, seq=self.seq(op.type) + 1)
        self._set_seq(op.type, stamped.seq)
        if not self._apply(stamped, blobs, strict=True):
            raise _Discard
        if rid is not None:
            self._rids[rid] = op.at
        return stamped

    def _apply(self, op: Op, blobs: Blobs | None, strict: bool) -> bool:
        db = self._db
        if isinstance(op, Create):
            if self._head(op.key) is not None:
                return False
            self._insert(op.interaction, blobs)
            self._bump(op.interaction, op.interaction.state.value, 1)
            self._bump(op.interaction, rows.ENTERED, 1)
            return True
        if type(op) is UpdateState:
            return self._update_state(op, strict)
        head = self._head(op.key)
        if head is None:
            if strict:
                raise InvalidOperation(f"{op.key}: no such interaction")
            return False
        if isinstance(op, AppendMessage):
            if head.type is not op.type:
                raise InvalidOperation(f"{op.key}: operation names a different interaction")
            if head.type not in TRANSCRIPT_TYPES:
                raise InvalidOperation(f"{op.key}: a {head.type} has no transcript")
            cur = db.execute(rows.INSERT_LINE, (op.key, op.message_id, orjson.dumps(op.line)))
            if cur.rowcount == 0:
                return False
            if op.line.file is not None:
                self._put_refs(op.key, (op.line.file.sha256,), blobs)
            return True
        after = apply_op(head, op)
        self._bump(head, head.state.value, -1)
        if isinstance(op, Close):
            self._bump(head, rows.CLOSED, 1)
            self._delete_keys("SELECT ?", (op.key,))
            return True
        if isinstance(op, SaveDraft):
            db.execute("UPDATE interactions SET content=? WHERE key=?",
                       (rows.content_of(after), op.key))
        db.execute(
            "UPDATE interactions SET state=?, queue_kind=?, queue=?, agent=?, workgroup=?, "
            "queued_at=?, assigned_once=? WHERE key=?",
            (after.state.value, after.queue_kind.value, after.queue, after.agent,
             after.workgroup, after.queued_at, int(after.assigned_once), op.key),
        )
        self._bump(after, after.state.value, 1)
        if isinstance(op, (Assign, Requeue)):
            self._bump(after, rows.ENTERED, 1)
        if isinstance(op, SaveDraft):
            db.execute("DELETE FROM blob_refs WHERE key = ?", (op.key,))
            self._put_refs(op.key, [a.sha256 for a in after.attachments()], blobs)
            db.execute(rows.COLLECT_BLOBS)
        return True

    def _update_state(self, op: UpdateState, strict: bool) -> bool:
        """`apply` of an UpdateState on the columns it touches (the commonest change)."""
        found = self._db.execute(
            "SELECT type, state, queue_kind, queue FROM interactions WHERE key = ?", (op.key,)
        ).fetchone()
        if found is None:
            if strict:
                raise InvalidOperation(f"{op.key}: no such interaction")
            return False
        type_, state, kind, queue = found
        if type_ != op.type.value:
            raise InvalidOperation(f"{op.key}: operation names a different interaction")
        if state == State.CLOSED.value:
            raise InvalidOperation(f"{op.key}: closed")
        if op.state is State.CLOSED:
            raise InvalidOperation(f"{op.key}: use Close to close an interaction")
        self._db.execute("UPDATE interactions SET state = ? WHERE key = ?",
                         (op.state.value, op.key))
        self._bumps.append((kind, queue, type_, state, -1))
        self._bumps.append((kind, queue, type_, op.state.value, 1))
        return True

    def type_of(self, key: str) -> InteractionType | None:
        """The type of an interaction held here (cheaper than `head`)."""
        known = self._types.get(key)
        if known is not None:
            return known
        found = self._db.execute("SELECT type FROM interactions WHERE key = ?",
                                 (key,)).fetchone()
        if found is None:
            return None
        known = self._types[key] = InteractionType(found[0])
        return known

    # --- rows -------------------------------------------------------------------------

    def _head(self, key: str) -> Interaction | None:
        """The interaction without its transcript: all an operation other than a line needs."""
        found = self._db.execute(
            f"SELECT {rows.COLUMNS} FROM interactions WHERE key = ?", (key,)
        ).fetchone()
        return rows.from_row(found) if found else None

    def _insert(self, i: Interaction, blobs: Blobs | None) -> None:
        self._db.execute(rows.INSERT_INTERACTION, rows.row_of(i))
        self._types[i.key] = i.type
        if i.transcript:
            self._db.executemany(
                rows.INSERT_LINE, [(i.key, ln.line_id, orjson.dumps(ln)) for ln in i.transcript]
            )
        self._put_refs(i.key, [a.sha256 for a in i.attachments()], blobs)

    def _insert_rows(self, batch: list[tuple[Any, ...]]) -> None:
        """Inserts (and clears) a batch of `rows.row_of` tuples."""
        if batch:
            self._db.executemany(rows.INSERT_INTERACTION, batch)
            batch.clear()

    def _put_refs(self, key: str, shas: Iterable[str], blobs: Blobs | None) -> None:
        for sha in shas:
            self._db.execute(rows.INSERT_REF, (key, sha))
            if blobs and sha in blobs:
                self._put_blob(sha, blobs[sha])

    def _put_blob(self, sha: str, data: bytes) -> None:
        if hashlib.sha256(data).hexdigest() != sha:
            raise InvalidOperation(f"file bytes do not match their SHA-256 {sha}")
        self._db.execute("INSERT OR IGNORE INTO blobs (sha256, data) VALUES (?, ?)", (sha, data))

    def _bump(self, i: Interaction, metric: str, n: int) -> None:
        """Inside a transaction: written with the COMMIT."""
        self._bumps.append((i.queue_kind.value, i.queue, i.type.value, metric, n))

    def _delete_keys(self, select_keys: str, params: tuple[Any, ...]) -> None:
        """Forgets the interactions `select_keys` names, with their lines and spare files."""
        if select_keys == "SELECT ?":
            self._types.pop(params[0], None)
        else:
            self._types.clear()
        for table in ("lines", "blob_refs", "interactions"):
            self._db.execute(f"DELETE FROM {table} WHERE key IN ({select_keys})", params)
        self._db.execute(rows.COLLECT_BLOBS)

    def blob(self, sha256: str) -> bytes | None:
        found = self._db.execute("SELECT data FROM blobs WHERE sha256 = ?", (sha256,)).fetchone()
        return found[0] if found else None

    def missing_blobs(self) -> list[str]:
        """Files referred to whose bytes have not arrived (to ask the active for)."""
        return [r[0] for r in self._db.execute(
            "SELECT DISTINCT sha256 FROM blob_refs r WHERE NOT EXISTS "
            "(SELECT 1 FROM blobs b WHERE b.sha256 = r.sha256) ORDER BY 1")]

    def put_blob(self, data: bytes) -> str:
        """Stores file bytes ahead of the operation that refers to them; their SHA-256."""
        sha = hashlib.sha256(data).hexdigest()
        with self._tx():
            self._put_blob(sha, data)
        return sha

    # --- reading ----------------------------------------------------------------------

    def head(self, key: str) -> Interaction | None:
        """The interaction without its transcript (cheaper than `get`)."""
        return self._head(key)

    def get(self, key: str) -> Interaction | None:
        head = self._head(key)
        if head is None:
            return None
        lines = self._db.execute("SELECT body FROM lines WHERE key = ? ORDER BY pos", (key,))
        return replace(head, transcript=tuple(rows.line_of(b) for (b,) in lines))

    def list(self, type: InteractionType | None = None) -> list[Interaction]:  # noqa: A002
        types = (type,) if type is not None else tuple(InteractionType)
        return list(rows.interactions(self._db, types))

    def count(self, type: InteractionType | None = None) -> int:
        if type is None:
            return self._db.execute("SELECT count(*) FROM interactions").fetchone()[0]
        return self._db.execute(
            "SELECT count(*) FROM interactions WHERE type = ?", (type.value,)).fetchone()[0]

    def stats(self) -> dict[StatKey, int]:
        """Per-queue counts by type and state, and the entered/closed totals (non-zero)."""
        return {
            StatKey(*r[:4]): r[4]
            for r in self._db.execute("SELECT * FROM stats WHERE n != 0 ORDER BY 1, 2, 3, 4")
        }

    def drop_type(self, type_: InteractionType) -> int:
        """Forgets every shadow of a type (recovery disabled, or before a resync)."""
        with self._tx():
            return self._drop(type_)

    def _drop(self, type_: InteractionType) -> int:
        n = self.count(type_)
        self._delete_keys("SELECT key FROM interactions WHERE type = ?", (type_.value,))
        self._db.execute("DELETE FROM stats WHERE type = ?", (type_.value,))
        self._db.execute("DELETE FROM streams WHERE type = ?", (type_.value,))
        return n

    # --- switchover -------------------------------------------------------------------

    def promote(self, now: float) -> list[PromotionResult]:
        """Makes every shadow live by PROMOTION_RULES, in one transaction; what was done.

        Every interaction keeps its key and counts this recovery in `seqno`; CLOSE-d ones
        are counted as closed and forgotten (see `promotion.promote_rows`).
        """
        with self._tx():
            results = promote_rows(self._db)
            self._delete_keys("SELECT key FROM temp.promoted WHERE action = ?",
                              (PromotionAction.CLOSE.value,))
            for statement in rows.REBUILD_GAUGES:
                self._db.execute(statement)
            self._db.execute("INSERT INTO meta VALUES ('promoted_at', ?) "
                             "ON CONFLICT DO UPDATE SET value = excluded.value", (now,))
            self._db.execute("DROP TABLE temp.promoted")
        return results

    def meta(self, name: str) -> Any:
        """A value the owner keeps beside the data (e.g. whether rows are shadows)."""
        found = self._db.execute("SELECT value FROM meta WHERE name = ?", (name,)).fetchone()
        return found[0] if found else None

    def set_meta(self, name: str, value: Any) -> None:
        with self._tx():
            self._db.execute("INSERT INTO meta VALUES (?, ?) ON CONFLICT DO UPDATE SET "
                             "value = excluded.value", (name, value))

    def promoted_at(self) -> float | None:
        """When this store last became the live one (None: never)."""
        found = self._db.execute("SELECT value FROM meta WHERE name = 'promoted_at'").fetchone()
        return found[0] if found else None
