"""`DSStore`: the DS tree in SQLite, one transaction per write, with a change log.

Durability. The database runs in WAL mode with ``synchronous=FULL`` by default:

- *Consistency* under ``kill -9`` needs only SQLite's atomic commit. A write is one
  transaction holding the entry rows, the ancestors' hashes, the new sequence number and
  its change-log row, so after a kill at any moment the store holds every batch whole or
  not at all, and seq, log and hashes agree (tests/unit/test_ds_store.py kills a writer to
  show it). WAL with ``synchronous=NORMAL`` would already give that, since a killed
  process loses nothing the OS has been handed.
- *Durability* across a power cut or kernel crash is what FULL adds: the WAL is fsynced at
  every commit, so a seq the active has streamed to the backup can never be rolled back
  on the active and then re-used for different changes (the chain hash would catch that,
  but the administrator's change would be lost). NORMAL may lose the last commits on
  power loss; pass ``durability="normal"`` where that is acceptable (e.g. a benchmark).

Sequence numbers and the change log follow the Clone pattern: `write` numbers each batch,
`changes_since(n)` serves a follower that is behind, `apply` lets the follower take a
change set only as exactly ``seq + 1`` (re-applying an old one is a no-op), and a log
trimmed past the follower's position raises `GapError` so it runs a full
compare-and-update (`sync_batch` + `mark_synced`).

One connection, guarded by a lock, so the owner may be an actor thread while others read.
"""
from __future__ import annotations

import logging
import os
import threading
from pathlib import Path
from typing import IO, Callable, Iterable, Iterator, Sequence

from . import jsonl, listings
from .changes import GENESIS, ChangeSet, Op, check_ops
from .hashtree import ROOT_OWN, Level, Summary, tree_hash
from .storage import GapError, Storage
from .tree import ROOT, DSFilter, Entry, normalize
from .verify import verify_storage

log = logging.getLogger("DSStore")

Guard = Callable[[Sequence[Op]], None]
Subscriber = Callable[[ChangeSet], None]


