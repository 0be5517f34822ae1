"""Full sync by copy, the backup's side: fetch the active's store copy, check it, keep it.

`fetch` asks "DS Snapshot Open", then keeps `AHEAD` chunk requests in flight, each
chunk written at its place by the thread that fetched it (a slow write holds back no
request), into a file beside the store allocated at its full size first; the file is
fdatasynced while the rest is on its way, then fsynced. `check` opens the file and reads its head row from
`meta` (one query, not a recomputation of the hashes: the copy is the active's store
as one commit, whose hashes `DSStore.write` kept true): only a copy holding the size,
seq, chain, root hash and count the active announced may replace the store
(`DSStore.replace`); a copy that does not is removed and the store stays as it was.
The backup then follows the stream from the copy's seq ("DS Change" events above it).

The time of each phase goes to the replicator's status (`Phases`): the snapshot (the
active's checkpoint and read transaction, until the open is answered), the transfer
(chunks fetched and written; the active reads the file meanwhile), the fsync, the check
and the swap.
"""
from __future__ import annotations

import concurrent.futures
import os
import sqlite3
import threading
import time
import zlib
from pathlib import Path
from typing import Any, Callable, Mapping

from .snapshot import CHUNK, SNAPSHOT_CHUNK, SNAPSHOT_OPEN, read_head
from .tree import DSError

#: Chunk requests in flight.
AHEAD = 3

Request = Callable[[str, Mapping[str, Any]], tuple[Mapping[str, Any], tuple[bytes, ...]]]


class Phases:
    """Milliseconds of each phase of one copy, in order, for status and the benchmark."""

    def __init__(self) -> None:
        self.ms: dict[str, float] = {}
        self._mark = time.monotonic()

    def done(self, phase: str) -> None:
        now = time.monotonic()
        self.ms[phase] = round((now - self._mark) * 1000, 1)
        self._mark = now


def fetch(request: Request, dest: Path, cancel: threading.Event, phases: Phases,
          progress: Callable[[int, Mapping[str, Any]], None] = lambda done, head: None
          ) -> dict[str, Any]:
    """The active's copy into `dest`, fsynced and checked; the head it holds.
    `request(eid, body)` is `RemoteTree.request`; `progress(bytes written, announced
    head)` follows the copy. Raises DSError when the copy is not what the active
    announced (`dest` is then removed)."""
    opened, _ = request(SNAPSHOT_OPEN, {})
    try:
        sid, size, chunks = str(opened["sid"]), int(opened["size"]), int(opened["chunks"])
    except (KeyError, TypeError, ValueError) as exc:
        raise DSError(f"malformed DS Snapshot Open answer: {exc!r}") from None
    phases.done("snapshot")
    last: dict[str, Any] = {}

    def get(index: int, fd: int) -> int:
        """Chunk `index` fetched, checked and written at its place; its length."""
        body, bulk = request(SNAPSHOT_CHUNK, {"sid": sid, "index": index})
        if body.get("index") != index or len(bulk) != 1 or zlib.crc32(bulk[0]) != body.get("crc"):
            raise DSError(f"DS snapshot chunk {index} damaged or out of place")
        if index == chunks - 1:
            last.update(body)
        if cancel.is_set():
            raise DSError("snapshot fetch cancelled")
        return os.pwrite(fd, bulk[0], index * CHUNK)

    try:
        fd = os.open(dest, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        try:
            if size:
                os.posix_fallocate(fd, 0, size)  # the blocks at once, not chunk by chunk
            with concurrent.futures.ThreadPoolExecutor(
                    AHEAD, thread_name_prefix="ds-snapshot") as pool, \
                    concurrent.futures.ThreadPoolExecutor(
                        1, thread_name_prefix="ds-snapshot-flush") as flusher:
                ahead = [pool.submit(get, i, fd) for i in range(min(AHEAD, chunks))]
                written = 0
                flushing: concurrent.futures.Future | None = None
                for index in range(chunks):
                    written += ahead.pop(0).result()
                    if index + AHEAD < chunks:
                        ahead.append(pool.submit(get, index + AHEAD, fd))
                    progress(written, opened)
                    if flushing is None or flushing.done():
                        # the disk writes what has come while the rest is on its way,
                        # so the fsync at the end has only the last chunks left to write
                        flushing = flusher.submit(os.fdatasync, fd)
            phases.done("transfer")
            os.fsync(fd)
            phases.done("fsync")
        finally:
            os.close(fd)
        check(dest, size, opened)
        phases.done("verify")
    except BaseException:
        dest.unlink(missing_ok=True)
        raise
    phases.ms["active checkpoint"] = float(opened.get("checkpoint_ms", 0))
    if last.get("how"):
        phases.ms[f"active read ({last['how']})"] = float(last.get("read_ms", 0))
    return opened


def check(dest: Path, size: int, announced: Mapping[str, Any]) -> None:
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
        for suffix in ("-wal", "-shm"):  # made empty by the read-only connection
            Path(f"{dest}{suffix}").unlink(missing_ok=True)
    for key in ("seq", "chain", "root", "count"):
        if head[key] != announced.get(key):
            raise DSError(f"DS snapshot holds {key} {head[key]!r}, the active announced "
                          f"{announced.get(key)!r}")
