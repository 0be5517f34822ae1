"""The interaction store's transactions, and what each writes once per commit.

An operation changes a stream's number, a few statistics and the applied request ids;
written per operation they would cost more than the operation, so they are staged in
memory and written just before the COMMIT (`_write_staged`); a rolled-back savepoint
drops what it staged (`_mark`, `_undo`). The request ids also answer "was this request
applied already?" for an application that resends after a switchover.
"""
from __future__ import annotations

import sqlite3
from contextlib import contextmanager
from typing import Any, Iterable, Iterator

from . import rows
from .model import InteractionType


class Transactions:
    """Part of `InteractionStore` (store.py), which opens `_db` and the staging dicts."""

    _db: sqlite3.Connection
    _seqs: dict[InteractionType, int]
    _bumps: list[tuple[str, str, str, str, int]]
    _rids: dict[str, float]

    @contextmanager
    def _tx(self) -> Iterator[Any]:
        self._db.execute("BEGIN IMMEDIATE")
        try:
            yield self._db
            self._write_staged()
        except BaseException:
            self._discard_staged()
            self._db.execute("ROLLBACK")
            raise
        self._db.execute("COMMIT")

    def _write_staged(self) -> None:
        """Inside the transaction: writes what the operations staged (see __init__)."""
        db = self._db
        if self._seqs:
            db.executemany(
                "INSERT INTO streams (type, seq) VALUES (?, ?) "
                "ON CONFLICT DO UPDATE SET seq = excluded.seq",
                [(t.value, s) for t, s in self._seqs.items()])
        if self._bumps:
            totals: dict[tuple[str, str, str, str], int] = {}
            for *k, n in self._bumps:
                k = tuple(k)
                totals[k] = totals.get(k, 0) + n
            db.executemany(rows.BUMP_STAT, [(*k, n) for k, n in totals.items() if n])
        if self._rids:
            db.executemany("INSERT OR IGNORE INTO requests VALUES (?, ?)",
                           list(self._rids.items()))
        self._discard_staged()

    def _discard_staged(self) -> None:
        self._seqs = {}
        self._bumps = []
        self._rids = {}

    def _mark(self) -> tuple[dict[InteractionType, int], int, int]:
        return dict(self._seqs), len(self._bumps), len(self._rids)

    def _undo(self, mark: tuple[dict[InteractionType, int], int, int]) -> None:
        """Drops what was staged after `mark` (its savepoint rolled back)."""
        seqs, bumps, rids = mark
        self._seqs = seqs
        del self._bumps[bumps:]
        if len(self._rids) > rids:
            self._rids = dict(list(self._rids.items())[:rids])

    # --- streams ----------------------------------------------------------------------

    def seq(self, type_: InteractionType) -> int:
        """The last sequence number applied from `type_`'s stream (0: none yet)."""
        staged = self._seqs.get(type_)
        return staged if staged is not None else rows.seq_of(self._db, type_)

    def _set_seq(self, type_: InteractionType, seq: int) -> None:
        """Inside a transaction: written with the COMMIT."""
        self._seqs[type_] = seq

    def seen_request(self, rid: str) -> bool:
        """Whether an application request with this id was already applied here."""
        return rid in self._rids or self._db.execute(
            "SELECT 1 FROM requests WHERE rid = ?", (rid,)).fetchone() is not None

    def seen_requests(self, rids: Iterable[str]) -> set[str]:
        """The ids among `rids` already applied here: `seen_request` for a burst, in one
        query per 500 ids rather than one per request."""
        rids = list(rids)
        found = {r for r in rids if r in self._rids}
        for start in range(0, len(rids), 500):
            chunk = rids[start:start + 500]
            marks = ",".join("?" * len(chunk))
            found.update(r for (r,) in self._db.execute(
                f"SELECT rid FROM requests WHERE rid IN ({marks})", chunk))
        return found

    def forget_requests(self, before: float) -> int:
        """Forgets request ids older than `before` (epoch seconds): clients resend within
        their reconnect window, so older ids can no longer come back."""
        with self._tx():
            return self._db.execute("DELETE FROM requests WHERE at < ?", (before,)).rowcount
