"""Full sync by copy, the active's side: a consistent copy of its store file, in chunks.

Rebuilding a backup entry by entry costs validating and hashing every entry in Python
(about 7 µs each), while the file itself crosses the loopback in tens of milliseconds.
So for an empty or diverged backup ("Synchronizing the registry on both servers": an
identical image) the active serves a copy of its store, made on a connection of its own
so that writers go on meanwhile:

1. a checkpoint moves every committed page from the WAL into the database file;
2. a read transaction starts, and the head it sees (seq, chain, root hash, count, from
   `meta`) is what the copy holds. If the WAL is still empty at that moment, the file
   itself is that commit, and stays so while the transaction lasts: SQLite writes WAL
   pages back into the file only under an exclusive lock on read slot 0, which a reader
   of an empty WAL holds shared. The copy then reads the file, `CHUNK` by `CHUNK`, and
   every chunk can be sent as soon as it is read. Otherwise (a writer committed in
   between) the copy is `sqlite3_serialize` of the transaction, whole before its first
   chunk;
3. the transaction ends when the copy is read (a few tens of milliseconds), not when the
   backup has fetched it.

Requests: "DS Snapshot Open" -> {sid, size, chunks, seq, chain, root, count,
checkpoint_ms}; "DS Snapshot Chunk" {sid, index} -> {index, crc} + one bulk frame, the
last one also {how, read_ms} (how the copy was read, and in how long). The backup's side is
`fullsync.py`.
"""
from __future__ import annotations

import os
import sqlite3
import threading
import time
import uuid
import zlib
from pathlib import Path
from typing import Any, Callable, Mapping

from .tree import DSError

SNAPSHOT_OPEN, SNAPSHOT_CHUNK = "DS Snapshot Open", "DS Snapshot Chunk"
#: Bytes per chunk (one bulk frame, under the envelope's 8 MiB).
CHUNK = 4 << 20
#: Real seconds an unfinished snapshot is kept for a backup that went quiet.
IDLE = 60.0
#: Real seconds a chunk request waits for the copy to reach it.
READ_WAIT = 30.0

#: ``read_file(offset, size, file_id)``: `size` bytes of the store file at `offset`, fewer
#: at its end, refused once the file is no longer `file_id` (`DSStore.read_file`).
ReadFile = Callable[[int, int, tuple[int, int]], bytes]


def read_head(db: sqlite3.Connection) -> dict[str, Any]:
    """seq, chain, root hash and entry count as a store's `meta` holds them."""
    meta = dict(db.execute("SELECT key, value FROM meta WHERE key IN "
                           "('seq', 'chain', 'root_tree', 'count', 'synced')"))
    return {"seq": int(meta.get("seq", 0)), "chain": bytes(meta.get("chain", b"")).hex(),
            "root": bytes(meta.get("root_tree", b"")).hex(), "count": int(meta.get("count", 0)),
            "synced": int(meta.get("synced", 0))}


