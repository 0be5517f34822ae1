"""Merkle hashes over the DS tree and the recursive compare-and-update walk.

The reference's backup "runs a recursive compare-and-update algorithm to determine whether
there are differences between the DSServer registry structures on both servers"
("Synchronizing the registry on both servers"). With a hash per subtree, an unchanged
subtree costs one comparison, so a resync after a short disconnection touches only the
paths that changed.

Hashes of a node (16-byte BLAKE2b):

- ``own``  = H(class, sorted attributes, sorted flags): the entry itself;
- ``kids`` = sum over children c of H(name(c), tree(c)) mod 2**128: the children;
- ``tree`` = H(own, kids): the whole subtree.

``kids`` is an order-independent *sum* rather than a hash of the sorted children list, so
that a change below a container of 100,000 users updates that container in O(1) (subtract
the child's old term, add its new one) instead of re-reading every sibling. Collisions of
such additive hashes matter against an adversary choosing entries; here both trees are
written by authenticated administrators, and a 128-bit modulus leaves accidental
collisions out of reach.

`diff` walks two trees level by level through the `TreeView` protocol: one
``child_nodes(parents)`` call per level and per side, so when the remote view is a network
request the walk costs one round trip per level of *differing* paths, never one per node.
"""
from __future__ import annotations

import concurrent.futures
import hashlib
import zlib
from dataclasses import dataclass, field
from typing import Any, Callable, Iterable, Mapping, NamedTuple, Protocol, Sequence

import orjson

from .tree import ROOT, Entry, join, name_of, parent_of

DIGEST_SIZE = 16
MOD = 1 << (8 * DIGEST_SIZE)
#: The root has no entry; its own hash is fixed.
ROOT_OWN = bytes(DIGEST_SIZE)
ZERO = bytes(DIGEST_SIZE)


def encode_entry(entry: Entry) -> tuple[bytes, str, bytes]:
    """The stored form of an entry and its own hash: (attrs JSON, flags text, own)."""
    return encode_fields(entry.ds_class, entry.attributes, entry.flags)


def encode_fields(ds_class: str, attributes: Mapping[str, Sequence[str]],
                  flags: Iterable[str]) -> tuple[bytes, str, bytes]:
    """`encode_entry` on an entry's parts (a bulk load hashes the peer's data as it
    arrives, without building an `Entry`): the same bytes, so the same hash."""
    # Entries keep attributes sorted by name (Entry.make, build_entry from the store);
    # sort only when one was built otherwise.
    keys = list(attributes)
    if keys != sorted(keys):
        attributes = {k: attributes[k] for k in sorted(keys)}
    attrs = orjson.dumps(attributes if type(attributes) is dict else dict(attributes))
    flags = ",".join(sorted(flags)) if flags else ""
    h = hashlib.blake2b(ds_class.encode(), digest_size=DIGEST_SIZE)
    h.update(b"\x00" + attrs + b"\x00" + flags.encode())
    own = h.digest()
    return attrs, flags, own


def own_hash(entry: Entry) -> bytes:
    return encode_entry(entry)[2]


def term(name: str, tree: bytes) -> int:
    """A child's term in its parent's ``kids`` sum."""
    d = hashlib.blake2b(name.encode() + b"\x00" + tree, digest_size=DIGEST_SIZE).digest()
    return int.from_bytes(d, "big")


def kids_bytes(kids: int) -> bytes:
    return (kids % MOD).to_bytes(DIGEST_SIZE, "big")


def kids_int(kids: bytes) -> int:
    return int.from_bytes(kids, "big")


def tree_hash(own: bytes, kids: int) -> bytes:
    return hashlib.blake2b(own + kids_bytes(kids), digest_size=DIGEST_SIZE).digest()


#: A container with more children than this is compared by `BUCKETS` bucket sums first.
BUCKET_THRESHOLD = 256
BUCKETS = 64


