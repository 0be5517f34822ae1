"""The SQL under `DSStore`: schema, one transaction per commit, the change log.

Not thread-safe by itself; `DSStore` holds the lock. Every method that changes data runs
inside ``BEGIN IMMEDIATE ... COMMIT`` and rolls back on any error, so a refused or failed
write leaves nothing behind.
"""
from __future__ import annotations

import os
import sqlite3
from pathlib import Path
from types import MappingProxyType
from typing import Iterable, Sequence

import orjson

from switchover.private import private_file

from .batch import needed_paths, plan
from .bulkload import BulkLoad
from .changes import GENESIS, ChangeSet, Op, effect_of, encode_ops, next_chain, ops_from_json
from .filtering import filter_ops
from .hashtree import ROOT_OWN, kids_bytes, kids_int, tree_hash
from .tree import ROOT, DSError, DSFilter, Entry, build_entry

SCHEMA_VERSION = 1
_CHUNK = 500  # bound parameters per IN (...) query

_SCHEMA = """
CREATE TABLE IF NOT EXISTS entries (
    path   TEXT PRIMARY KEY,
    parent TEXT NOT NULL,
    name   TEXT NOT NULL,
    class  TEXT NOT NULL,
    attrs  BLOB NOT NULL,   -- orjson, sorted keys: {name: [values...]}
    flags  TEXT NOT NULL,   -- sorted, comma-separated
    hash   BLOB NOT NULL,   -- own hash
    kids   BLOB NOT NULL,   -- sum of children's terms
    tree   BLOB NOT NULL    -- subtree hash
) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS entries_by_parent ON entries(parent, name);
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS changelog (
    seq   INTEGER PRIMARY KEY,
    chain BLOB NOT NULL,
    nops  INTEGER NOT NULL,
    ops   BLOB NOT NULL
);
"""
_COLS = "path, class, attrs, flags"


class GapError(DSError):
    """The follower cannot continue from its position: run compare-and-update."""


class DivergedError(GapError):
    """The follower's history is not the active's (same seq, another chain, or a seq
    the active never reached): nothing of its own store can be trusted, so it takes a
    copy of the active's store where it may (`resync.py`)."""


def _entry(row: tuple) -> Entry:
    path, ds_class, attrs, flags = row
    return build_entry(path, ds_class,
                       MappingProxyType({k: tuple(v) for k, v in orjson.loads(attrs).items()}),
                       frozenset(flags.split(",")) if flags else frozenset())


def chunks(items: Sequence[str]) -> Iterable[Sequence[str]]:
    for i in range(0, len(items), _CHUNK):
        yield items[i:i + _CHUNK]


