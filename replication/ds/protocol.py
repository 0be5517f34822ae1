"""The DSServer wire protocol: what the backup asks the active, and how answers travel.

Every request goes to the active's Notifier service "DSServer". Small fields ride in the
JSON body; anything that grows with the tree (path lists, hash listings, entries, change
sets) rides in binary bulk frames, because a body is limited to 64 KiB and JSON would
double the size of 16-byte hashes. A level listing is two kinds of frames: one orjson
list of ``[parent, [names...]]`` and the hashes as raw 48-byte records (own, kids, tree)
in the same order, split into frames of at most `FRAME_BYTES`.

The backup's side of the requests is `remote.RemoteTree`.
"""
from __future__ import annotations

from typing import Any, Callable, Mapping, Sequence

import orjson

from .changes import ChangeSet, Put, ops_from_json, ops_to_json
from .hashtree import BUCKETS, Buckets, NodeHash
from .tree import DSError, Entry, normalize

SERVICE = "DSServer"
EVENT = "DS Change"
HEAD, LEVEL, GET, WALK, CHANGES, ACK = (
    "DS Head", "DS Level", "DS Get", "DS Walk", "DS Changes", "DS Ack")
SUMMARY, BUCKET = "DS Summary", "DS Bucket"

#: Bulk frames stay well under the transport's 8 MiB limit per frame.
FRAME_BYTES = 4 * 1024 * 1024
#: Entries per walk page, change sets per changes page.
WALK_PAGE = 2000
CHANGES_PAGE = 2000
NODE = 48


class RemoteError(Exception):
    """A DSServer request failed (timeout, refusal, connection lost)."""


class Cancelled(Exception):
    """The resync that issued the request was superseded or stopped."""


#: ``call(eid, body, bulk) -> (body, bulk)``; raises RemoteError (or GapError for a
#: refused changes request whose reason is a gap).
Call = Callable[[str, Mapping[str, Any], Sequence[bytes]], tuple[Mapping[str, Any],
                                                                 tuple[bytes, ...]]]


# -- encodings shared by both sides ----------------------------------------------------


def split(blob: bytes) -> list[bytes]:
    return [blob[i:i + FRAME_BYTES] for i in range(0, len(blob), FRAME_BYTES)] or [b""]


def encode_level(level: Mapping[str, Mapping[str, NodeHash]]) -> list[bytes]:
    names: list[list] = []
    hashes: list[bytes] = []
    for parent, kids in level.items():
        names.append([parent, list(kids)])
        for node in kids.values():
            hashes.append(node.own + node.kids + node.tree)
    return [orjson.dumps(names), *split(b"".join(hashes))]


def decode_level(frames: Sequence[bytes]) -> dict[str, dict[str, NodeHash]]:
    try:
        names = orjson.loads(frames[0])
        blob = b"".join(frames[1:])
        out: dict[str, dict[str, NodeHash]] = {}
        i = 0
        for parent, kids in names:
            level: dict[str, NodeHash] = {}
            for name in kids:
                rec = blob[i:i + NODE]
                level[name] = NodeHash(rec[:16], rec[16:32], rec[32:48])
                i += NODE
            out[parent] = level
    except (orjson.JSONDecodeError, IndexError, TypeError, ValueError) as exc:
        raise DSError(f"malformed level listing: {exc}") from None
    if i != len(blob):
        raise DSError(f"malformed level listing: {len(blob) - i} stray hash bytes")
    return out


def encode_summary(summary: Mapping[str, Any]) -> list[bytes]:
    """A `DS Summary` answer: frame 0 is orjson ``[[parent, names or null], ...]`` (null
    for a parent summarised by buckets); frame 1 the bucket sums of those parents, in
    order (`BUCKETS` x 16 bytes each); the rest the 48-byte hashes of the listed
    children, as in a level listing."""
    names: list[list] = []
    sums: list[bytes] = []
    hashes: list[bytes] = []
    for parent, kids in summary.items():
        if isinstance(kids, Buckets):
            names.append([parent, None])
            sums.extend(kids)
        else:
            names.append([parent, list(kids)])
            hashes.extend(n.own + n.kids + n.tree for n in kids.values())
    return [orjson.dumps(names), b"".join(sums), *split(b"".join(hashes))]


def decode_summary(frames: Sequence[bytes]) -> dict[str, Any]:
    try:
        names = orjson.loads(frames[0])
        sums = frames[1]
        blob = b"".join(frames[2:])
        out: dict[str, Any] = {}
        i = j = 0
        for parent, kids in names:
            if kids is None:
                if j + 16 * BUCKETS > len(sums):
                    raise ValueError("bucket sums missing")
                out[parent] = Buckets(sums[j + 16 * k:j + 16 * k + 16] for k in range(BUCKETS))
                j += 16 * BUCKETS
                continue
            level: dict[str, NodeHash] = {}
            for name in kids:
                rec = blob[i:i + NODE]
                if len(rec) != NODE:
                    raise ValueError("hashes missing")
                level[name] = NodeHash(rec[:16], rec[16:32], rec[32:48])
                i += NODE
            out[parent] = level
    except (orjson.JSONDecodeError, IndexError, TypeError, ValueError) as exc:
        raise DSError(f"malformed level summary: {exc}") from None
    if i != len(blob) or j != len(sums):
        raise DSError("malformed level summary: stray bytes")
    return out