def bucket_of(name: str) -> int:
    """The bucket of a child's name (both servers compute the same)."""
    return zlib.crc32(name.encode()) & (BUCKETS - 1)


class Buckets(tuple):
    """The children of a big container as `BUCKETS` sums (16 bytes each) of their terms
    in the parent's ``kids``, grouped by `bucket_of(name)`: two equal sums mean equal
    children in that bucket, so only the buckets that differ are listed."""


def bucket_sums(children: Iterable[tuple[str, bytes]]) -> Buckets:
    """`Buckets` of (name, tree) pairs."""
    sums = [0] * BUCKETS
    for name, tree in children:
        sums[bucket_of(name)] += term(name, tree)
    return Buckets(kids_bytes(x) for x in sums)


class NodeHash(NamedTuple):
    """The three hashes of one node, as a level listing carries them."""

    own: bytes
    kids: bytes
    tree: bytes


Level = Mapping[str, Mapping[str, NodeHash]]
#: Per parent: its children's hashes by name, or `Buckets` for a big container.
Summary = Mapping[str, "Mapping[str, NodeHash] | Buckets"]


class TreeView(Protocol):
    """What `diff` needs of a tree; `DSStore` is one, a network proxy can be another."""

    def subtree_hash(self, path: str) -> bytes | None:
        """The tree hash of `path`, or None if there is no such entry."""

    def child_nodes(self, parents: Sequence[str]) -> Level:
        """For each parent path, its children's hashes by name (one call per level)."""


class BucketView(TreeView, Protocol):
    """A `TreeView` that can summarise big containers (a `DSStore`, the network proxy):
    `diff` then lists only the buckets whose sums differ."""

    def child_summaries(self, parents: Sequence[str]) -> Summary:
        """For each parent, its children's hashes by name, or `Buckets` when it has more
        than `BUCKET_THRESHOLD` children."""

    def bucket_nodes(self, wanted: Sequence[tuple[str, int]]) -> Level:
        """For (parent, bucket) pairs, the children of those buckets, by parent."""


@dataclass
class Diff:
    """What the local side must do to equal the remote side.

    ``fetch``: entries present on both sides whose own data differs (fetch the entry);
    ``fetch_subtrees``: paths missing locally (fetch the entry and everything below);
    ``delete``: paths missing remotely (delete the subtree locally).
    """

    fetch: list[str] = field(default_factory=list)
    fetch_subtrees: list[str] = field(default_factory=list)
    delete: list[str] = field(default_factory=list)
    comparisons: int = 0
    levels: int = 0

    @property
    def empty(self) -> bool:
        return not (self.fetch or self.fetch_subtrees or self.delete)


def diff(local: TreeView, remote: TreeView, prefix: str = ROOT,
         admits_path: Callable[[str], bool] | None = None) -> Diff:
    """Compare two trees from `prefix` down and return the minimal repair.

    `admits_path(path)` (an upgrade filter's) prunes whole subtrees that are not
    replicated: they are neither compared, fetched nor deleted. Exceptions raised by a view
    (a remote timeout) propagate: a half-finished diff is never returned.
    """
    admit = admits_path or (lambda _p: True)
    out = Diff()
    if not admit(prefix):
        return out
    lh, rh = local.subtree_hash(prefix), remote.subtree_hash(prefix)
    out.comparisons = 1
    if lh == rh:
        return out
    if rh is None:
        out.delete.append(prefix)
        return out
    if lh is None:
        out.fetch_subtrees.append(prefix)
        return out
    if prefix != ROOT:
        # The entry itself may differ; its children are compared below either way.
        lo, ro = _own_of(local, prefix), _own_of(remote, prefix)
        out.comparisons += 1
        if lo != ro:
            out.fetch.append(prefix)
    with concurrent.futures.ThreadPoolExecutor(1, thread_name_prefix="ds-diff") as pool:
        _walk_levels(local, remote, prefix, admit, out, pool)
    return out


