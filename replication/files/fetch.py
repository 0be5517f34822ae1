"""The backup's transfers: manifests and file contents pulled from the active.

Small files travel many to a request (`File Read`), large ones by ranges (`File Chunk`),
and several requests are kept in flight so the link never waits on one round trip. Every
byte is checked against a sha256 computed by the active (whole file for small files, per
range for large ones) before the applier renames the new version into place.

A large file that changes while it is sent (size, mtime or inode moved between ranges)
is started over; the applier lets the new `begin_file` supersede the old one, so the
newer version wins and no mix of the two is ever visible.

Runs on the caller's thread (the mirror actor) and blocks on futures with timeouts;
`cancelled()` is checked between responses so a stop or the start-up deadline gets in.
"""
from __future__ import annotations

import collections
import concurrent.futures
from dataclasses import dataclass, field
from typing import Callable, Sequence

from switchover.replication.files import protocol as proto
from switchover.replication.files.applier import Applier, Incoming
from switchover.replication.files.errors import ApplyError, Superseded
from switchover.replication.files.manifest import Manifest
from switchover.replication.files.spec import MirrorDir
from switchover.replication.service import PeerRequests
from switchover.transport.channel import preferred
from switchover.transport.outcome import Outcome

#: Requests kept in flight per transfer. With RANGE bytes each, at most DEPTH x RANGE
#: bytes queue on the channel ahead of a heartbeat (a channel that hears nothing for three
#: heartbeats is declared lost).
DEPTH = 3
RANGE = 4 << 20
#: Bounds of one File Read request (the envelope is 64 KiB; frames are 4 MiB).
BATCH_FILES = 256
BATCH_PATH_CHARS = 40_000
BATCH_BYTES = 2 << 20
MAX_RESTARTS = 20

Item = tuple[str, int, int, int]  # logical path, size, mtime_ns, mode (as last known)


class FetchError(Exception):
    """The active could not be asked (connection lost, timeout, refusal)."""


class Cancelled(Exception):
    """The caller stopped the transfer (shutdown, role change, start-up deadline)."""


@dataclass
class FetchResult:
    files: int = 0
    bytes: int = 0
    missing: list[str] = field(default_factory=list)
    failed: list[tuple[str, str]] = field(default_factory=list)


