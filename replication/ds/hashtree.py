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

import hashlib
from dataclasses import dataclass, field
from typing import Callable, Mapping, NamedTuple, Protocol, Sequence

import orjson

from .tree import ROOT, Entry, join, name_of, parent_of

DIGEST_SIZE = 16
MOD = 1 << (8 * DIGEST_SIZE)
#: The root has no entry; its own hash is fixed.
ROOT_OWN = bytes(DIGEST_SIZE)
ZERO = bytes(DIGEST_SIZE)


def encode_entry(entry: Entry) -> tuple[bytes, str, bytes]:
    """The stored form of an entry and its own hash: (attrs JSON, flags text, own)."""
    attributes = entry.attributes
    # Entries keep attributes sorted by name (Entry.make, build_entry from the store);
    # sort only when one was built otherwise.
    keys = list(attributes)
    if keys != sorted(keys):
        attributes = {k: attributes[k] for k in sorted(keys)}
    attrs = orjson.dumps(dict(attributes))
    flags = ",".join(sorted(entry.flags)) if entry.flags else ""
    h = hashlib.blake2b(entry.ds_class.encode(), digest_size=DIGEST_SIZE)
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


class NodeHash(NamedTuple):
    """The three hashes of one node, as a level listing carries them."""

    own: bytes
    kids: bytes
    tree: bytes


Level = Mapping[str, Mapping[str, NodeHash]]


class TreeView(Protocol):
    """What `diff` needs of a tree; `DSStore` is one, a network proxy can be another."""

    def subtree_hash(self, path: str) -> bytes | None:
        """The tree hash of `path`, or None if there is no such entry."""

    def child_nodes(self, parents: Sequence[str]) -> Level:
        """For each parent path, its children's hashes by name (one call per level)."""


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
    frontier = [prefix]
    while frontier:
        out.levels += 1
        lk, rk = local.child_nodes(frontier), remote.child_nodes(frontier)
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
    return out


def _own_of(view: TreeView, path: str) -> bytes | None:
    parent = parent_of(path)
    node = view.child_nodes([parent]).get(parent, {}).get(name_of(path))
    return None if node is None else node.own
