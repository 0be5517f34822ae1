"""The backup's view of the active's tree: DSServer requests made on a resync's worker.

`RemoteTree` implements the `Source` protocol of compare-and-update (and the bucket
view of the hash compare) over a `Call` (one request, bounded by "Switchover DS Request
Timeout"), reads the active's change log, and is the `request` the store copy is
fetched with (`fullsync.py`). It counts what it transfers for the status view and the
benchmark, and stops between two requests when its resync is cancelled.
"""
from __future__ import annotations

import concurrent.futures
import threading
from dataclasses import dataclass
from typing import Any, Iterator, Mapping, Sequence

import orjson

from .changes import ChangeSet
from .hashtree import BUCKETS, Buckets, NodeHash
from .protocol import (BUCKET, CHANGES, CHANGES_PAGE, GET, HEAD, LEVEL, SUMMARY, WALK,
                       WALK_PAGE, Call, Cancelled, decode_entries, decode_level,
                       decode_raw_entries, decode_summary, encode_paths, unpack_changes)
from .storage import DivergedError, GapError
from .tree import ROOT, DSError, Entry, name_of, parent_of


@dataclass(frozen=True)
class Head:
    """The active's position and root hash, read together under its store lock."""

    seq: int
    chain: bytes
    root: bytes
    server: str


class RemoteTree:
    """`Source` and `TreeView` over DSServer requests; see the module docstring."""

    def __init__(self, call: Call, cancel: threading.Event | None = None) -> None:
        self._call = call
        self._cancel = self.cancel = cancel or threading.Event()
        self._head: Head | None = None
        self.requests = 0
        self.bytes = 0
        self.compared = 0
        self.fetched = 0
        #: Milliseconds of each phase of a store copy (`fullsync.Phases`), if one was made.
        self.phases: dict[str, float] = {}

    def request(self, eid: str, body: Mapping[str, Any] | None = None,
                bulk: Sequence[bytes] = ()) -> tuple[Mapping[str, Any], tuple[bytes, ...]]:
        if self._cancel.is_set():
            raise Cancelled("resync cancelled")
        sent = sum(map(len, bulk))
        rbody, rbulk = self._call(eid, body or {}, bulk)
        self.requests += 1
        self.bytes += sent + sum(map(len, rbulk)) + len(orjson.dumps(dict(rbody)))
        return rbody, rbulk

    def head(self) -> Head:
        body, _ = self.request(HEAD)
        try:
            head = Head(int(body["seq"]), bytes.fromhex(body["chain"]),
                        bytes.fromhex(body["root"]), str(body.get("server") or ""))
        except (KeyError, TypeError, ValueError) as exc:
            raise DSError(f"malformed head from the active: {exc}") from None
        self._head = head
        return head

    def subtree_hash(self, path: str) -> bytes | None:
        if path == ROOT:
            return (self._head or self.head()).root
        parent = parent_of(path)
        node = self.child_nodes([parent]).get(parent, {}).get(name_of(path))
        return None if node is None else node.tree

    def child_nodes(self, parents: Sequence[str]) -> dict[str, dict[str, NodeHash]]:
        out: dict[str, dict[str, NodeHash]] = {}
        parents = list(parents)
        step = 20_000  # keeps the path list far below a frame
        for i in range(0, len(parents), step):
            _, bulk = self.request(LEVEL, None, encode_paths(parents[i:i + step]))
            level = decode_level(bulk)
            self.compared += sum(map(len, level.values()))
            out.update(level)
        return out

    def child_summaries(self, parents: Sequence[str]) -> dict[str, Any]:
        out: dict[str, Any] = {}
        parents = list(parents)
        step = 20_000
        for i in range(0, len(parents), step):
            _, bulk = self.request(SUMMARY, None, encode_paths(parents[i:i + step]))
            level = decode_summary(bulk)
            self.compared += sum(BUCKETS if isinstance(v, Buckets) else len(v)
                                 for v in level.values())
            out.update(level)
        return out

    def bucket_nodes(self, wanted: Sequence[tuple[str, int]]) -> dict[str, dict[str, NodeHash]]:
        out: dict[str, dict[str, NodeHash]] = {}
        wanted = [[parent, bucket] for parent, bucket in wanted]
        step = 20_000
        for i in range(0, len(wanted), step):
            _, bulk = self.request(BUCKET, None, [orjson.dumps(wanted[i:i + step])])
            level = decode_level(bulk)
            self.compared += sum(map(len, level.values()))
            for parent, kids in level.items():
                out.setdefault(parent, {}).update(kids)
        return out

    def get_many(self, paths: Sequence[str]) -> dict[str, Entry]:
        out: dict[str, Entry] = {}
        paths = list(paths)
        for i in range(0, len(paths), WALK_PAGE):
            _, bulk = self.request(GET, None, encode_paths(paths[i:i + WALK_PAGE]))
            entries = decode_entries(bulk)
            self.fetched += len(entries)
            out.update((e.path, e) for e in entries)
        return out

    def walk(self, prefix: str) -> Iterator[Entry]:
        """`prefix` and its subtree, page by page; the next page is already on its way
        while the caller writes this one (a full sync overlaps network and disk)."""

        def page(after: str | None) -> tuple[bool, list[Entry]]:
            body, bulk = self.request(WALK, {"prefix": prefix, "after": after,
                                             "limit": WALK_PAGE})
            return bool(body.get("more")), decode_entries(bulk)

        with concurrent.futures.ThreadPoolExecutor(1, thread_name_prefix="ds-walk") as pool:
            more, entries = page(None)
            while True:
                self.fetched += len(entries)
                ahead = pool.submit(page, entries[-1].path) if more and entries else None
                yield from entries
                if ahead is None:
                    return
                more, entries = ahead.result()

    def walk_pages(self, prefix: str) -> Iterator[list[list]]:
        """`walk` as pages of unvalidated [path, class, attributes, flags] lists, for
        `DSStore.load`; the next page is fetched while the caller loads this one."""

        def page(after: str | None) -> tuple[bool, list[list]]:
            body, bulk = self.request(WALK, {"prefix": prefix, "after": after,
                                             "limit": WALK_PAGE})
            return bool(body.get("more")), decode_raw_entries(bulk)

        with concurrent.futures.ThreadPoolExecutor(1, thread_name_prefix="ds-walk") as pool:
            more, items = page(None)
            while True:
                self.fetched += len(items)
                last = items[-1][0] if items else None
                if more and not isinstance(last, str):
                    raise DSError("malformed entries: a page ends without a path")
                ahead = pool.submit(page, last) if more and items else None
                yield items
                if ahead is None:
                    return
                more, items = ahead.result()

    def changes_since(self, seq: int, chain: bytes, upto: int) -> Iterator[ChangeSet]:
        """Change sets seq+1 .. upto, page by page; GapError when the log cannot serve."""
        while seq < upto:
            body, bulk = self.request(CHANGES, {"seq": seq, "chain": chain.hex(),
                                                "limit": min(CHANGES_PAGE, upto - seq)})
            if body.get("gap"):
                reason = str(body.get("reason", "the active cannot serve the gap"))
                raise DivergedError(reason) if body.get("diverged") else GapError(reason)
            sets = unpack_changes(bulk)
            if not sets:
                raise GapError(f"the active returned no changes after {seq}")
            for cs in sets:
                if cs.seq != seq + 1:
                    raise GapError(f"the active sent change {cs.seq} after {seq}")
                seq, chain = cs.seq, cs.chain
                yield cs
