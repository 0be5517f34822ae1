"""Recompute every hash of a stored tree from scratch and report disagreements.

The incremental maintenance in `batch.plan` is what runs on every write; this is the
independent check (tests, an operator's consistency check after a crash): own hashes from
class, attributes and flags, then subtree hashes bottom-up, and no entry without a parent.
"""
from __future__ import annotations

from collections import defaultdict
from types import MappingProxyType
from typing import TYPE_CHECKING

import orjson

from .hashtree import MOD, ROOT_OWN, kids_bytes, own_hash, term, tree_hash
from .tree import ROOT, Entry, depth

if TYPE_CHECKING:
    from .storage import Storage


def verify_rows(rows: list[tuple], root_kids: bytes, root_tree: bytes) -> list[str]:
    """`rows`: (path, parent, name, class, attrs, flags, hash, kids, tree) of every entry."""
    problems: list[str] = []
    paths = {r[0] for r in rows}
    sums: dict[str, int] = defaultdict(int)
    for path, parent, name, ds_class, attrs, flags, own, kids, tree in sorted(
            rows, key=lambda r: depth(r[0]), reverse=True):
        if parent != ROOT and parent not in paths:
            problems.append(f"{path}: parent {parent} does not exist")
        entry = Entry(path, ds_class,
                      MappingProxyType({k: tuple(v) for k, v in orjson.loads(attrs).items()}),
                      frozenset(flags.split(",")) if flags else frozenset())
        want_own = own_hash(entry)
        if want_own != own:
            problems.append(f"{path}: own hash does not match its data")
        want_kids = sums.get(path, 0) % MOD
        if kids_bytes(want_kids) != kids:
            problems.append(f"{path}: children hash does not match its children")
        want_tree = tree_hash(own, want_kids)
        if want_tree != tree:
            problems.append(f"{path}: subtree hash does not match")
        sums[parent] += term(name, want_tree)
    want_root = sums.get(ROOT, 0) % MOD
    if kids_bytes(want_root) != root_kids or tree_hash(ROOT_OWN, want_root) != root_tree:
        problems.append("/: root hash does not match the top-level entries")
    return problems


def verify_storage(storage: "Storage") -> list[str]:
    """Every hash recomputed, the recorded count and the change log's seqs checked."""
    rows = storage.db.execute("SELECT path, parent, name, class, attrs, flags, hash, kids, "
                              "tree FROM entries").fetchall()
    problems = verify_rows(rows, storage.meta_bytes("root_kids"),
                           storage.meta_bytes("root_tree"))
    counted = storage.meta("count")
    if counted is not None and int(counted) != len(rows):  # type: ignore[call-overload]
        problems.append(f"entry count {counted} recorded, {len(rows)} stored")
    seq, floor = storage.meta_int("seq"), storage.meta_int("floor")
    logged = [r[0] for r in storage.db.execute("SELECT seq FROM changelog ORDER BY seq")]
    if logged != list(range(floor + 1, seq + 1)):
        problems.append(f"change log holds {logged[:3]}...{logged[-3:]}, "
                        f"expected {floor + 1}..{seq}")
    return problems
