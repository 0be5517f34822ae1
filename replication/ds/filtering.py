"""What an upgrade state replicates of a batch: the Appendix C filter applied to operations.

"About the limited replication of data during an Upgrade state": in Upgrade Higher and
Upgrade Lower the backup takes only what the filter admits, and keeps its own copy of
the rest. A put is admitted (possibly with attributes removed) or dropped; a delete must
not take away what the backup keeps, so it becomes deletes of the admitted entries only,
leaving the ancestors of every kept entry in place (nothing is orphaned).
"""
from __future__ import annotations

from typing import Callable, Sequence

from .changes import Delete, Op, Put
from .tree import DSFilter, Entry, ancestors, is_under, parent_of

#: `walk(path)`: `path` and its subtree as stored here (the backup's own entries).
Walk = Callable[[str], Sequence[Entry]]


def filter_ops(ops: Sequence[Op], flt: DSFilter, walk: Walk) -> tuple[Op, ...]:
    """The operations of `ops` this backup applies under `flt`."""
    out: list[Op] = []
    for op in ops:
        if isinstance(op, Put):
            e = flt.admits(op.entry)
            if e is not None:
                out.append(Put(e))
            continue
        if not flt.admits_path(op.path):
            continue
        out = [o for o in out if not (isinstance(o, Put) and is_under(o.path, op.path))]
        entries = walk(op.path)
        protected: set[str] = set()
        for e in entries:
            if flt.admits(e) is None:
                protected.add(e.path)
                protected.update(ancestors(e.path))
        for e in entries:
            if e.path not in protected and (e.path == op.path
                                            or parent_of(e.path) in protected):
                out.append(Delete(e.path))
    return tuple(out)
