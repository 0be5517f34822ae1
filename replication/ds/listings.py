"""The hash listings a compare reads from a store: children's node hashes, and for big
containers their bucket sums, then the children of the buckets that differ
(`hashtree.py`). Plain reads; `DSStore` holds the lock around them."""
from __future__ import annotations

import sqlite3
from typing import Sequence

from .hashtree import BUCKET_THRESHOLD, NodeHash, bucket_of, bucket_sums
from .storage import chunks


def child_nodes(db: sqlite3.Connection, parents: list[str]) -> dict[str, dict[str, NodeHash]]:
    out: dict[str, dict[str, NodeHash]] = {p: {} for p in parents}
    for part in chunks(parents):
        q = ("SELECT parent, name, hash, kids, tree FROM entries "
             f"WHERE parent IN ({','.join('?' * len(part))})")
        for parent, name, own, kids, tree in db.execute(q, part):
            out[parent][name] = NodeHash(own, kids, tree)
    return out


def child_summaries(db: sqlite3.Connection, parents: list[str]) -> dict[str, object]:
    out: dict[str, object] = {}
    q = "SELECT name, hash, kids, tree FROM entries WHERE parent=?"
    for parent in parents:
        rows = db.execute(q, (parent,)).fetchall()
        if len(rows) > BUCKET_THRESHOLD:
            out[parent] = bucket_sums((r[0], r[3]) for r in rows)
        else:
            out[parent] = {name: NodeHash(own, kids, tree) for name, own, kids, tree in rows}
    return out


def bucket_nodes(db: sqlite3.Connection,
                 wanted: Sequence[tuple[str, int]]) -> dict[str, dict[str, NodeHash]]:
    by_parent: dict[str, set[int]] = {}
    for parent, bucket in wanted:
        by_parent.setdefault(parent, set()).add(bucket)
    out: dict[str, dict[str, NodeHash]] = {}
    q = "SELECT name, hash, kids, tree FROM entries WHERE parent=?"
    for parent, buckets in by_parent.items():
        out[parent] = {name: NodeHash(own, kids, tree)
                       for name, own, kids, tree in db.execute(q, (parent,))
                       if bucket_of(name) in buckets}
    return out
