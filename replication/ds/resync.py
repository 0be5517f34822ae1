"""A DS resync's work, on the replicator's worker thread (it waits on the network).

`run_resync` reads the active's head and brings the local store to it by the cheapest
way: an empty store, or one whose history diverged from the active's (the old active
rejoining, say), takes a copy of the active's store file (`snapshot.py`, `fullsync.py`);
a synced one that is only behind catches up from the active's change log; anything else
(a log that cannot serve it, local changes, a copy the active cannot give) runs
compare-and-update. Under an upgrade filter no copy is ever taken: the copy is the
active's whole tree, and the backup in an upgrade state must take only what the filter
admits ("About the limited replication of data during an Upgrade state"), so it
compares under the filter. It writes through `ResyncStore`, so a superseded resync
writes nothing more.
"""
from __future__ import annotations

import logging
import threading
import time
from typing import Any

from . import fullsync
from .changes import ChangeSet
from .protocol import Cancelled, RemoteError
from .remote import RemoteTree
from .storage import DivergedError, GapError
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
        self._store.replace(source, refuse=self._check)


def run_resync(store: ResyncStore, remote: RemoteTree, flt: DSFilter | None
                ) -> tuple[int, str]:
    """Steps 2 of the module docstring, on a worker thread; returns (head seq, sentence).
    `store` is the resync's `ResyncStore` view."""
    if flt is None and not store.count():
        copied = _try_copy(store, remote, "this store is empty")
        if copied is not None:
            return copied
    head = remote.head()
    if flt is None and store.synced and store.count():
        seq, chain = store.head
        try:
            if seq > head.seq or (seq == head.seq and chain != head.chain):
                raise DivergedError(f"this store is at change {seq}, the active at "
                                    f"{head.seq}, with another history")
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
                                  f"change log ({n} change set(s), {remote.bytes} bytes)")
        except DivergedError as exc:
            copied = _try_copy(store, remote, f"its history diverged from the active's "
                                              f"({exc})")
            if copied is not None:
                return copied
        except GapError as exc:
            log.info("DS change log cannot bring this store up to date (%s): "
                     "comparing trees", exc)
    report = compare_and_update(store, remote, (head.seq, head.chain),  # type: ignore[arg-type]
                                flt)
    return head.seq, f"{report.sentence()} ({remote.bytes} bytes)"


def _try_copy(store: ResyncStore, remote: RemoteTree, why: str) -> tuple[int, str] | None:
    """Take a copy of the active's store; None when it cannot be had or was refused
    (e.g. the active's own store is unsynced): the store is then as it was, and the
    caller compares trees instead."""
    try:
        return copy_store(store, remote, why)
    except (DSError, RemoteError) as exc:
        if remote.cancel.is_set():
            raise Cancelled("resync cancelled") from None
        log.info("DS: no copy of the active's store (%s): comparing trees", exc)
        return None


def copy_store(store: ResyncStore | DSStore, remote: RemoteTree, why: str) -> tuple[int, str]:
    """Replace the store with a checked copy of the active's (`fullsync.py`); the
    phases' times go to `remote.phases`."""
    incoming = store.path.with_name(store.path.name + ".incoming")
    started = time.monotonic()
    phases = fullsync.Phases()
    log.info("DS: taking a copy of the active's store: %s", why)
    try:
        def progress(done: int, head: Any) -> None:  # status: entries, by bytes copied
            remote.fetched = int(head["count"] * done / max(1, head["size"]))

        head = fullsync.fetch(remote.request, incoming, remote.cancel, phases, progress)
        store.replace(incoming)
        phases.done("swap")
    finally:
        incoming.unlink(missing_ok=True)
        remote.phases = phases.ms
    return head["seq"], (f"DS copied the active's store at change {head['seq']} "
                         f"({head['count']} entries, {head['size']} bytes) in "
                         f"{time.monotonic() - started:.2f} s")
