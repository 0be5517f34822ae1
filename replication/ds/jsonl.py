"""Export and import of the DS tree as JSON lines (an operator's backup, a test fixture).

Line 1 is a header ``{"format": "switchover-ds", "version": 1, "seq": N, "chain": hex}``;
every further line is one entry ``{"path", "class", "attrs", "flags"}`` in path order, so
parents come before their children and an import can stream.
"""
from __future__ import annotations

from pathlib import Path
from typing import IO, TYPE_CHECKING, Iterator

import orjson

from .changes import Delete, Op, Put
from .tree import MAX_OPS_PER_WRITE, ROOT, DSError, Entry

if TYPE_CHECKING:
    from .store import DSStore

FORMAT = "switchover-ds"
VERSION = 1


def export(store: "DSStore", target: Path | IO[bytes]) -> int:
    if isinstance(target, (str, Path)):
        with open(target, "wb") as fh:
            return export(store, fh)
    seq, chain = store.head
    target.write(orjson.dumps({"format": FORMAT, "version": VERSION, "seq": seq,
                               "chain": chain.hex()}) + b"\n")
    n = 0
    for e in store.walk(ROOT):
        target.write(orjson.dumps({"path": e.path, "class": e.ds_class,
                                   "attrs": dict(e.attributes),
                                   "flags": sorted(e.flags)}) + b"\n")
        n += 1
    return n


def read_entries(source: IO[bytes]) -> Iterator[Entry]:
    """Validate the header and every entry; errors name the line."""
    header = source.readline()
    try:
        h = orjson.loads(header)
        ok = h.get("format") == FORMAT and h.get("version") == VERSION
    except (orjson.JSONDecodeError, AttributeError):
        ok = False
    if not ok:
        raise DSError(f"not a DS export (format {FORMAT!r} version {VERSION}): "
                      f"first line is {header[:80]!r}")
    for lineno, line in enumerate(source, start=2):
        if not line.strip():
            continue
        try:
            obj = orjson.loads(line)
            yield Entry.make(obj["path"], obj["class"], obj.get("attrs") or {},
                             obj.get("flags") or ())
        except (orjson.JSONDecodeError, KeyError, TypeError, AttributeError) as exc:
            raise DSError(f"DS export line {lineno}: malformed entry ({exc})") from None
        except DSError as exc:
            raise DSError(f"DS export line {lineno}: {exc}") from None


def import_batches(store: "DSStore", source: Path | IO[bytes]) -> list[list[Op]]:
    """Batches that replace the whole tree with the export's content."""
    if isinstance(source, (str, Path)):
        with open(source, "rb") as fh:
            return import_batches(store, fh)
    deletes: list[Op] = [Delete(e.path) for e in store.children(ROOT)]
    batches = [deletes[i:i + MAX_OPS_PER_WRITE]
               for i in range(0, len(deletes), MAX_OPS_PER_WRITE)]
    current: list[Op] = batches.pop() if batches else []
    for entry in read_entries(source):
        if len(current) >= MAX_OPS_PER_WRITE:
            batches.append(current)
            current = []
        current.append(Put(entry))
    if current:
        batches.append(current)
    return batches
