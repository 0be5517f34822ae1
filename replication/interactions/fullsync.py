"""Full synchronisation in the interaction store: the active's consistent copy of some
types, and the backup's all-or-nothing load of it.

The backup "fully synchronises when the backup starts or a type is enabled" (interaction
recovery); the copy is read on a connection of its own, and the load is one transaction
(on the backup's load job, `actor.py`), so neither side stops serving while it runs.
"""
from __future__ import annotations

import sqlite3
from typing import Any, Callable, Iterable, Iterator

from . import rows
from .model import Interaction, InteractionType, InvalidOperation
from .recovery import EnabledTypes, shadowable
from .rows import SnapshotHeader, SnapshotRecord, StatKey


class FullSync:
    """Part of `InteractionStore` (store.py), which provides what is declared here."""

    path: str
    _db: sqlite3.Connection
    _tx: Callable[[], Any]
    _drop: Callable[[InteractionType], int]
    _set_seq: Callable[[InteractionType, int], None]
    _insert: Callable[..., None]
    _insert_rows: Callable[[list[tuple[Any, ...]]], None]

    def snapshot(
        self,
        types: Iterable[InteractionType],
        keep: Callable[[Interaction], bool] | None = None,
    ) -> Iterator[SnapshotHeader | SnapshotRecord]:
        """A consistent copy of `types`: a header, then one record per interaction.

        Read on a connection of its own inside one read transaction, so the copy is the
        state at one sequence number per stream while this store goes on applying; updates
        the backup receives meanwhile carry higher numbers and apply after the load. `keep`
        filters at the source (the mail filter), saving the network the skipped emails.
        """
        wanted = tuple(sorted(set(types)))
        db = rows.connect(self.path)
        try:
            db.execute("BEGIN")
            seqs = {t: rows.seq_of(db, t) for t in wanted}
            totals = tuple(
                (StatKey(*r[:4]), r[4])
                for r in db.execute(
                    "SELECT * FROM stats WHERE metric LIKE 'total:%' AND n != 0 AND type IN "
                    f"({','.join('?' * len(wanted))}) ORDER BY 1, 2, 3, 4",
                    [t.value for t in wanted],
                )
            )
            yield SnapshotHeader(types=wanted, seqs=seqs, totals=totals)
            for interaction in rows.interactions(db, wanted):
                if keep is not None and not keep(interaction):
                    continue
                blobs = tuple(
                    (a.sha256, found[0])
                    for a in interaction.attachments()
                    if (found := db.execute("SELECT data FROM blobs WHERE sha256 = ?",
                                            (a.sha256,)).fetchone())
                )
                yield SnapshotRecord(interaction=interaction, blobs=blobs)
            db.execute("COMMIT")
        finally:
            db.close()

    def load_snapshot(
        self,
        items: Iterable[SnapshotHeader | SnapshotRecord],
        keep: Callable[[Interaction], bool] | None = None,
    ) -> int:
        """Replaces the snapshot's types with its content, all or nothing; rows loaded.

        If the load fails half way (the active is lost during the synchronisation), the
        store keeps what it had before, and the next full synchronisation starts over.
        """
        it = iter(items)
        header = next(it)
        if not isinstance(header, SnapshotHeader):
            raise InvalidOperation("a snapshot starts with its header")
        loaded = 0
        with self._tx():
            for t in header.types:
                self._drop(t)
                self._set_seq(t, header.seqs.get(t, 0))
            self._db.executemany(rows.BUMP_STAT, [(*k, n) for k, n in header.totals])
            # Rows go in with executemany, a few thousand at a time; an interaction with
            # a transcript or files is inserted on its own, after the rows before it.
            batch: list[tuple[Any, ...]] = []
            for record in it:
                if not isinstance(record, SnapshotRecord):
                    raise InvalidOperation("a snapshot has one header")
                i = record.interaction
                if i.type not in header.types or (keep is not None and not keep(i)):
                    continue
                if i.transcript or record.blobs or i.attachments():
                    self._insert_rows(batch)
                    self._insert(i, dict(record.blobs))
                else:
                    batch.append(rows.row_of(i))
                    if len(batch) >= 5000:
                        self._insert_rows(batch)
                loaded += 1
            self._insert_rows(batch)
            for statement in rows.REBUILD_GAUGES:
                self._db.execute(statement)
        return loaded

    def resync_filtered(
        self,
        items: Iterable[SnapshotHeader | SnapshotRecord],
        enabled: EnabledTypes,
        mail_filter: bool,
    ) -> int:
        """Drops the shadows of the snapshot's types and reloads those the filter keeps.

        The active only reads (its `snapshot`), so nothing changes there: the reference's
        "no visible impact on the active server".
        """
        return self.load_snapshot(items, keep=lambda i: shadowable(i, enabled, mail_filter))
