"""The active's side of DS replication: the "DSServer" Notifier service and backup acks.

Handlers are called on the Notifier's loop thread, which must never wait on SQLite: each
request is handed to a small executor of our own (the host's pool is shared with other
services, and a backup's full sync must not starve them) and answered from there with
`reply`. Only acks are answered in place, from memory (the acknowledged seq as the board
now holds it), never with a read under the store's lock: a long import holds that lock
for seconds, the Notifier's heartbeats would stall with it, and the backup would start
diagnosing a healthy active.

`AckBoard` remembers how far the backup has applied the stream. The backup acks the last
seq it applied, coalesced (at most one ack in flight), tagged with a session id chosen
per backup process, so a restarted backup with an empty store is not taken for one that
is up to date. Synchronous replication waits on it.
"""
from __future__ import annotations

import concurrent.futures
import logging
import threading
import time
from typing import Any, Callable

from switchover.transport.envelope import Envelope

from . import protocol as p
from .snapshot import SNAPSHOT_CHUNK, SNAPSHOT_OPEN, Snapshots
from .storage import DivergedError, GapError
from .store import DSStore
from .tree import ROOT, DSError, normalize

log = logging.getLogger("DSReplicator")

Reply = Callable[..., None]


class AckBoard:
    """The backup's acknowledged position, as the active hears it."""

    def __init__(self) -> None:
        self._cond = threading.Condition()
        self.session = ""
        self.seq = 0
        self.heard = 0.0  # time.monotonic() of the last ack
        self.lagging_since: int | None = None  # first seq a synchronous write gave up on

    def ack(self, session: str, seq: int) -> int:
        """Record an ack; the backup's position now."""
        with self._cond:
            if session != self.session:
                self.session, self.seq = session, seq
            elif seq > self.seq:
                self.seq = seq
            self.heard = time.monotonic()
            if self.lagging_since is not None and self.seq >= self.lagging_since:
                self.lagging_since = None
            self._cond.notify_all()
            return self.seq

    def forget(self) -> None:
        """No backup any more (this host stopped being active)."""
        with self._cond:
            self.session, self.seq, self.heard, self.lagging_since = "", 0, 0.0, None
            self._cond.notify_all()

    def wait(self, seq: int, timeout: float) -> bool:
        """Block until the backup has applied `seq`, at most `timeout` real seconds."""
        with self._cond:
            ok = self._cond.wait_for(lambda: self.seq >= seq and bool(self.session), timeout)
            if not ok and self.lagging_since is None:
                self.lagging_since = seq
            return ok

    def snapshot(self) -> dict[str, Any]:
        with self._cond:
            return {"session": self.session, "seq": self.seq, "heard": self.heard,
                    "lagging_since": self.lagging_since}


