"""DS (configuration tree) replication: the store, the hash tree and compare-and-update.

See docs/ds.md. The DSReplicator actor drives these over the network; nothing here opens
a socket.
"""
from .changes import ChangeSet, Delete, Op, Put
from .hashtree import Diff, NodeHash, TreeView, diff
from .parameters import ParameterError, ParameterGuard, ServerParameters
from .store import DSStore, GapError
from .sync import SyncReport, compare_and_update
from .tree import DSError, DSFilter, Entry, expand, normalize

__all__ = [
    "ChangeSet", "Delete", "Diff", "DSError", "DSFilter", "DSStore", "Entry", "GapError",
    "NodeHash", "Op", "ParameterError", "ParameterGuard", "Put", "ServerParameters",
    "SyncReport", "TreeView", "compare_and_update", "diff", "expand", "normalize",
]