class Fetcher:
    def __init__(self, links: PeerRequests, applier: Applier, *, timeout: float,
                 real_timeout: float, cancelled: Callable[[], bool],
                 on_file: Callable[[int], None] = lambda size: None,
                 local: Callable[[str], tuple | None] = lambda path: None) -> None:
        self.links = links
        self.applier = applier
        self.timeout = timeout  # reference seconds, for the transport
        self.real_timeout = real_timeout  # wall seconds, for waiting on a future
        self.cancelled = cancelled
        self.on_file = on_file
        self.local = local  # the backup's copy: ("file", size, mtime_ns, mode) or None

    # -- requests -------------------------------------------------------------------

    def channel(self) -> str:
        return preferred(self.links.connected)[0]

    def _send(self, eid: str, body: dict) -> concurrent.futures.Future[Outcome]:
        return self.links.request(self.channel(), proto.SERVICE, eid, timeout=self.timeout,
                                  body=body)

    def _wait(self, future: concurrent.futures.Future[Outcome], what: str) -> Outcome:
        while True:
            if self.cancelled():
                future.cancel()
                raise Cancelled(what)
            try:
                outcome = future.result(timeout=0.05)
                break
            except concurrent.futures.TimeoutError:
                continue
        if not outcome.ok:
            raise FetchError(f"{what}: {outcome.status} {outcome.detail}".strip())
        return outcome

    def ask(self, eid: str, body: dict, what: str) -> Outcome:
        """One request to the active's File Monitor, waited for like a transfer's."""
        return self._wait(self._send(eid, body), what)

    def manifest(self, mdir: MirrorDir, exceptions: frozenset[str]) -> Manifest:
        body = {"dir": str(mdir.path), "recursive": mdir.recursive,
                "exceptions": sorted(exceptions)}
        outcome = self._wait(self._send(proto.MANIFEST, body), f"manifest of {mdir.path}")
        return proto.manifest_from_frames(outcome.bulk)

    # -- contents -------------------------------------------------------------------

    def fetch(self, items: Sequence[Item], *, sync: bool = True) -> FetchResult:
        """Bring every item to the active's current version (or note it missing)."""
        result = FetchResult()
        small = [i for i in items if i[1] <= proto.SMALL_FILE]
        large = [i for i in items if i[1] > proto.SMALL_FILE]
        large += self._small(small, result, sync)
        for item in large:
            self._large(item, result, sync)
        return result

    def _batches(self, items: Sequence[Item]) -> list[list[Item]]:
        batches: list[list[Item]] = []
        cur: list[Item] = []
        chars = size = 0
        for item in items:
            if cur and (len(cur) >= BATCH_FILES or chars + len(item[0]) > BATCH_PATH_CHARS
                        or size + item[1] > BATCH_BYTES):
                batches.append(cur)
                cur, chars, size = [], 0, 0
            cur.append(item)
            chars += len(item[0]) + 8
            size += item[1]
        if cur:
            batches.append(cur)
        return batches

    def _small(self, items: Sequence[Item], result: FetchResult, sync: bool) -> list[Item]:
        """Fetch small files in pipelined batches; returns the ones that turned large."""
        later: list[Item] = []
        queue = collections.deque(self._batches(items))
        inflight: collections.deque = collections.deque()
        retries: dict[str, int] = {}
        while queue or inflight:
            while queue and len(inflight) < DEPTH:
                batch = queue.popleft()
                inflight.append((batch, self._send(proto.READ,
                                                   {"paths": [i[0] for i in batch]})))
            batch, future = inflight.popleft()
            outcome = self._wait(future, f"read of {len(batch)} files")
            again = self._apply_read(outcome, batch, result, later, retries, sync)
            if again:
                queue.append(again)
        return later

    def _apply_read(self, outcome: Outcome, batch: list[Item], result: FetchResult,
                    later: list[Item], retries: dict[str, int], sync: bool) -> list[Item]:
        known = {i[0]: i for i in batch}
        again: list[Item] = []
        bulk = [memoryview(frame) for frame in outcome.bulk]
        put, on_file = self.applier.put_file, self.on_file
        with self.applier.batch():
            for path, status, size, mtime_ns, mode, sha, frame, offset in \
                    outcome.response.body.get("files", ()):
                if status == "ok":
                    try:
                        put(path, size, mode, mtime_ns, sha,
                            bulk[frame][offset:offset + size], sync=sync)
                    except ApplyError as exc:
                        result.failed.append((path, str(exc)))
                        continue
                    result.files += 1
                    result.bytes += size
                    on_file(size)
                elif status == "missing":
                    result.missing.append(path)
                elif status == "large":
                    later.append((path, size, mtime_ns, mode))
                elif retries.get(path, 0) < MAX_RESTARTS:  # changing, later
                    retries[path] = retries.get(path, 0) + 1
                    again.append(known.get(path, (path, size, mtime_ns, mode)))
                else:
                    result.failed.append((path, "still changing"))
        return again

    def _large(self, item: Item, result: FetchResult, sync: bool) -> None:
        path = item[0]
        for _attempt in range(MAX_RESTARTS):
            status = self._large_once(path, result, sync)
            if status in ("done", "missing", "failed"):
                return
        result.failed.append((path, "still changing"))

    def _large_once(self, path: str, result: FetchResult, sync: bool) -> str:
        """One attempt at a whole version; "restart" when the file moved underneath."""
        step = RANGE
        first = self._wait(self._send(proto.CHUNK, {"path": path, "offset": 0,
                                                    "length": step}), f"read of {path}")
        body = first.response.body
        if body.get("status") == "missing":
            result.missing.append(path)
            return "missing"
        if body.get("status") != "ok":
            return "restart"
        size, mtime_ns, mode, _ino = body["version"]
        version = list(body["version"])
        have = self.local(path)
        if have is not None and tuple(have[:3]) == ("file", size, mtime_ns):
            return "done"  # an older notice: this version is here already
        try:
            inc = self.applier.begin_file(path, size, mode, mtime_ns, per_chunk=True)
        except ApplyError as exc:
            result.failed.append((path, str(exc)))
            return "failed"
        try:
            return self._ranges(inc, path, version, first, result, sync)
        finally:
            inc.abort()

    def _ranges(self, inc: Incoming, path: str, version: list, first: Outcome,
                result: FetchResult, sync: bool) -> str:
        step = RANGE
        size = version[0]
        offsets = collections.deque(range(step, size, step))
        inflight: collections.deque = collections.deque([(0, None, first)])
        while inflight:
            while offsets and len(inflight) < DEPTH:
                off = offsets.popleft()
                inflight.append((off, self._send(proto.CHUNK, {
                    "path": path, "offset": off, "length": step}), None))
            offset, future, outcome = inflight.popleft()
            if outcome is None:
                outcome = self._wait(future, f"read of {path} at {offset}")
            body = outcome.response.body
            if body.get("status") != "ok" or list(body.get("version", ())) != version:
                for _, fut, _ in inflight:
                    if fut is not None:
                        fut.cancel()
                return "missing" if body.get("status") == "missing" else "restart"
            data = outcome.bulk[0] if outcome.bulk else b""
            try:
                inc.write(offset, data, body.get("sha256"))
            except Superseded:
                return "failed"
            except ApplyError as exc:
                result.failed.append((path, str(exc)))
                return "failed"
        try:
            inc.commit(sync=sync)
        except ApplyError as exc:
            result.failed.append((path, str(exc)))
            return "failed"
        result.files += 1
        result.bytes += size
        self.on_file(size)
        return "done"
