"""Turn one write's net effect into row changes with incrementally updated hashes, pure.

The store reads the current rows of the touched paths and their ancestors, calls `plan`,
and writes the result in the same transaction. Every ancestor is recomputed once per
batch, deepest first, however many of its descendants changed: a batch of 10,000 puts
under ``/Config/Users`` updates ``/Config/Users``, ``/Config`` and the root once each.
"""
from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from typing import Mapping

from .changes import Effect
from .hashtree import MOD, ROOT_OWN, encode_entry, term, tree_hash
from .tree import CONTAINER, ROOT, Entry, ancestors, depth, name_of, parent_of

#: One stored row as hashing sees it.
Row = tuple  # (own: bytes, kids: int, tree: bytes)


@dataclass
class Plan:
    """Row changes of one batch, ready for ``executemany``."""

    deletes: list[str] = field(default_factory=list)
    #: (path, parent, name, class, attrs, flags, own, kids, tree) for inserted/replaced rows
    upserts: list[tuple] = field(default_factory=list)
    #: (kids, tree, path) for surviving ancestors whose hashes changed
    updates: list[tuple] = field(default_factory=list)
    root_kids: int = 0
    root_tree: bytes = b""
    #: Containers created for missing ancestors of the puts.
    created: list[str] = field(default_factory=list)
    #: Upserted rows that are new (not replacing a row that survives the deletes).
    inserted: int = 0


def needed_paths(effect: Effect) -> set[str]:
    """Every path whose current row `plan` must see: the touched ones and their ancestors."""
    need: set[str] = set(effect.deletes)
    need.update(effect.puts)
    for p in list(need):
        for a in ancestors(p):
            if a in need:
                break
            need.add(a)
    return need


def plan(effect: Effect, existing: Mapping[str, Row], root_kids: int) -> Plan:
    """Compute the rows to delete, upsert and update, and the new root hashes.

    `existing` maps each path of `needed_paths(effect)` that exists now to its
    (own, kids, tree); absent paths do not exist.
    """
    deletes = effect.deletes

    def wiped(p: str) -> bool:
        return bool(deletes) and (p in deletes or any(a in deletes for a in ancestors(p)))

    puts: dict[str, Entry] = dict(effect.puts)
    out = Plan(deletes=sorted(deletes))
    for p in effect.puts:
        for a in ancestors(p):
            if a in puts or (a in existing and not wiped(a)):
                break
            puts[a] = Entry(a, CONTAINER)
            out.created.append(a)

    def exists_after(p: str) -> bool:
        return p in puts or (p in existing and not wiped(p))

    def fresh(p: str) -> bool:
        """Starts the batch without children (new, or re-created after a delete)."""
        return p not in existing or wiped(p)

    nodes = set(existing.keys() | puts.keys() | deletes)
    pending: dict[str, int] = defaultdict(int)
    for x in sorted(nodes, key=depth, reverse=True):
        par = parent_of(x)
        if par != ROOT and not exists_after(par):
            continue  # the whole branch is gone; nothing above it keeps a term for x
        par_fresh = par != ROOT and fresh(par)
        name = name_of(x)
        old = x in existing and not par_fresh
        base = term(name, existing[x][2]) if old else 0
        if exists_after(x):
            if x in puts:
                attrs, flags, own = encode_entry(puts[x])
                kids = (pending.get(x, 0) + (0 if fresh(x) else existing[x][1])) % MOD
                tree = tree_hash(own, kids)
                e = puts[x]
                out.upserts.append((x, par, name, e.ds_class, attrs, flags, own, kids, tree))
                if fresh(x):
                    out.inserted += 1
            else:
                own, kids0, tree0 = existing[x]
                delta = pending.get(x, 0)
                if not delta:
                    continue  # untouched ancestor (its hash is unchanged)
                kids = (kids0 + delta) % MOD
                tree = tree_hash(own, kids)
                if tree == tree0:
                    continue
                out.updates.append((kids, tree, x))
            new = term(name, tree)
        else:
            new = 0
        if new != base:
            pending[par] += new - base
    out.root_kids = (root_kids + pending.get(ROOT, 0)) % MOD
    out.root_tree = tree_hash(ROOT_OWN, out.root_kids)
    out.upserts.sort(key=lambda r: r[0])
    return out
