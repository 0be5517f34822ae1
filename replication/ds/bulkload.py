"""Bulk load: fill an empty store with the active's tree in one transaction.

The way a backup is filled when it cannot take a copy of the active's store file (see
`snapshot.py`): for example an older active that serves no copy. Every entry is
validated and hashed here, as in any write.
"""
from __future__ import annotations

from typing import TYPE_CHECKING, Iterable, Sequence

from .hashtree import MOD, ROOT_OWN, encode_fields, kids_bytes, term, tree_hash
from .tree import (CONTAINER, ROOT, DSError, ancestors, depth, name_of, parent_of,
                   validate_fields)

if TYPE_CHECKING:
    from .storage import Storage


class BulkLoad:
    """Fill an empty store with whole subtrees from the active, in one transaction.

    The initial copy of a backup (100,000 entries and more) would spend most of its time
    in the general write path, which reads and rewrites the ancestors of every batch.
    Here each entry arrives once, in path order: it is validated (`validate_fields`, the
    same rules as every write), its own hash computed from its data, and its row inserted
    as if it had no children. A node's children always arrive after it (its path is a
    prefix of theirs), so `finish` corrects only the nodes that turned out to have
    children, deepest first, then writes the root's hashes. Every hash is computed here
    from the data, as the general path would, never taken from the peer.

    Missing ancestors (an entry whose parent was created on the active after the walk
    had passed it) become containers, as in any write; the stream brings the real entry.
    Nothing is visible to another connection before `finish` commits, and a failure or a
    crash rolls everything back, leaving the store empty. The caller holds the store's
    lock around each call; the transaction stays open between them (writes through
    other paths are refused meanwhile with `GapError`).
    """

    def __init__(self, storage: "Storage") -> None:
        self.storage = storage
        self.db = storage.db
        self.own: dict[str, bytes] = {}
        self.leaf_term: dict[str, int] = {}
        self.sums: dict[str, int] = {}
        self.last = ""
        self.count = 0
        self.db.execute("BEGIN IMMEDIATE")
        storage.bulk = self
        try:
            storage.set_meta(synced=0)
            # Built once at the end instead of row by row.
            self.db.execute("DROP INDEX IF EXISTS entries_by_parent")
        except BaseException:
            self.abort()
            raise

    def add(self, items: Iterable[Sequence]) -> int:
        """Insert entries given as (path, class, attributes, flags), in path order within
        each walked subtree; returns how many were taken."""
        rows: list[tuple] = []
        own_of, leaf_term, sums = self.own, self.leaf_term, self.sums
        zero = kids_bytes(0)
        n = 0
        for item in items:
            try:
                path, ds_class, attrs, flags = item
            except (TypeError, ValueError):
                raise DSError(f"malformed entry {str(item)[:80]!r}") from None
            if not isinstance(flags, (list, tuple, frozenset, set)):
                raise DSError(f"{path!r}: flags are not a list")
            validate_fields(path, ds_class, attrs, flags)
            if path in own_of:
                raise DSError(f"{path}: sent twice in one bulk load")
            parent = parent_of(path)
            if parent != ROOT and parent not in own_of:
                self._containers(parent, rows)
            blob, flag_text, own = encode_fields(ds_class, attrs, set(flags))
            tree = tree_hash(own, 0)
            name = name_of(path)
            own_of[path] = own
            t = term(name, tree)
            leaf_term[path] = t
            sums[parent] = sums.get(parent, 0) + t
            rows.append((path, parent, name, ds_class, blob, flag_text, own, zero, tree))
            n += 1
        self.db.executemany(
            "INSERT INTO entries(path, parent, name, class, attrs, flags, hash, kids, tree) "
            "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)", rows)
        self.count += len(rows)
        return n

    def _containers(self, path: str, rows: list[tuple]) -> None:
        """Create `path` and its missing ancestors as containers (parents first)."""
        missing = [path]
        missing += [a for a in ancestors(path)]
        zero = kids_bytes(0)
        for p in reversed(missing):
            if p in self.own:
                continue
            blob, flag_text, own = encode_fields(CONTAINER, {}, ())
            tree = tree_hash(own, 0)
            parent, name = parent_of(p), name_of(p)
            self.own[p] = own
            t = term(name, tree)
            self.leaf_term[p] = t
            self.sums[parent] = self.sums.get(parent, 0) + t
            rows.append((p, parent, name, CONTAINER, blob, flag_text, own, zero, tree))

    def finish(self) -> None:
        """Fix the hashes of nodes with children, set the root's, index, commit."""
        try:
            sums, updates = self.sums, []
            for path in sorted((p for p in sums if p != ROOT), key=depth, reverse=True):
                kids = sums[path] % MOD
                tree = tree_hash(self.own[path], kids)
                parent = parent_of(path)
                sums[parent] = (sums.get(parent, 0) + term(name_of(path), tree)
                                - self.leaf_term[path])
                updates.append((kids_bytes(kids), tree, path))
            self.db.executemany("UPDATE entries SET kids=?, tree=? WHERE path=?", updates)
            root_kids = sums.get(ROOT, 0) % MOD
            self.storage.set_meta(root_kids=kids_bytes(root_kids),
                                  root_tree=tree_hash(ROOT_OWN, root_kids), count=self.count)
            self.db.execute("CREATE INDEX IF NOT EXISTS entries_by_parent "
                            "ON entries(parent, name)")
            self.db.execute("COMMIT")
        except BaseException:
            self.abort()
            raise
        self.storage._bulk_ended()

    def abort(self) -> None:
        try:
            if self.db.in_transaction:
                self.db.execute("ROLLBACK")
        finally:
            self.storage._bulk_ended()