class Storage:
    def __init__(self, path: Path, durability: str, log_limit: int,
                 log_ops_limit: int) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        private_file(path)  # the pair's configuration: 0600 (switchover/private.py)
        self.log_limit, self.log_ops_limit = log_limit, log_ops_limit
        self.bulk: BulkLoad | None = None
        self._synchronous: str | None = None  # asked for during a bulk load
        self.db = sqlite3.connect(str(path), isolation_level=None, check_same_thread=False)
        mode = self.db.execute("PRAGMA journal_mode=WAL").fetchone()[0]
        if mode.lower() != "wal":
            raise DSError(f"DS store {path}: cannot switch to WAL mode (got {mode!r})")
        self.db.execute(f"PRAGMA synchronous={durability.upper()}")
        self.db.execute("PRAGMA busy_timeout=5000")
        # Deleted content is zeroed only where that costs no extra page writes: with the
        # default of this build (ON) trimming the change log, or dropping it at the end of
        # a resync, rewrites every freed page.
        self.db.execute("PRAGMA secure_delete=FAST")
        self.db.executescript(_SCHEMA)
        # The file as a copy of the store reads it (`snapshot.py`). Open for as long as
        # the connection: closing any descriptor of the file drops every POSIX lock this
        # process holds on it, SQLite's included, so it is closed only after the
        # connection (`close`).
        self.fd = os.open(path, os.O_RDONLY)
        version = self.meta_int("schema", 0)
        if version == 0:
            with self.tx():
                self.set_meta(schema=SCHEMA_VERSION, seq=0, floor=0, chain=GENESIS,
                              floor_chain=GENESIS, synced=1, log_ops=0, count=0,
                              root_kids=kids_bytes(0), root_tree=tree_hash(ROOT_OWN, 0))
        elif version != SCHEMA_VERSION:
            raise DSError(f"DS store {path}: schema version {version}, "
                          f"this release reads {SCHEMA_VERSION}")

    def close(self) -> None:
        self.db.close()
        os.close(self.fd)

    def set_synchronous(self, level: str) -> None:
        """PRAGMA synchronous; SQLite refuses it inside a transaction, so during a bulk
        load it takes effect when the load ends (commit or rollback)."""
        if self.bulk is not None:
            self._synchronous = level
        else:
            self.db.execute(f"PRAGMA synchronous={level}")

    def _bulk_ended(self) -> None:
        self.bulk = None
        level, self._synchronous = self._synchronous, None
        if level is not None:
            self.db.execute(f"PRAGMA synchronous={level}")

    def tx(self) -> "_Tx":
        return _Tx(self.db, self.bulk is not None)

    # -- meta -------------------------------------------------------------------------

    def meta(self, key: str, default: object = None) -> object:
        row = self.db.execute("SELECT value FROM meta WHERE key=?", (key,)).fetchone()
        return default if row is None else row[0]

    def meta_int(self, key: str, default: int = 0) -> int:
        return int(self.meta(key, default))  # type: ignore[arg-type]

    def meta_bytes(self, key: str, default: bytes = b"") -> bytes:
        return bytes(self.meta(key, default))  # type: ignore[arg-type]

    def set_meta(self, **values: object) -> None:
        self.db.executemany("INSERT OR REPLACE INTO meta(key, value) VALUES (?, ?)",
                            list(values.items()))

    # -- reads ------------------------------------------------------------------------

    def get(self, path: str) -> Entry | None:
        row = self.db.execute(f"SELECT {_COLS} FROM entries WHERE path=?", (path,)).fetchone()
        return None if row is None else _entry(row)

    def get_many(self, paths: Sequence[str]) -> dict[str, Entry]:
        out: dict[str, Entry] = {}
        for part in chunks(list(paths)):
            q = f"SELECT {_COLS} FROM entries WHERE path IN ({','.join('?' * len(part))})"
            out.update((r[0], _entry(r)) for r in self.db.execute(q, part))
        return out

    def children(self, path: str) -> list[Entry]:
        q = f"SELECT {_COLS} FROM entries WHERE parent=? ORDER BY name"
        return [_entry(r) for r in self.db.execute(q, (path,))]

    def walk_chunk(self, prefix: str, after: str | None, limit: int) -> list[Entry]:
        return [_entry(r) for r in self.walk_rows(prefix, after, limit)]

    def walk_rows(self, prefix: str, after: str | None, limit: int) -> list[tuple]:
        """`walk_chunk` as stored rows: (path, class, attrs JSON, flags text)."""
        if prefix == ROOT:
            q, args = f"SELECT {_COLS} FROM entries WHERE path > ?", [after or ""]
        else:
            lo = prefix if after is None else after
            op = ">=" if after is None else ">"
            q = (f"SELECT {_COLS} FROM entries WHERE path {op} ? AND "
                 "(path = ? OR (path >= ? AND path < ?))")
            args = [lo, prefix, prefix + "/", prefix + "0"]
        return self.db.execute(q + " ORDER BY path LIMIT ?", (*args, limit)).fetchall()

    def count(self) -> int:
        """The number of entries, kept in meta by every write (a count(*) reads the
        whole table, and status asks often); a store without it counts once."""
        n = self.meta("count")
        if n is None:
            return self.db.execute("SELECT count(*) FROM entries").fetchone()[0]
        return int(n)  # type: ignore[call-overload]

    def _count_delta(self, delta: int) -> dict[str, int]:
        """meta values for a write that adds `delta` entries (inside its transaction)."""
        n = self.meta("count")
        if n is None:
            n = self.db.execute("SELECT count(*) FROM entries").fetchone()[0] - delta
        return {"count": int(n) + delta}  # type: ignore[call-overload]

    def tree_of(self, path: str) -> bytes | None:
        row = self.db.execute("SELECT tree FROM entries WHERE path=?", (path,)).fetchone()
        return None if row is None else row[0]

    # -- commits ----------------------------------------------------------------------

    def commit_logged(self, batches: Sequence[tuple[Op, ...]]) -> list[ChangeSet]:
        """Apply and log each batch as the next change set, all in one transaction."""
        out: list[ChangeSet] = []
        with self.tx():
            if self.meta_int("synced", 1) != 1:
                raise GapError("DS store is in the middle of a resync; local writes wait "
                               "until compare-and-update has finished")
            seq, chain = self.meta_int("seq"), self.meta_bytes("chain", GENESIS)
            for ops in batches:
                data = encode_ops(ops)
                seq, chain = seq + 1, next_chain(chain, data)
                self._apply_effect(ops)
                self._log(seq, chain, data, len(ops))
                out.append(ChangeSet(seq, ops, chain))
            self.set_meta(seq=seq, chain=chain)
            self._trim(seq)
        return out

    def apply(self, cs: ChangeSet, flt: DSFilter | None) -> ChangeSet | None:
        with self.tx():
            return self.apply_in_tx(cs, flt)

    def apply_in_tx(self, cs: ChangeSet, flt: DSFilter | None) -> ChangeSet | None:
        """`apply` inside a transaction the caller holds (several change sets in one)."""
        if self.meta_int("synced", 1) != 1:
            raise GapError("DS store is in the middle of a resync; finish "
                           "compare-and-update before applying the stream")
        seq, chain = self.meta_int("seq"), self.meta_bytes("chain", GENESIS)
        if cs.seq <= seq:
            row = self.db.execute("SELECT chain FROM changelog WHERE seq=?",
                                  (cs.seq,)).fetchone()
            differs = row is not None and row[0] != cs.chain
            if differs or (cs.seq == seq and chain != cs.chain):
                raise DivergedError(f"change {cs.seq} differs from the one applied here: "
                                    "the histories diverged")
            return None
        if cs.seq != seq + 1:
            raise GapError(f"expected change {seq + 1}, received {cs.seq}: "
                           f"{cs.seq - seq - 1} change(s) missing")
        data = encode_ops(cs.ops)
        if next_chain(chain, data) != cs.chain:
            raise DivergedError(f"change {cs.seq} does not follow this store's history "
                                "(the servers' histories diverged)")
        ops = cs.ops if flt is None else self._filter(cs.ops, flt)
        self._apply_effect(ops)
        self._log(cs.seq, cs.chain, data if flt is None else encode_ops(ops), len(ops))
        self.set_meta(seq=cs.seq, chain=cs.chain)
        self._trim(cs.seq)
        return ChangeSet(cs.seq, ops, cs.chain)

    def local_write(self, ops: tuple[Op, ...]) -> None:
        with self.tx():
            if self.meta_int("synced", 1) != 1:
                raise GapError("DS store is in the middle of a resync; try again when it "
                               "has finished")
            self._apply_effect(ops)

    def sync_batch(self, ops: tuple[Op, ...], flt: DSFilter | None) -> None:
        with self.tx():
            self.set_meta(synced=0)
            self._apply_effect(ops if flt is None else self._filter(ops, flt))

    def bulk_load(self) -> "BulkLoad":
        """Start filling an empty store (see `BulkLoad`)."""
        if self.db.execute("SELECT 1 FROM entries LIMIT 1").fetchone() is not None:
            raise DSError("a bulk load needs an empty store")
        return BulkLoad(self)

    def mark_synced(self, seq: int, chain: bytes) -> None:
        with self.tx():
            self.db.execute("DELETE FROM changelog")
            self.set_meta(seq=seq, chain=chain, floor=seq, floor_chain=chain, synced=1,
                          log_ops=0)

    def changes_since(self, seq: int, chain: bytes | None, limit: int,
                      max_ops: int | None = None) -> list[ChangeSet]:
        head, floor = self.meta_int("seq"), self.meta_int("floor")
        if seq > head:
            raise DivergedError(f"asked for changes after {seq}, but this store is at "
                                f"{head}: the asker's history is not this store's")
        if seq < floor:
            raise GapError(f"changes after {seq} were trimmed from the log "
                           f"(it starts after {floor})")
        if chain is not None:
            if seq == floor:
                ours = self.meta_bytes("floor_chain", GENESIS)
            else:
                ours = self.db.execute("SELECT chain FROM changelog WHERE seq=?",
                                       (seq,)).fetchone()[0]
            if ours != chain:
                raise DivergedError(f"history at change {seq} differs from this store's: "
                                    "the servers' histories diverged")
        out: list[ChangeSet] = []
        total = 0
        for s, c, n, o in self.db.execute("SELECT seq, chain, nops, ops FROM changelog "
                                          "WHERE seq > ? ORDER BY seq LIMIT ?", (seq, limit)):
            if out and max_ops is not None and total + n > max_ops:
                break
            total += n
            out.append(ChangeSet(s, ops_from_json(orjson.loads(o), trusted=True), c))
        return out

    # -- internals --------------------------------------------------------------------

    def _apply_effect(self, ops: Sequence[Op]) -> None:
        effect = effect_of(ops)
        need = sorted(needed_paths(effect))
        existing: dict[str, tuple] = {}
        for part in chunks(need):
            q = ("SELECT path, hash, kids, tree FROM entries "
                 f"WHERE path IN ({','.join('?' * len(part))})")
            for path, own, kids, tree in self.db.execute(q, part):
                existing[path] = (own, kids_int(kids), tree)
        p = plan(effect, existing, kids_int(self.meta_bytes("root_kids", bytes(16))))
        removed = 0
        if p.deletes:
            removed = self.db.executemany(
                "DELETE FROM entries WHERE path = ? OR (path >= ? AND path < ?)",
                [(d, d + "/", d + "0") for d in p.deletes]).rowcount
        if p.upserts:
            self.db.executemany(
                "INSERT OR REPLACE INTO entries(path, parent, name, class, attrs, flags, "
                "hash, kids, tree) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
                [(*r[:7], kids_bytes(r[7]), r[8]) for r in p.upserts])
        if p.updates:
            self.db.executemany("UPDATE entries SET kids=?, tree=? WHERE path=?",
                                [(kids_bytes(k), t, path) for k, t, path in p.updates])
        self.set_meta(root_kids=kids_bytes(p.root_kids), root_tree=p.root_tree,
                      **self._count_delta(p.inserted - removed))

    def _log(self, seq: int, chain: bytes, data: bytes, nops: int) -> None:
        self.db.execute("INSERT INTO changelog(seq, chain, nops, ops) VALUES (?, ?, ?, ?)",
                        (seq, chain, nops, data))
        self.set_meta(log_ops=self.meta_int("log_ops") + nops)

    def _trim(self, seq: int) -> None:
        """Keep at most `log_limit` change sets and about `log_ops_limit` operations;
        trim to 90 % when over, so trimming is occasional rather than every commit."""
        floor, log_ops = self.meta_int("floor"), self.meta_int("log_ops")
        if seq - floor <= self.log_limit and log_ops <= self.log_ops_limit:
            return
        cut = max(floor, seq - int(self.log_limit * 0.9))
        budget = int(self.log_ops_limit * 0.9)
        kept = 0
        for s, n in self.db.execute("SELECT seq, nops FROM changelog WHERE seq > ? "
                                    "ORDER BY seq DESC", (cut,)).fetchall():
            kept += n
            if kept > budget:
                cut = s
                break
        cut = min(cut, seq)
        row = self.db.execute("SELECT chain FROM changelog WHERE seq=?", (cut,)).fetchone()
        removed = self.db.execute("SELECT coalesce(sum(nops), 0) FROM changelog "
                                  "WHERE seq <= ?", (cut,)).fetchone()[0]
        self.db.execute("DELETE FROM changelog WHERE seq <= ?", (cut,))
        self.set_meta(floor=cut, floor_chain=row[0] if row else GENESIS,
                      log_ops=log_ops - removed)

    def _filter(self, ops: Sequence[Op], flt: DSFilter) -> tuple[Op, ...]:
        return filter_ops(ops, flt, lambda path: self.walk_chunk(path, None, 1 << 62))


class _Tx:
    """``BEGIN IMMEDIATE`` ... ``COMMIT``, or ``ROLLBACK`` on any exception."""

    def __init__(self, db: sqlite3.Connection, busy: bool = False) -> None:
        self.db = db
        self.busy = busy

    def __enter__(self) -> None:
        if self.busy:
            raise GapError("DS store is in the middle of a resync (loading the active's "
                           "tree); try again when it has finished")
        self.db.execute("BEGIN IMMEDIATE")

    def __exit__(self, exc_type: object, *_: object) -> None:
        self.db.execute("COMMIT" if exc_type is None else "ROLLBACK")
