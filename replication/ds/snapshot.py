"""Full sync of an empty backup: a consistent copy of the active's store file.

Rebuilding an empty backup entry by entry costs validating and hashing every entry in
Python (about 7 µs each), while the file itself crosses the loopback in tens of
milliseconds. So the active copies its store (`sqlite3_serialize`) inside one read
transaction on a connection of its own (writers go on; the copy shows one commit, with
the seq, chain, root hash and count that commit left in `meta`), and serves it in
`CHUNK`-sized bulk frames, each with its CRC-32. The backup fetches `AHEAD` chunks at
a time into a file beside its store, fsyncs it, checks that the copy holds what the
active announced (size, seq, chain, root hash, count), and only then replaces its
store with it (`DSStore.replace`). It follows the stream from the copy's seq; the
change log and the hash compare stay for a backup that is only behind.

Requests: "DS Snapshot Open" -> {sid, size, chunks, seq, chain, root, count};
"DS Snapshot Chunk" {sid, index} -> {index, crc} + one bulk frame.
"""
from __future__ import annotations

import concurrent.futures
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
#: Chunk requests in flight: the next ones cross the network while one is written.
AHEAD = 3
#: Real seconds an unfinished snapshot is kept for a backup that went quiet.
IDLE = 60.0


def copy_store(path: Path) -> tuple[bytes, dict[str, Any]]:
    """A consistent copy of the store file at `path`, and the head it holds: read in one
    read transaction of a connection of its own (WAL: writers go on meanwhile)."""
    src = sqlite3.connect(f"file:{path}?mode=ro", uri=True, isolation_level=None)
    try:
        src.execute("BEGIN")
        head = read_head(src)  # starts the read transaction the copy is made in
        data = src.serialize()
        src.execute("COMMIT")
        return data, head
    finally:
        src.close()


def read_head(db: sqlite3.Connection) -> dict[str, Any]:
    """seq, chain, root hash and entry count as a store's `meta` holds them."""
    meta = dict(db.execute("SELECT key, value FROM meta WHERE key IN "
                           "('seq', 'chain', 'root_tree', 'count', 'synced')"))
    return {"seq": int(meta.get("seq", 0)), "chain": bytes(meta.get("chain", b"")).hex(),
            "root": bytes(meta.get("root_tree", b"")).hex(), "count": int(meta.get("count", 0)),
            "synced": int(meta.get("synced", 0))}


class Snapshots:
    """The active's copies being fetched, by session id (any thread)."""

    def __init__(self, path: Path) -> None:
        self._path = path
        self._lock = threading.Lock()
        self._sessions: dict[str, tuple[bytes, float]] = {}

    def open(self) -> dict[str, Any]:
        data, head = copy_store(self._path)
        if not head["synced"]:
            raise DSError("this store is not synced: no copy to serve")
        sid = uuid.uuid4().hex
        now = time.monotonic()
        with self._lock:
            for old in [s for s, (_, at) in self._sessions.items() if now - at > IDLE]:
                del self._sessions[old]
            self._sessions[sid] = (data, now)
        return {"sid": sid, "size": len(data), "chunks": -(-len(data) // CHUNK), **head}

    def chunk(self, body: Mapping[str, Any]) -> tuple[dict[str, Any], list[memoryview]]:
        sid, index = body.get("sid"), body.get("index")
        with self._lock:
            found = self._sessions.get(str(sid))
            if found is not None:
                self._sessions[str(sid)] = (found[0], time.monotonic())
        if found is None or type(index) is not int or index < 0:
            raise DSError(f"DS Snapshot Chunk: no snapshot {sid!r} or bad index {index!r}")
        data = found[0]
        piece = memoryview(data)[index * CHUNK:(index + 1) * CHUNK]  # no copy
        if (index + 1) * CHUNK >= len(data):
            self.close(str(sid))  # the last one: a resend opens a new snapshot
        return {"index": index, "crc": zlib.crc32(piece)}, [piece]

    def close(self, sid: str) -> None:
        with self._lock:
            self._sessions.pop(sid, None)


def fetch(request: Any, dest: Path, cancel: threading.Event,
          progress: Callable[[int, Mapping[str, Any]], None] = lambda done, head: None
          ) -> dict[str, Any]:
    """On the resync's worker: the active's copy into `dest`, fsynced and checked; the
    head it holds. `request(eid, body)` is `RemoteTree.request`; `progress(bytes
    written, announced head)` follows the copy. Raises DSError when the copy is not what
    the active announced (`dest` is then removed)."""
    opened, _ = request(SNAPSHOT_OPEN, {})
    try:
        sid, size, chunks = str(opened["sid"]), int(opened["size"]), int(opened["chunks"])
    except (KeyError, TypeError, ValueError) as exc:
        raise DSError(f"malformed DS Snapshot Open answer: {exc!r}") from None

    def get(index: int) -> bytes:
        body, bulk = request(SNAPSHOT_CHUNK, {"sid": sid, "index": index})
        if body.get("index") != index or len(bulk) != 1 or zlib.crc32(bulk[0]) != body.get("crc"):
            raise DSError(f"DS snapshot chunk {index} damaged or out of place")
        return bulk[0]

    try:
        with open(dest, "wb") as out, concurrent.futures.ThreadPoolExecutor(
                AHEAD, thread_name_prefix="ds-snapshot") as pool:
            ahead = [pool.submit(get, i) for i in range(min(AHEAD, chunks))]
            for index in range(chunks):
                piece = ahead.pop(0).result()
                if cancel.is_set():
                    raise DSError("snapshot fetch cancelled")
                if index + AHEAD < chunks:
                    ahead.append(pool.submit(get, index + AHEAD))
                out.write(piece)
                progress(out.tell(), opened)
            out.flush()
            os.fsync(out.fileno())
        _check(dest, size, opened)
    except BaseException:
        dest.unlink(missing_ok=True)
        raise
    return opened


def _check(dest: Path, size: int, announced: Mapping[str, Any]) -> None:
    """The copy is whole and holds the head the active announced with it."""
    if dest.stat().st_size != size:
        raise DSError(f"DS snapshot is {dest.stat().st_size} bytes, expected {size}")
    db = sqlite3.connect(f"file:{dest}?mode=ro", uri=True)
    try:
        head = read_head(db)
    except sqlite3.DatabaseError as exc:
        raise DSError(f"DS snapshot unreadable: {exc}") from None
    finally:
        db.close()
    for key in ("seq", "chain", "root", "count"):
        if head[key] != announced.get(key):
            raise DSError(f"DS snapshot holds {key} {head[key]!r}, the active announced "
                          f"{announced.get(key)!r}")
