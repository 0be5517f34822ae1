"""Full synchronisation over the Notifier: the active serves snapshots, the backup fetches.

The active answers "Snapshot Open" by starting a session: a thread of its own that reads
the store's snapshot (one read transaction on its own connection, so the actor goes on
originating) and hands out packed chunks, one per "Snapshot Next". A chunk is produced
while the previous one is on the wire. Each Next names its index, so a request resent
after a timeout gets the same chunk again instead of skipping one.

The backup's `SnapshotFetch` is a thread too: it opens the session, then pulls chunks into
a bounded queue that the InteractionRecovery actor's load job drains inside
`load_snapshot`, which is all or nothing; cancelling the fetch (a switchover, a stop)
makes the load roll back.
"""
from __future__ import annotations

import itertools
import logging
import queue
import threading
from typing import Any, Callable, Iterable, Iterator

from .model import InteractionType
from .rows import SnapshotHeader, SnapshotRecord, snapshot_frames, snapshot_item
from .wire import SNAPSHOT_NEXT, SNAPSHOT_OPEN, chunked, unpack

log = logging.getLogger("InteractionRecovery")

Reply = Callable[..., None]


class SyncAborted(Exception):
    """The full synchronisation stopped before its end; the load rolls back."""


class _Session(threading.Thread):
    def __init__(self, sid: str, chunks: Iterator[bytes], idle: float,
                 on_end: Callable[[str], None]) -> None:
        super().__init__(name=f"snapshot-{sid}", daemon=True)
        self.sid = sid
        self._chunks = chunks
        self._idle = idle
        self._on_end = on_end
        self._requests: queue.Queue[tuple[int, Reply] | None] = queue.Queue()

    def ask(self, index: int, reply: Reply) -> None:
        self._requests.put((index, reply))

    def close(self) -> None:
        self._requests.put(None)

    def run(self) -> None:
        served, last, done = 0, b"", False
        try:
            ahead: bytes | None = next(self._chunks, None)
            while True:
                try:
                    request = self._requests.get(timeout=self._idle)
                except queue.Empty:
                    log.warning("snapshot %s: backup silent, session dropped", self.sid)
                    return
                if request is None:
                    return
                index, reply = request
                if index == served - 1:  # the answer was lost: the same chunk again
                    reply("ok", {"index": index, "done": done}, [last] if last else [])
                    continue
                if index != served:
                    reply("rejected", {"reason": f"expected chunk {served}, not {index}"})
                    continue
                last, done = (ahead or b""), ahead is None
                reply("ok", {"index": index, "done": done}, [last] if last else [])
                served += 1
                if done:
                    return
                ahead = next(self._chunks, None)
        except Exception:
            log.exception("snapshot %s failed", self.sid)
        finally:
            self._chunks.close() if hasattr(self._chunks, "close") else None
            self._on_end(self.sid)


class SnapshotSessions:
    """The active's open snapshot sessions (usually one: the backup's)."""

    def __init__(self, idle_seconds: float) -> None:
        self._idle = idle_seconds
        self._ids = itertools.count(1)
        self._sessions: dict[str, _Session] = {}
        self._lock = threading.Lock()

    def open(self, items: Iterable[SnapshotHeader | SnapshotRecord]) -> str:
        sid = f"s{next(self._ids)}"
        chunks = chunked(snapshot_frames(item) for item in items)
        session = _Session(sid, chunks, self._idle, self._ended)
        with self._lock:
            self._sessions[sid] = session
        session.start()
        return sid

    def next(self, sid: str, index: int, reply: Reply) -> None:
        with self._lock:
            session = self._sessions.get(sid)
        if session is None:
            reply("rejected", {"reason": f"no snapshot session {sid!r}"})
        else:
            session.ask(index, reply)

    def _ended(self, sid: str) -> None:
        with self._lock:
            self._sessions.pop(sid, None)

    def close_all(self) -> None:
        with self._lock:
            sessions = list(self._sessions.values())
        for session in sessions:
            session.close()


