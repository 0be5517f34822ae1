"""Write operations, change sets and their one canonical encoding.

A write is a batch of `Put` (create or replace one entry, keeping its children) and
`Delete` (remove an entry and its whole subtree) operations. The active commits a batch as
one transaction and numbers it: a `ChangeSet(seq, ops, chain)`. The backup applies change
sets strictly in order (the Clone pattern: snapshot + sequence-numbered updates), so
nothing is lost between the compare-and-update and the stream, and nothing is applied
twice.

`chain` is a running hash over every change set of one history (``chain_n =
H(chain_{n-1}, ops_n)``). Two stores with the same seq but a different chain have diverged
(e.g. the old active wrote changes the backup never saw before it took over); sequence
numbers alone would not notice, and the follower would silently miss data.

The encoding (orjson, sorted keys) is canonical so both servers compute the same chain
from the same operations; it is used for the change log and on the wire alike.
"""
from __future__ import annotations

import hashlib
from dataclasses import dataclass
from types import MappingProxyType
from typing import Iterable, Sequence, Union

import orjson

from .tree import (MAX_OPS_PER_WRITE, ROOT, DSError, Entry, ancestors, build_entry, depth,
                   normalize, validate_entry)

CHAIN_SIZE = 16
#: The chain of an empty history.
GENESIS = bytes(CHAIN_SIZE)


@dataclass(frozen=True)
class Put:
    """Create or replace `entry`; its children, if any, stay."""

    entry: Entry

    @property
    def path(self) -> str:
        return self.entry.path


@dataclass(frozen=True)
class Delete:
    """Remove the entry at `path` and everything below it."""

    path: str


Op = Union[Put, Delete]


@dataclass(frozen=True)
class ChangeSet:
    """One committed write as the active numbered it."""

    seq: int
    ops: tuple[Op, ...]
    chain: bytes = GENESIS

    def encode(self) -> bytes:
        """Wire form: ``{"seq", "chain" (hex), "ops"}`` as orjson."""
        return orjson.dumps({"seq": self.seq, "chain": self.chain.hex(),
                             "ops": ops_to_json(self.ops)})

    @classmethod
    def decode(cls, data: bytes) -> "ChangeSet":
        """Parse and validate a change set received from the peer; refuse bad input."""
        try:
            obj = orjson.loads(data)
            seq, chain, raw_ops = obj["seq"], bytes.fromhex(obj["chain"]), obj["ops"]
        except (orjson.JSONDecodeError, KeyError, TypeError, ValueError) as exc:
            raise DSError(f"malformed change set: {exc}") from None
        if not isinstance(seq, int) or isinstance(seq, bool) or seq < 1:
            raise DSError(f"malformed change set: seq {seq!r} is not a positive integer")
        if len(chain) != CHAIN_SIZE:
            raise DSError(f"malformed change set: chain is {len(chain)} bytes")
        ops = ops_from_json(raw_ops)
        check_ops(ops)
        return cls(seq, ops, chain)


def encode_ops(ops: Sequence[Op]) -> bytes:
    """The canonical bytes of a batch (change-log row and chain input)."""
    return orjson.dumps(ops_to_json(ops), option=orjson.OPT_SORT_KEYS)


def ops_to_json(ops: Iterable[Op]) -> list[list]:
    out: list[list] = []
    for op in ops:
        if isinstance(op, Put):
            e = op.entry
            out.append(["p", e.path, e.ds_class, dict(e.attributes), sorted(e.flags)])
        else:
            out.append(["d", op.path])
    return out


def ops_from_json(raw: object, trusted: bool = False) -> tuple[Op, ...]:
    """Rebuild operations; unless `trusted` (our own log), validate every entry."""
    if not isinstance(raw, list):
        raise DSError("malformed operations: not a list")
    ops: list[Op] = []
    for item in raw:
        if not isinstance(item, list) or not item:
            raise DSError(f"malformed operation {item!r}")
        kind = item[0]
        if kind == "p" and len(item) == 5:
            _, path, ds_class, attrs, flags = item
            if trusted:
                entry = build_entry(path, ds_class,
                                    MappingProxyType({k: tuple(v) for k, v in attrs.items()}),
                                    frozenset(flags))
            else:
                if not isinstance(attrs, dict) or not isinstance(flags, list):
                    raise DSError(f"malformed put operation for {path!r}")
                entry = Entry.make(path, ds_class, attrs, flags)
            ops.append(Put(entry))
        elif kind == "d" and len(item) == 2:
            ops.append(Delete(item[1] if trusted else normalize(item[1])))
        else:
            raise DSError(f"malformed operation {str(item)[:80]!r}")
    return tuple(ops)


def check_ops(ops: Sequence[Op]) -> None:
    """Refuse a batch that is too big or holds an invalid operation."""
    if len(ops) > MAX_OPS_PER_WRITE:
        raise DSError(f"a write holds {len(ops)} operations (at most {MAX_OPS_PER_WRITE}; "
                      "split it into several writes)")
    for op in ops:
        if isinstance(op, Put):
            validate_entry(op.entry)
        elif isinstance(op, Delete):
            if normalize(op.path) != op.path:
                raise DSError(f"delete of non-canonical DS path {op.path!r}")
            if op.path == ROOT:
                raise DSError("refusing to delete the root: delete its children one by one")
        else:
            raise DSError(f"unknown operation {op!r}")


def next_chain(chain: bytes, ops_bytes: bytes) -> bytes:
    return hashlib.blake2b(chain + ops_bytes, digest_size=CHAIN_SIZE).digest()


@dataclass(frozen=True)
class Effect:
    """What a batch does, independent of operation order: subtree deletions first (a
    minimal set: none lies under another), then puts (sorted by path, parents first)."""

    deletes: frozenset[str]
    puts: dict[str, Entry]


def effect_of(ops: Iterable[Op]) -> Effect:
    """Reduce an ordered batch to its net effect, the contract both servers apply.

    A delete cancels every earlier put at or below its path; a later put survives. The
    surviving puts are applied after the deletes, so a delete followed by a put of the same
    path leaves a fresh entry without children. Missing ancestors of surviving puts are
    created as containers by the store, identically on both servers. Linear in the batch
    (each path checks at most `MAX_DEPTH` ancestors).
    """
    last_put: dict[str, tuple[int, Entry]] = {}
    deleted_at: dict[str, int] = {}
    for i, op in enumerate(ops):
        if isinstance(op, Put):
            last_put[op.entry.path] = (i, op.entry)
        else:
            deleted_at[op.path] = i
    puts: dict[str, Entry] = {}
    for p, (i, entry) in last_put.items():
        if deleted_at and (deleted_at.get(p, -1) > i
                           or any(deleted_at.get(a, -1) > i for a in ancestors(p))):
            continue
        puts[p] = entry
    deletes = frozenset(d for d in deleted_at
                        if not any(a in deleted_at for a in ancestors(d)))
    ordered = dict(sorted(puts.items(), key=lambda kv: (depth(kv[0]), kv[0])))
    return Effect(deletes, ordered)