class DSServer:
    """Answers the backup's requests from `store`; see the module docstring."""

    def __init__(self, store: DSStore, server_name: Callable[[], str],
                 acks: AckBoard, workers: int = 2) -> None:
        self.store = store
        self._server_name = server_name
        self.acks = acks
        self._pool = concurrent.futures.ThreadPoolExecutor(workers,
                                                           thread_name_prefix="ds-server")
        self._handlers: dict[str, Callable[[Envelope, tuple[bytes, ...]], tuple]] = {
            p.HEAD: self._head, p.LEVEL: self._level, p.GET: self._get,
            p.WALK: self._walk, p.CHANGES: self._changes,
            p.SUMMARY: self._summary, p.BUCKET: self._bucket,
            SNAPSHOT_OPEN: self._snapshot_open, SNAPSHOT_CHUNK: self._snapshot_chunk,
        }
        self._snapshots = Snapshots(store.path, store.read_file)

    def close(self) -> None:
        self._pool.shutdown(wait=True, cancel_futures=True)

    def handle(self, env: Envelope, bulk: tuple[bytes, ...], reply: Reply) -> None:
        """The Notifier handler (loop thread): acks here, everything else on the pool."""
        if env.eid == p.ACK:
            seq, session = env.body.get("seq"), env.body.get("session")
            if type(seq) is not int or not isinstance(session, str):
                reply("error", {"reason": "DS Ack needs body {'seq': int, 'session': str}"})
                return
            reply("ok", {"seq": self.acks.ack(session, seq)})
            return
        handler = self._handlers.get(env.eid)
        if handler is None:
            reply("rejected", {"reason": f"unknown DSServer request {env.eid!r}"})
            return
        try:
            self._pool.submit(self._run, handler, env, bulk, reply)
        except RuntimeError:  # shutting down
            reply("rejected", {"reason": "DSServer is stopping"})

    def _run(self, handler: Callable, env: Envelope, bulk: tuple[bytes, ...],
             reply: Reply) -> None:
        try:
            body, frames = handler(env, bulk)
            reply("ok", body, frames)
        except DSError as exc:
            log.warning("DSServer: %s refused: %s", env.eid, exc)
            reply("error", {"reason": str(exc)})
        except Exception as exc:  # never leave the backup waiting for its timeout
            log.exception("DSServer: %s failed", env.eid)
            reply("error", {"reason": f"{type(exc).__name__}: {exc}"})

    def _snapshot_open(self, env: Envelope, bulk: tuple[bytes, ...]) -> tuple:
        return self._snapshots.open(), ()

    def _snapshot_chunk(self, env: Envelope, bulk: tuple[bytes, ...]) -> tuple:
        return self._snapshots.chunk(env.body)

    def _head(self, env: Envelope, bulk: tuple[bytes, ...]) -> tuple:
        seq, chain, root, count = self.store.snapshot_head()
        return {"seq": seq, "chain": chain.hex(), "root": root.hex(), "count": count,
                "server": self._server_name()}, ()

    def _level(self, env: Envelope, bulk: tuple[bytes, ...]) -> tuple:
        return {}, p.encode_level(self.store.child_nodes(p.decode_paths(bulk)))

    def _summary(self, env: Envelope, bulk: tuple[bytes, ...]) -> tuple:
        return {}, p.encode_summary(self.store.child_summaries(p.decode_paths(bulk)))

    def _bucket(self, env: Envelope, bulk: tuple[bytes, ...]) -> tuple:
        return {}, p.encode_level(self.store.bucket_nodes(p.decode_buckets(bulk)))

    def _get(self, env: Envelope, bulk: tuple[bytes, ...]) -> tuple:
        got = self.store.get_many(p.decode_paths(bulk))
        return {"n": len(got)}, p.encode_entries(list(got.values()))

    def _walk(self, env: Envelope, bulk: tuple[bytes, ...]) -> tuple:
        prefix = normalize(str(env.body.get("prefix", ROOT)))
        after = env.body.get("after")
        limit = env.body.get("limit")
        limit = limit if type(limit) is int and 0 < limit <= p.WALK_PAGE else p.WALK_PAGE
        rows = self.store.walk_rows(prefix, None if after is None else normalize(str(after)),
                                    limit)
        return {"more": len(rows) == limit}, p.encode_rows(rows)

    def _changes(self, env: Envelope, bulk: tuple[bytes, ...]) -> tuple:
        seq, chain, limit = (env.body.get(k) for k in ("seq", "chain", "limit"))
        if type(seq) is not int or not isinstance(chain, str):
            raise DSError("DS Changes needs body {'seq': int, 'chain': hex}")
        limit = limit if type(limit) is int and 0 < limit <= p.CHANGES_PAGE else p.CHANGES_PAGE
        try:
            sets = self.store.changes_since(seq, bytes.fromhex(chain), limit, max_ops=5000)
        except GapError as exc:  # "diverged": the backup takes a copy of this store
            return {"gap": True, "diverged": isinstance(exc, DivergedError),
                    "reason": str(exc)}, ()
        except ValueError as exc:
            raise DSError(f"DS Changes: bad chain: {exc}") from None
        frames = p.pack_changes(sets)
        return {"n": len(frames)}, frames
