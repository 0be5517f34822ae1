"""Compare-and-update: bring a backup's store level with the active's tree.

The backup runs this "each time the Switchover system starts on the backup server" and
after every reconnect ("Synchronizing the registry on both servers"). The order that
loses nothing (the Clone pattern):

1. start buffering the active's change sets (subscribe to the stream);
2. read the active's ``head`` (seq, chain);
3. `compare_and_update(local, remote, head)`: diff by hashes, fetch what differs, write it
   with `DSStore.sync_batch`, then `mark_synced(head)`;
4. `DSStore.apply` every buffered change set in order: those at or below ``head`` are
   no-ops, the rest follow on exactly.

Data fetched in step 3 may already be newer than ``head``; replaying the later change sets
over it is harmless, because each operation sets a path's final value.

`remote` is anything with the `Source` methods: a `DSStore` in tests, a network proxy
whose calls time out after "Switchover DS Request Timeout" in the replicator. A timeout
raises out of here and leaves the store marked unsynced, so the next attempt starts over.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Iterable, Iterator, Mapping, Protocol, Sequence

from .changes import Delete, Op, Put
from .hashtree import Diff, Level, diff
from .store import DSStore
from .tree import MAX_OPS_PER_WRITE, DSFilter, Entry


class Source(Protocol):
    """The active's side of compare-and-update."""

    def subtree_hash(self, path: str) -> bytes | None: ...

    def child_nodes(self, parents: Sequence[str]) -> Level: ...

    def get_many(self, paths: Sequence[str]) -> Mapping[str, Entry]: ...

    def walk(self, prefix: str) -> Iterable[Entry]: ...


@dataclass(frozen=True)
class SyncReport:
    """What one compare-and-update did, for the log and the status view."""

    comparisons: int
    levels: int
    fetched: int
    deleted: int
    seq: int

    def sentence(self) -> str:
        if not (self.fetched or self.deleted):
            return (f"DS already in sync at change {self.seq} "
                    f"({self.comparisons} hash comparison(s))")
        return (f"DS synchronised to change {self.seq}: {self.fetched} entr(ies) fetched, "
                f"{self.deleted} subtree(s) deleted, {self.comparisons} comparisons "
                f"over {self.levels} level(s)")


def repair_ops(d: Diff, remote: Source) -> Iterator[Op]:
    """The operations that make the local tree equal the remote one, parents first."""
    for path in d.delete:
        yield Delete(path)
    for start in range(0, len(d.fetch), MAX_OPS_PER_WRITE):
        part = d.fetch[start:start + MAX_OPS_PER_WRITE]
        got = remote.get_many(part)
        for path in part:
            # gone since the listing: the stream will carry its delete; drop it now
            yield Put(got[path]) if path in got else Delete(path)
    for prefix in d.fetch_subtrees:
        for entry in remote.walk(prefix):
            yield Put(entry)


def _pages(remote: Source, prefix: str) -> Iterator[list]:
    """Pages of (path, class, attributes, flags) under `prefix`, as `DSStore.load`
    takes them: straight from the wire when the remote offers it."""
    walk_pages = getattr(remote, "walk_pages", None)
    if walk_pages is not None:
        yield from walk_pages(prefix)
        return
    page: list = []
    for e in remote.walk(prefix):
        page.append((e.path, e.ds_class, e.attributes, e.flags))
        if len(page) >= 2000:
            yield page
            page = []
    if page:
        yield page


def compare_and_update(local: DSStore, remote: Source, head: tuple[int, bytes],
                       flt: DSFilter | None = None) -> SyncReport:
    """Step 3 of the module docstring; returns what was done."""
    d = diff(local, remote, admits_path=None if flt is None else flt.admits_path)
    if flt is None and d.fetch_subtrees and not (d.fetch or d.delete) and local.count() == 0:
        # An empty backup (the first start, or a wiped store): load the active's tree
        # in one bulk transaction instead of the general write path.
        fetched = local.load(page for prefix in d.fetch_subtrees
                             for page in _pages(remote, prefix))
        local.mark_synced(*head)
        return SyncReport(d.comparisons, d.levels, fetched, 0, head[0])
    fetched = deleted = 0
    batch: list[Op] = []
    for op in repair_ops(d, remote):
        batch.append(op)
        if isinstance(op, Put):
            fetched += 1
        else:
            deleted += 1
        if len(batch) >= MAX_OPS_PER_WRITE:
            local.sync_batch(batch, flt)
            batch = []
    if batch:
        local.sync_batch(batch, flt)
    local.mark_synced(*head)
    return SyncReport(d.comparisons, d.levels, fetched, deleted, head[0])