def pack_changes(sets: Sequence[ChangeSet], max_frames: int = 16,
                 max_ops: int = 5000) -> list[bytes]:
    """Change sets as length-prefixed records packed into frames of at most
    `FRAME_BYTES`; what does not fit in `max_frames` or `max_ops` (at least one change
    set) is left for the next request, so no answer holds a loop for long."""
    frames: list[bytes] = []
    current: list[bytes] = []
    size = ops = 0
    for cs in sets:
        if ops and ops + len(cs.ops) > max_ops:
            break
        ops += len(cs.ops)
        data = cs.encode()
        if current and size + len(data) + 4 > FRAME_BYTES:
            frames.append(b"".join(current))
            current, size = [], 0
            if len(frames) == max_frames:
                return frames
        current += [len(data).to_bytes(4, "big"), data]
        size += len(data) + 4
    if current:
        frames.append(b"".join(current))
    return frames


def unpack_changes(frames: Sequence[bytes]) -> list[ChangeSet]:
    out: list[ChangeSet] = []
    for frame in frames:
        i = 0
        while i < len(frame):
            if i + 4 > len(frame):
                raise DSError("malformed change frame: truncated length")
            n = int.from_bytes(frame[i:i + 4], "big")
            out.append(ChangeSet.decode(frame[i + 4:i + 4 + n]))
            i += 4 + n
    return out


def encode_entries(entries: Sequence[Entry]) -> list[bytes]:
    return [orjson.dumps(ops_to_json(Put(e) for e in entries))]


def encode_rows(rows: Sequence[tuple]) -> list[bytes]:
    """Stored rows (path, class, attrs JSON, flags text) in the form of `encode_entries`:
    the attributes are already JSON, so they are copied, not rebuilt."""
    fragment = orjson.Fragment
    return [orjson.dumps([["p", path, cls, fragment(attrs), flags.split(",") if flags else []]
                          for path, cls, attrs, flags in rows])]


def decode_raw_entries(frames: Sequence[bytes]) -> list[list]:
    """Entries from the peer as [path, class, attributes, flags] lists, not validated:
    for `DSStore.load`, which validates each as it loads it."""
    try:
        raw = orjson.loads(frames[0]) if frames else []
    except orjson.JSONDecodeError as exc:
        raise DSError(f"malformed entries: {exc}") from None
    if not isinstance(raw, list):
        raise DSError("malformed entries: not a list")
    out: list[list] = []
    for item in raw:
        if not (isinstance(item, list) and len(item) == 5 and item[0] == "p"):
            raise DSError(f"malformed entry {str(item)[:80]!r}")
        out.append(item[1:])
    return out


def decode_entries(frames: Sequence[bytes]) -> list[Entry]:
    """Entries from the peer. Built without validation: they only ever reach the store
    through `DSStore.sync_batch`, whose `check_ops` validates every entry (once)."""
    try:
        raw = orjson.loads(frames[0]) if frames else []
        ops = ops_from_json(raw, trusted=True)
    except (orjson.JSONDecodeError, AttributeError, TypeError, ValueError) as exc:
        raise DSError(f"malformed entries: {exc}") from None
    out: list[Entry] = []
    for op in ops:
        if not isinstance(op, Put):
            raise DSError("malformed entries: a delete where entries were expected")
        out.append(op.entry)
    return out


def decode_buckets(frames: Sequence[bytes]) -> list[tuple[str, int]]:
    """A `DS Bucket` request: orjson ``[[parent, bucket], ...]``."""
    try:
        raw = orjson.loads(frames[0]) if frames else []
        out = [(normalize(parent), bucket) for parent, bucket in raw]
    except (orjson.JSONDecodeError, TypeError, ValueError) as exc:
        raise DSError(f"malformed bucket list: {exc}") from None
    for _, bucket in out:
        if type(bucket) is not int or not 0 <= bucket < BUCKETS:
            raise DSError(f"malformed bucket list: bucket {bucket!r}")
    return out


def encode_paths(paths: Sequence[str]) -> list[bytes]:
    return [orjson.dumps(list(paths))]


def decode_paths(frames: Sequence[bytes]) -> list[str]:
    try:
        raw = orjson.loads(frames[0]) if frames else []
    except orjson.JSONDecodeError as exc:
        raise DSError(f"malformed path list: {exc}") from None
    if not isinstance(raw, list):
        raise DSError("malformed path list: not a list")
    return [normalize(p) for p in raw]