def _both(pool: concurrent.futures.ThreadPoolExecutor, local: Callable[[], Any],
          remote: Callable[[], Any]) -> tuple[Any, Any]:
    """Ask the remote side (a network round trip) while the local side reads its own."""
    ahead = pool.submit(remote)
    try:
        mine = local()
    finally:
        theirs = ahead.result()
    return mine, theirs


def _walk_levels(local: TreeView, remote: TreeView, prefix: str,
                 admit: Callable[[str], bool], out: Diff,
                 pool: concurrent.futures.ThreadPoolExecutor) -> None:
    frontier = [prefix]
    buckets = all(hasattr(v, "child_summaries") and hasattr(v, "bucket_nodes")
                  for v in (local, remote))
    while frontier:
        out.levels += 1
        if buckets:
            lk, rk = _level_by_buckets(local, remote, frontier, out, pool)
        else:
            lk, rk = _both(pool, lambda: local.child_nodes(frontier),
                           lambda: remote.child_nodes(frontier))
        nxt: list[str] = []
        for parent in frontier:
            lc, rc = lk.get(parent, {}), rk.get(parent, {})
            for name in sorted(lc.keys() | rc.keys()):
                path = join(parent, name)
                if not admit(path):
                    continue
                ln, rn = lc.get(name), rc.get(name)
                if ln is None:
                    out.fetch_subtrees.append(path)
                    continue
                if rn is None:
                    out.delete.append(path)
                    continue
                out.comparisons += 1
                if ln.tree == rn.tree:
                    continue
                out.comparisons += 2
                if ln.own != rn.own:
                    out.fetch.append(path)
                if ln.kids != rn.kids:
                    nxt.append(path)
        frontier = nxt


def _level_by_buckets(local: TreeView, remote: TreeView, frontier: list[str], out: Diff,
                      pool: concurrent.futures.ThreadPoolExecutor) -> tuple[Level, Level]:
    """One level of `diff` where big containers are compared bucket by bucket: the
    children of the buckets that differ are listed (one more request per side), those
    of equal buckets are left out, as equal subtrees would be."""
    ls, rs = _both(pool, lambda: local.child_summaries(frontier),  # type: ignore[attr-defined]
                   lambda: remote.child_summaries(frontier))  # type: ignore[attr-defined]
    lk: dict[str, Mapping[str, NodeHash]] = {}
    rk: dict[str, Mapping[str, NodeHash]] = {}
    want_l: list[tuple[str, int]] = []
    want_r: list[tuple[str, int]] = []
    for parent in frontier:
        lc, rc = ls.get(parent, {}), rs.get(parent, {})
        if not (isinstance(lc, Buckets) or isinstance(rc, Buckets)):
            lk[parent], rk[parent] = lc, rc
            continue
        lb = lc if isinstance(lc, Buckets) else bucket_sums(
            (n, h.tree) for n, h in lc.items())
        rb = rc if isinstance(rc, Buckets) else bucket_sums(
            (n, h.tree) for n, h in rc.items())
        out.comparisons += BUCKETS
        differ = {i for i in range(BUCKETS) if lb[i] != rb[i]}
        for side, want, level in ((lc, want_l, lk), (rc, want_r, rk)):
            if isinstance(side, Buckets):
                want.extend((parent, i) for i in sorted(differ))
                level[parent] = {}
            else:
                level[parent] = {n: h for n, h in side.items() if bucket_of(n) in differ}
    got_l, got_r = _both(
        pool, lambda: local.bucket_nodes(want_l) if want_l else {},  # type: ignore[attr-defined]
        lambda: remote.bucket_nodes(want_r) if want_r else {})  # type: ignore[attr-defined]
    for got, level in ((got_l, lk), (got_r, rk)):
        for parent, kids in got.items():
            level[parent] = {**level.get(parent, {}), **kids}
    return lk, rk


def _own_of(view: TreeView, path: str) -> bytes | None:
    parent = parent_of(path)
    node = view.child_nodes([parent]).get(parent, {}).get(name_of(path))
    return None if node is None else node.own