_END = object()


class SnapshotFetch(threading.Thread):
    """The backup's side of one full synchronisation (see the module docstring).

    `request(eid, body, timeout_real)` sends to the active's service and returns an
    Outcome (the service tries main, then aux). `on_open(self)` is called once the
    session is open, from this thread; the actor then consumes `items()`.
    """

    def __init__(self, *, types: Iterable[InteractionType], subscribe: Iterable[InteractionType],
                 mail_filter: bool, request: Callable[..., Any], timeout: float,
                 on_open: Callable[["SnapshotFetch"], None],
                 on_fail: Callable[["SnapshotFetch", str], None]) -> None:
        super().__init__(name="snapshot-fetch", daemon=True)
        self.types = tuple(sorted(set(types)))
        self.subscribe = tuple(sorted(set(subscribe)))
        self.mail_filter = mail_filter
        self._request = request
        self._timeout = timeout
        self._on_open = on_open
        self._on_fail = on_fail
        self._queue: queue.Queue[Any] = queue.Queue(maxsize=64)
        self._cancel = threading.Event()
        self.total = 0
        self.received = 0
        self.error: str | None = None

    def cancel(self) -> None:
        self._cancel.set()

    @property
    def cancelled(self) -> bool:
        return self._cancel.is_set()

    def _put(self, item: Any) -> bool:
        while not self._cancel.is_set():
            try:
                self._queue.put(item, timeout=0.1)
                return True
            except queue.Full:
                continue
        return False

    def run(self) -> None:
        body = {"types": [t.value for t in self.types],
                "subscribe": [t.value for t in self.subscribe],
                "mail_filter": self.mail_filter}
        outcome = self._request(SNAPSHOT_OPEN, body, self._timeout)
        if not outcome.ok:
            self.error = f"{SNAPSHOT_OPEN}: {outcome.status} {outcome.detail}"
            self._on_fail(self, self.error)
            return
        sid, self.total = outcome.response.body["sid"], int(outcome.response.body["total"])
        self._on_open(self)
        index = 0
        try:
            while not self._cancel.is_set():
                outcome = self._request(SNAPSHOT_NEXT, {"sid": sid, "index": index},
                                        self._timeout)
                if not outcome.ok:  # one more try: the answer may have been lost
                    outcome = self._request(SNAPSHOT_NEXT, {"sid": sid, "index": index},
                                            self._timeout)
                if not outcome.ok:
                    raise SyncAborted(f"{SNAPSHOT_NEXT} {index}: {outcome.status} "
                                      f"{outcome.detail}")
                for chunk in outcome.bulk:
                    for frames in unpack(chunk):
                        if not self._put(frames):
                            return
                if outcome.response.body.get("done"):
                    self._put(_END)
                    return
                index += 1
        except Exception as exc:  # noqa: BLE001 - handed to the loading actor
            self.error = str(exc)
            self._put(SyncAborted(self.error))

    def _next(self, wait: float) -> Any:
        """The next item, looking at the cancel event every 0.1 s: a cancelled load rolls
        back at once, not after `wait`."""
        waited = 0.0
        while True:
            if self._cancel.is_set():
                raise SyncAborted("cancelled")
            try:
                return self._queue.get(timeout=min(0.1, wait))
            except queue.Empty:
                waited += min(0.1, wait)
                if waited >= wait:
                    raise SyncAborted(f"no snapshot data for {wait:.1f} s") from None

    def items(self, wait: float) -> Iterator[SnapshotHeader | SnapshotRecord]:
        """What `load_snapshot` reads; raises SyncAborted on cancel, failure or silence."""
        while True:
            got = self._next(wait)
            if got is _END:
                return
            if isinstance(got, Exception):
                raise got
            item = snapshot_item(got)
            if isinstance(item, SnapshotRecord):
                self.received += 1
            yield item