class Copy:
    """One copy of the store in `CHUNK`-sized pieces, read from the start on a thread of
    its own while the first pieces are already being served."""

    def __init__(self, size: int) -> None:
        self.size = size
        self.chunks = -(-size // CHUNK)
        self.pieces: list[bytes | memoryview] = []
        self.error: BaseException | None = None
        self.how = ""
        self.seconds = 0.0  # how long reading it took
        self.touched = self._started = time.monotonic()
        self._cond = threading.Condition()

    def fill(self, db: sqlite3.Connection, read_file: Callable[[int, int], bytes] | None
             ) -> None:
        """Step 2 and 3 of the module docstring; `read_file` None: serialize. Each piece
        is a new bytes object filled by the read itself (no zeroed buffer first, whose
        page faults would hold the interpreter while the first chunks wait)."""
        self._started = time.monotonic()
        try:
            if read_file is None:
                self.how = "serialize"
                data = memoryview(db.serialize())
                if len(data) != self.size:
                    raise DSError(f"store copy is {len(data)} bytes, expected {self.size}")
                self._add([data[i:i + CHUNK] for i in range(0, self.size, CHUNK)])
            else:
                self.how = "file"
                for index in range(self.chunks):
                    want = min(CHUNK, self.size - index * CHUNK)
                    piece = read_file(index * CHUNK, want)
                    if len(piece) != want:
                        raise DSError(f"store file ends before {self.size} bytes")
                    self._add([piece])
            db.execute("COMMIT")
        except BaseException as exc:
            with self._cond:
                self.error = exc
                self._cond.notify_all()
        finally:
            db.close()

    def _add(self, pieces: list[bytes | memoryview]) -> None:
        with self._cond:
            self.pieces.extend(pieces)
            if len(self.pieces) == self.chunks:
                self.seconds = time.monotonic() - self._started
            self._cond.notify_all()

    def piece(self, index: int, timeout: float) -> bytes | memoryview:
        """Chunk `index`, once the copy has read it."""
        if not 0 <= index < self.chunks:
            raise DSError(f"DS Snapshot Chunk: no chunk {index} (of {self.chunks})")
        with self._cond:
            if not self._cond.wait_for(
                    lambda: len(self.pieces) > index or self.error is not None, timeout):
                raise DSError(f"the store copy did not reach chunk {index} in {timeout:g} s")
            if len(self.pieces) <= index:
                raise DSError(f"the store copy failed: {self.error}")
            return self.pieces[index]


def start_copy(path: Path, read_file: ReadFile) -> tuple[Copy, dict[str, Any]]:
    """Steps 1 and 2 of the module docstring: the head the copy holds, and the copy,
    filling on its own thread."""
    db = sqlite3.connect(str(path), isolation_level=None, check_same_thread=False)
    try:
        db.execute("PRAGMA busy_timeout=1000")
        db.execute(f"PRAGMA mmap_size={1 << 30}")  # serialize without a read() per page
        started = time.monotonic()
        db.execute("PRAGMA wal_checkpoint(TRUNCATE)").fetchall()
        checkpointed = time.monotonic() - started
        db.execute("BEGIN")
        head = read_head(db)  # the read transaction starts here
        head["checkpoint_ms"] = round(checkpointed * 1000, 1)
        size = (db.execute("PRAGMA page_count").fetchone()[0]
                * db.execute("PRAGMA page_size").fetchone()[0])
        st = os.stat(path)
        file_id = (st.st_dev, st.st_ino)
        reader = (lambda offset, n: read_file(offset, n, file_id)) if _wal_empty(path) else None
        copy = Copy(size)
        threading.Thread(target=copy.fill, args=(db, reader), name="ds-snapshot",
                         daemon=True).start()
    except BaseException:
        db.close()
        raise
    return copy, head


def _wal_empty(path: Path) -> bool:
    try:
        return os.stat(f"{path}-wal").st_size == 0
    except FileNotFoundError:
        return True


class Snapshots:
    """The active's copies being fetched, by session id (any thread)."""

    def __init__(self, path: Path, read_file: ReadFile) -> None:
        self._path = path
        self._read_file = read_file
        self._lock = threading.Lock()
        self._sessions: dict[str, Copy] = {}

    def open(self) -> dict[str, Any]:
        copy, head = start_copy(self._path, self._read_file)
        if not head["synced"]:
            raise DSError("this store is not synced: no copy to serve")
        sid = uuid.uuid4().hex
        with self._lock:
            self._purge()
            self._sessions[sid] = copy
        return {"sid": sid, "size": copy.size, "chunks": copy.chunks, **head}

    def chunk(self, body: Mapping[str, Any]
              ) -> tuple[dict[str, Any], list[bytes | memoryview]]:
        sid, index = body.get("sid"), body.get("index")
        with self._lock:
            self._purge()
            copy = self._sessions.get(str(sid))
        if copy is None or type(index) is not int or index < 0:
            raise DSError(f"DS Snapshot Chunk: no snapshot {sid!r} or bad index {index!r}")
        copy.touched = time.monotonic()
        piece = copy.piece(index, READ_WAIT)
        answer: dict[str, Any] = {"index": index, "crc": zlib.crc32(piece)}
        if index == copy.chunks - 1:
            self.close(str(sid))  # the last one: a resend opens a new snapshot
            answer.update(how=copy.how, read_ms=round(copy.seconds * 1000, 1))
        return answer, [piece]

    def _purge(self) -> None:
        """Forget the copies of backups that went quiet (the lock is held)."""
        now = time.monotonic()
        for old in [s for s, c in self._sessions.items() if now - c.touched > IDLE]:
            del self._sessions[old]

    def close(self, sid: str) -> None:
        with self._lock:
            self._sessions.pop(sid, None)