class DSStore:
    """The DS tree of one host. See the module docstring for the guarantees."""

    def __init__(self, path: Path, *, durability: str = "full", log_limit: int = 100_000,
                 log_ops_limit: int = 1_000_000, guards: Sequence[Guard] = ()) -> None:
        if durability not in ("full", "normal"):
            raise ValueError(f"durability must be 'full' or 'normal', not {durability!r}")
        self._lock = threading.RLock()
        self.path = Path(path)
        self._durability = durability
        self._limits = (log_limit, log_ops_limit)
        self._db = Storage(self.path, durability, *self._limits)
        self._guards: list[Guard] = list(guards)
        self._subscribers: list[Subscriber] = []

    def close(self) -> None:
        with self._lock:
            self._db.close()

    def set_durability(self, durability: str) -> None:
        """Switch between "full" (fsync every commit) and "normal" at run time: a follower
        that recompares with the active after every restart can run "normal"."""
        if durability not in ("full", "normal"):
            raise ValueError(f"durability must be 'full' or 'normal', not {durability!r}")
        with self._lock:
            self._db.set_synchronous(durability.upper())
            self._durability = durability

    def replace(self, source: Path, refuse: Callable[[], None] = lambda: None) -> None:
        """Take `source`, a checked copy of the active's store (`fullsync.fetch`), as this
        store: the file is renamed over this one's, so a crash leaves one or the other,
        whole. Refused (GapError) while a bulk load holds the store; `refuse()`, called
        under the lock just before, may refuse it by raising (a cancelled resync)."""
        with self._lock:
            if self._db.bulk is not None:
                raise GapError("a bulk load is under way")
            refuse()
            self._db.close()
            for suffix in ("-wal", "-shm"):
                Path(f"{self.path}{suffix}").unlink(missing_ok=True)
            os.replace(source, self.path)
            fd = os.open(self.path.parent, os.O_RDONLY)
            try:
                os.fsync(fd)
            finally:
                os.close(fd)
            self._db = Storage(self.path, self._durability, *self._limits)

    def read_file(self, offset: int, size: int, file_id: tuple[int, int]) -> bytes:
        """`size` bytes of the store file at `offset`, fewer at its end (a copy of the
        store reads it so, `snapshot.py`). `file_id` is (st_dev, st_ino) of the file the
        copy began on: once `replace` has put another file here, the copy cannot go on
        (GapError). Under the lock: `replace` never swaps the file under a read."""
        with self._lock:
            st = os.fstat(self._db.fd)
            if (st.st_dev, st.st_ino) != file_id:
                raise GapError("the store file was replaced while a copy of it was read")
            return os.pread(self._db.fd, size, offset)

    def __enter__(self) -> "DSStore":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- position ---------------------------------------------------------------------

    @property
    def seq(self) -> int:
        """The sequence number of the last committed change set (0 for a new store)."""
        with self._lock:
            return self._db.meta_int("seq")

    @property
    def chain(self) -> bytes:
        with self._lock:
            return self._db.meta_bytes("chain", GENESIS)

    @property
    def head(self) -> tuple[int, bytes]:
        """(seq, chain) read together: what a follower records after a resync."""
        with self._lock:
            return self._db.meta_int("seq"), self._db.meta_bytes("chain", GENESIS)

    @property
    def floor(self) -> int:
        """The oldest seq `changes_since` can still serve."""
        with self._lock:
            return self._db.meta_int("floor")

    @property
    def synced(self) -> bool:
        """False while a resync is half done: `apply` refuses until `mark_synced`."""
        with self._lock:
            return self._db.meta_int("synced", 1) == 1

    # -- reading ----------------------------------------------------------------------

    def get(self, path: str) -> Entry | None:
        with self._lock:
            return self._db.get(normalize(path))

    def get_many(self, paths: Sequence[str]) -> dict[str, Entry]:
        with self._lock:
            return self._db.get_many([normalize(p) for p in paths])

    def children(self, path: str) -> list[Entry]:
        """Direct children, sorted by name."""
        with self._lock:
            return self._db.children(normalize(path))

    def walk(self, prefix: str = ROOT, chunk: int = 2000) -> Iterator[Entry]:
        """`prefix` and everything below it in path order (parents before children).

        Read in chunks, each under the lock, so writes can interleave; for a consistent
        copy of a live tree use it as compare-and-update does (then replay the stream).
        """
        prefix = normalize(prefix)
        after: str | None = None
        while True:
            with self._lock:
                rows = self._db.walk_chunk(prefix, after, chunk)
            yield from rows
            if len(rows) < chunk:
                return
            after = rows[-1].path

    def walk_page(self, prefix: str, after: str | None, limit: int) -> list[Entry]:
        """One page of `walk`: entries at or below `prefix` after path `after`."""
        with self._lock:
            return self._db.walk_chunk(normalize(prefix), after, limit)

    def walk_rows(self, prefix: str, after: str | None, limit: int) -> list[tuple]:
        """`walk_page` as stored rows (path, class, attrs JSON, flags text), for a server
        that forwards them without building entries."""
        with self._lock:
            return self._db.walk_rows(normalize(prefix), after, limit)

    def snapshot_head(self) -> tuple[int, bytes, bytes, int]:
        """(seq, chain, root tree hash, entry count) of one moment, for a follower."""
        with self._lock:
            seq, chain = self.head
            return seq, chain, self.subtree_hash(ROOT) or b"", self.count()

    def count(self) -> int:
        with self._lock:
            return self._db.count()

    def subtree_hash(self, path: str) -> bytes | None:
        with self._lock:
            path = normalize(path)
            if path == ROOT:
                return self._db.meta_bytes("root_tree", tree_hash(ROOT_OWN, 0))
            return self._db.tree_of(path)

    def child_hashes(self, path: str) -> dict[str, bytes]:
        """Children's subtree hashes by name."""
        path = normalize(path)
        return {n: h.tree for n, h in self.child_nodes([path]).get(path, {}).items()}

    def child_nodes(self, parents: Sequence[str]) -> Level:
        """`TreeView`: for each parent, its children's (own, kids, tree) by name."""
        with self._lock:
            return listings.child_nodes(self._db.db, list(parents))

    def child_summaries(self, parents: Sequence[str]) -> Summary:
        """`BucketView`: children's hashes by name, or `Buckets` for a big container."""
        with self._lock:
            return listings.child_summaries(  # type: ignore[return-value]
                self._db.db, list(parents))

    def bucket_nodes(self, wanted: Sequence[tuple[str, int]]) -> Level:
        """`BucketView`: the children in the given (parent, bucket) pairs."""
        with self._lock:
            return listings.bucket_nodes(self._db.db, list(wanted))

    # -- writing ----------------------------------------------------------------------

    def add_guard(self, guard: Guard) -> None:
        """Run `guard(ops)` before every local write; raising refuses the whole write."""
        self._guards.append(guard)

    def subscribe(self, callback: Subscriber) -> Callable[[], None]:
        """Call `callback(changeset)` after each commit; returns an unsubscribe function.

        Called on the committing thread with the lock released; an exception is logged
        and does not undo the commit or stop other subscribers.
        """
        self._subscribers.append(callback)

        def unsubscribe() -> None:
            if callback in self._subscribers:
                self._subscribers.remove(callback)

        return unsubscribe

    def write(self, ops: Sequence[Op]) -> ChangeSet:
        """Commit a batch as one numbered change set (the active's path)."""
        ops = tuple(ops)
        check_ops(ops)
        for guard in self._guards:
            guard(ops)
        with self._lock:
            cs = self._db.commit_logged([ops])[0]
        self._notify([cs])
        return cs

    def write_many(self, batches: Sequence[Sequence[Op]]) -> list[ChangeSet]:
        """Commit several batches atomically, each its own change set (e.g. an import)."""
        batches = [tuple(b) for b in batches]
        for b in batches:
            check_ops(b)
            for guard in self._guards:
                guard(b)
        with self._lock:
            sets = self._db.commit_logged(batches)
        self._notify(sets)
        return sets

    def changes_since(self, seq: int, chain: bytes | None = None, limit: int = 1000,
                      max_ops: int | None = None) -> list[ChangeSet]:
        """Change sets after `seq`, oldest first, at most `limit` (ask again for more) and,
        beyond the first, at most `max_ops` operations in all.

        Raises `GapError` when the log no longer reaches back to `seq`, when `seq` is
        ahead of this store, or when `chain` shows the asker's history diverged from ours.
        """
        with self._lock:
            return self._db.changes_since(seq, chain, limit, max_ops)

    def apply(self, cs: ChangeSet, flt: DSFilter | None = None) -> bool:
        """Apply a change set received from the active; False if it was already applied.

        `flt` (an upgrade-state filter) drops what is not replicated; the seq and chain
        still advance, so the stream continues in order.
        """
        with self._lock:
            applied = self._db.apply(cs, flt)
        if applied is not None:
            self._notify([applied])
        return applied is not None

    def apply_many(self, sets: Sequence[ChangeSet], flt: DSFilter | None = None) -> int:
        """Apply consecutive change sets in one transaction (a follower under load);
        returns how many were new. Already applied ones are skipped as in `apply`; a gap
        or a diverged history raises `GapError` and applies none of them."""
        applied: list[ChangeSet] = []
        with self._lock:
            with self._db.tx():
                for cs in sets:
                    done = self._db.apply_in_tx(cs, flt)
                    if done is not None:
                        applied.append(done)
        self._notify(applied)
        return len(applied)

    def write_local(self, ops: Sequence[Op]) -> ChangeSet:
        """An operator's override on a follower: applied and guarded like `write`, but
        neither numbered nor logged, so the stream from the active continues; the next
        compare-and-update finds the difference by hash and overwrites it."""
        ops = tuple(ops)
        check_ops(ops)
        for guard in self._guards:
            guard(ops)
        with self._lock:
            self._db.local_write(ops)
            seq, chain = self.head
        cs = ChangeSet(seq, ops, chain)
        self._notify([cs])
        return cs

    def sync_batch(self, ops: Sequence[Op], flt: DSFilter | None = None) -> None:
        """Write repairs found by compare-and-update, unlogged; marks the store unsynced."""
        ops = tuple(ops)
        check_ops(ops)
        with self._lock:
            self._db.sync_batch(ops, flt)

    def load(self, pages: Iterable[Iterable[Sequence]]) -> int:
        """Fill an empty store with whole subtrees of the active's tree; returns the
        number of entries taken (containers created for missing ancestors aside).

        `pages` yields lists of (path, class, attributes, flags) in path order (a walk
        per subtree); each is validated and hashed here as it arrives, and the whole
        load is one transaction (`bulkload.BulkLoad`), committed at the end with the store
        marked unsynced: `mark_synced` follows. The lock is held per page only, so
        status reads go on while the next page is on its way.
        """
        with self._lock:
            bulk = self._db.bulk_load()
        n = 0
        try:
            for page in pages:
                with self._lock:
                    n += bulk.add(page)
            with self._lock:
                bulk.finish()
        except BaseException:
            with self._lock:
                bulk.abort()
            raise
        return n

    def mark_synced(self, seq: int, chain: bytes) -> None:
        """End a resync: adopt the active's (seq, chain) and restart the log there."""
        with self._lock:
            self._db.mark_synced(seq, chain)

    # -- maintenance ------------------------------------------------------------------

    def export(self, target: Path | IO[bytes]) -> int:
        """Write the tree as JSON lines (a header, then one entry per line); return count."""
        return jsonl.export(self, target)

    def import_(self, source: Path | IO[bytes]) -> list[ChangeSet]:
        """Replace the whole tree with an export, atomically, as logged change sets
        (so an import on the active replicates like any other write)."""
        return self.write_many(jsonl.import_batches(self, source))

    def verify(self) -> list[str]:
        """Recompute every hash from the entries; describe each disagreement (none: [])."""
        with self._lock:
            return verify_storage(self._db)

    def _notify(self, sets: Sequence[ChangeSet]) -> None:
        for cs in sets:
            for cb in list(self._subscribers):
                try:
                    cb(cs)
                except Exception:  # a subscriber's bug must not undo or block a commit
                    log.exception("DS subscriber %r failed on change %d", cb, cs.seq)


__all__ = ["DSStore", "GapError", "Guard", "Subscriber"]
