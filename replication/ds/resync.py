"""A DS resync's work, on the replicator's worker thread (it waits on the network).

`run_resync` reads the active's head and brings the local store to it by the cheapest
way: an empty store takes a copy of the active's store file (`snapshot.py`); a synced
one catches up from the active's change log; anything else (or a log that cannot serve
it) runs compare-and-update. It writes through `ResyncStore`, so a superseded resync
writes nothing more.
"""
from __future__ import annotations

import logging
import threading
import time
from typing import Any

from . import snapshot
from .changes import ChangeSet
from .protocol import Cancelled, RemoteError, RemoteTree
from .storage import GapError
from .store import DSStore
from .sync import compare_and_update
from .tree import ROOT, DSError, DSFilter

log = logging.getLogger("DSReplicator")

#: Change sets applied per transaction (from the change log, and from the live stream).
APPLY_BATCH = 1000


class ResyncStore:
    """The store as one resync writes it: every write first checks the resync's cancel
    event and raises `Cancelled` once it is set, so a cancelled resync applies nothing
    more (a write already under way ends as its one transaction) and never marks the
    store synced. A bulk load checks before each page and is rolled back. Reads go
    straight to the store."""

    def __init__(self, store: DSStore, cancel: threading.Event) -> None:
        self._store = store
        self._cancel = cancel

    def __getattr__(self, name: str) -> Any:
        return getattr(self._store, name)

    def _check(self) -> None:
        if self._cancel.is_set():
            raise Cancelled("resync cancelled")

    def apply_many(self, sets: Any, flt: DSFilter | None = None) -> int:
        self._check()
        return self._store.apply_many(sets, flt)

    def sync_batch(self, ops: Any, flt: DSFilter | None = None) -> None:
        self._check()
        self._store.sync_batch(ops, flt)

    def load(self, pages: Any) -> int:
        def checked() -> Any:
            for page in pages:
                self._check()
                yield page
            self._check()

        return self._store.load(checked())

    def mark_synced(self, seq: int, chain: bytes) -> None:
        self._check()
        self._store.mark_synced(seq, chain)

    def replace(self, source: Any) -> None:
        self._check()
        self._store.replace(source)


def run_resync(store: ResyncStore, remote: RemoteTree, flt: DSFilter | None
                ) -> tuple[int, str]:
    """Steps 2 of the module docstring, on a worker thread; returns (head seq, sentence).
    `store` is the resync's `ResyncStore` view."""
    if flt is None and not store.count():  # empty: a copy of the active's store file
        try:
            return _copy_store(store, remote)
        except (DSError, RemoteError) as exc:  # e.g. the active's own store is unsynced
            if remote.cancel.is_set():
                raise Cancelled("resync cancelled") from None
            log.info("DS: no copy of the active's store (%s): fetching its tree", exc)
    head = remote.head()
    if flt is None and store.synced and store.count():
        seq, chain = store.head
        if seq <= head.seq:
            try:
                batch: list[ChangeSet] = []
                n = 0
                for cs in remote.changes_since(seq, chain, head.seq):
                    batch.append(cs)
                    if len(batch) >= APPLY_BATCH:
                        n += store.apply_many(batch)
                        batch = []
                n += store.apply_many(batch)
                if store.subtree_hash(ROOT) == head.root:
                    return head.seq, (f"DS caught up to change {head.seq} from the active's "
                                      f"change log ({n} change set(s), "
                                      f"{remote.bytes} bytes)")
            except GapError as exc:
                log.info("DS change log cannot bring this store up to date (%s): "
                         "comparing trees", exc)
    report = compare_and_update(store, remote, (head.seq, head.chain),  # type: ignore[arg-type]
                                flt)
    return head.seq, f"{report.sentence()} ({remote.bytes} bytes)"


def _copy_store(store: ResyncStore, remote: RemoteTree) -> tuple[int, str]:
    """An empty backup takes a checked copy of the active's store (`snapshot.py`)."""
    incoming = store.path.with_name(store.path.name + ".incoming")
    started = time.monotonic()
    try:
        def progress(done: int, head: Any) -> None:  # status: entries, by bytes copied
            remote.fetched = int(head["count"] * done / max(1, head["size"]))

        head = snapshot.fetch(remote.request, incoming, remote.cancel, progress)
        store.replace(incoming)
    finally:
        incoming.unlink(missing_ok=True)
    return head["seq"], (f"DS copied the active's store at change {head['seq']} "
                         f"({head['count']} entries, {head['size']} bytes) in "
                         f"{time.monotonic() - started:.2f} s")
