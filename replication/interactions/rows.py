"""The SQLite schema of the interaction store and the mapping between rows and models.

Interactions are stored as columns, not as one JSON document, so that promotion and
statistics are single set-based statements over 150,000 rows; only what no statement
needs to look into (email and callback content, transcript lines) is JSON.
"""
from __future__ import annotations

import sqlite3
from dataclasses import dataclass
from typing import Any, Iterator, NamedTuple

import orjson

from switchover.private import private_file

from .model import (
    TRANSCRIPT_TYPES,
    Interaction,
    InteractionType,
    QueueKind,
    State,
    TranscriptLine,
    callback_from_dict,
    email_from_dict,
    interaction_from_dict,
    line_from_dict,
)

SCHEMA = """
CREATE TABLE IF NOT EXISTS interactions (
    key TEXT PRIMARY KEY,
    type TEXT NOT NULL,
    state TEXT NOT NULL,
    queue_kind TEXT NOT NULL,
    queue TEXT NOT NULL,
    agent TEXT,
    workgroup TEXT,
    created_at REAL NOT NULL,
    queued_at REAL NOT NULL,
    seqno INTEGER NOT NULL,
    assigned_once INTEGER NOT NULL,
    content BLOB
);
CREATE INDEX IF NOT EXISTS interactions_by_type ON interactions (type, key);
-- One row per transcript line; the unique pair makes a resent line land exactly once.
CREATE TABLE IF NOT EXISTS lines (
    pos INTEGER PRIMARY KEY,
    key TEXT NOT NULL,
    message_id TEXT NOT NULL,
    body BLOB NOT NULL,
    UNIQUE (key, message_id)
);
-- Attachment and chat-file bytes, stored once by content; refs say who still needs them.
CREATE TABLE IF NOT EXISTS blobs (sha256 TEXT PRIMARY KEY, data BLOB NOT NULL);
CREATE TABLE IF NOT EXISTS blob_refs (
    key TEXT NOT NULL,
    sha256 TEXT NOT NULL,
    PRIMARY KEY (key, sha256)
) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS blob_refs_by_sha ON blob_refs (sha256);
-- The last sequence number applied from each type's stream.
CREATE TABLE IF NOT EXISTS streams (type TEXT PRIMARY KEY, seq INTEGER NOT NULL);
-- Per-queue statistics: one gauge per state, and running totals ('total:...').
CREATE TABLE IF NOT EXISTS stats (
    queue_kind TEXT NOT NULL,
    queue TEXT NOT NULL,
    type TEXT NOT NULL,
    metric TEXT NOT NULL,
    n INTEGER NOT NULL,
    PRIMARY KEY (queue_kind, queue, type, metric)
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS meta (name TEXT PRIMARY KEY, value BLOB);
-- Applications' request ids already applied (exactly-once across a resend): written in
-- the transaction of the operation they carried, on the active and on the backup alike.
CREATE TABLE IF NOT EXISTS requests (rid TEXT PRIMARY KEY, at REAL NOT NULL) WITHOUT ROWID;
"""

COLUMNS = ("key, type, state, queue_kind, queue, agent, workgroup, created_at, queued_at, "
           "seqno, assigned_once, content")
INSERT_INTERACTION = f"INSERT INTO interactions ({COLUMNS}) VALUES (?,?,?,?,?,?,?,?,?,?,?,?)"
INSERT_LINE = "INSERT OR IGNORE INTO lines (key, message_id, body) VALUES (?, ?, ?)"
INSERT_REF = "INSERT OR IGNORE INTO blob_refs (key, sha256) VALUES (?, ?)"
BUMP_STAT = (
    "INSERT INTO stats (queue_kind, queue, type, metric, n) VALUES (?, ?, ?, ?, ?) "
    "ON CONFLICT DO UPDATE SET n = n + excluded.n"
)
#: Gauges are a function of the rows; rebuilt wholesale after set-based changes.
REBUILD_GAUGES = (
    "DELETE FROM stats WHERE metric NOT LIKE 'total:%';",
    "INSERT INTO stats (queue_kind, queue, type, metric, n) "
    "SELECT queue_kind, queue, type, state, count(*) FROM interactions GROUP BY 1, 2, 3, 4;",
)
#: Blobs no interaction refers to any more.
COLLECT_BLOBS = (
    "DELETE FROM blobs WHERE NOT EXISTS "
    "(SELECT 1 FROM blob_refs r WHERE r.sha256 = blobs.sha256)"
)

ENTERED = "total:entered"
CLOSED = "total:closed"


class StatKey(NamedTuple):
    """One statistic of one queue: `metric` is a state (a gauge) or a 'total:...' count."""

    queue_kind: str
    queue: str
    type: str
    metric: str


@dataclass(frozen=True)
class SnapshotHeader:
    """First item of a snapshot: what it covers, where each stream stood, the totals."""

    types: tuple[InteractionType, ...]
    seqs: dict[InteractionType, int]
    totals: tuple[tuple[StatKey, int], ...]


@dataclass(frozen=True)
class SnapshotRecord:
    """One interaction of a snapshot and the bytes of every file it refers to."""

    interaction: Interaction
    blobs: tuple[tuple[str, bytes], ...] = ()


def content_of(interaction: Interaction) -> bytes | None:
    if interaction.email is not None:
        return orjson.dumps(interaction.email)
    if interaction.callback is not None:
        return orjson.dumps(interaction.callback)
    return None


def row_of(i: Interaction) -> tuple[Any, ...]:
    return (i.key, i.type.value, i.state.value, i.queue_kind.value, i.queue, i.agent,
            i.workgroup, i.created_at, i.queued_at, i.seqno, int(i.assigned_once),
            content_of(i))


#: Enum members by value (a dict lookup is several times cheaper than calling the enum).
_TYPES = {t.value: t for t in InteractionType}
_STATES = {s.value: s for s in State}
_KINDS = {k.value: k for k in QueueKind}


def from_row(row: tuple[Any, ...], transcript: tuple[TranscriptLine, ...] = ()) -> Interaction:
    key, type_, state, kind, queue, agent, wg, created, queued, seqno, once, content = row
    t = _TYPES[type_]
    doc = orjson.loads(content) if content is not None else None
    return Interaction(
        key=key, type=t, state=_STATES[state], queue_kind=_KINDS[kind], queue=queue,
        created_at=created, queued_at=queued, agent=agent, workgroup=wg, seqno=seqno,
        assigned_once=bool(once),
        email=email_from_dict(doc) if t is InteractionType.EMAIL and doc else None,
        callback=callback_from_dict(doc) if t is InteractionType.CALLBACK and doc else None,
        transcript=transcript,
    )


def line_of(body: bytes) -> TranscriptLine:
    return line_from_dict(orjson.loads(body))


def connect(path: str) -> sqlite3.Connection:
    """A connection in autocommit mode: the store opens every transaction itself."""
    private_file(path)  # customers' interactions: 0600 (switchover/private.py)
    # One thread at a time, not always the same one: the actor lends its store to its
    # snapshot load job while it holds back everything that would touch it (actor.py).
    conn = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
    conn.execute("PRAGMA journal_mode=WAL")
    # NORMAL in WAL survives a crash of the process; a power cut may lose the last
    # commits, which the next full synchronisation restores.
    conn.execute("PRAGMA synchronous=NORMAL")
    conn.execute("PRAGMA busy_timeout=5000")
    # 64 MiB of page cache (the default is 2 MiB): 150,000 interactions fit, so a random
    # update reads no page from the file.
    conn.execute("PRAGMA cache_size=-65536")
    return conn


def seq_of(db: Any, t: InteractionType) -> int:
    """The last sequence number `db` applied from `t`'s stream (0: none yet)."""
    found = db.execute("SELECT seq FROM streams WHERE type = ?", (t.value,)).fetchone()
    return found[0] if found else 0


def interactions(db: Any, types: tuple[InteractionType, ...]) -> Iterator[Interaction]:
    """Interactions of `types` in key order, with transcripts, in two streaming queries."""
    for t in types:
        heads = db.execute(f"SELECT {COLUMNS} FROM interactions WHERE type = ? "
                           "ORDER BY key", (t.value,))
        if t not in TRANSCRIPT_TYPES:
            yield from (from_row(r) for r in heads)
            continue
        lines = db.execute(
            "SELECT l.key, l.body FROM lines l JOIN interactions i USING (key) "
            "WHERE i.type = ? ORDER BY l.key, l.pos", (t.value,))
        pending = next(lines, None)
        for r in heads:
            while pending is not None and pending[0] < r[0]:
                pending = next(lines, None)
            transcript = []
            while pending is not None and pending[0] == r[0]:
                transcript.append(line_of(pending[1]))
                pending = next(lines, None)
            yield from_row(r, tuple(transcript))


# --- snapshot items on the wire: JSON first frame, file bytes as extra frames ---------


def snapshot_frames(item: SnapshotHeader | SnapshotRecord) -> list[bytes]:
    """Frames for one snapshot item; bulk bytes never go inside the JSON."""
    if isinstance(item, SnapshotHeader):
        return [orjson.dumps({
            "header": True, "types": item.types,
            "seqs": {t.value: s for t, s in item.seqs.items()},
            "totals": [[list(k), n] for k, n in item.totals],
        })]
    doc = {"interaction": item.interaction, "blobs": [sha for sha, _ in item.blobs]}
    return [orjson.dumps(doc), *(data for _, data in item.blobs)]


def snapshot_item(frames: list[bytes]) -> SnapshotHeader | SnapshotRecord:
    """The item `snapshot_frames` wrote; ValueError (or KeyError) on anything else."""
    doc = orjson.loads(frames[0])
    if doc.get("header"):
        return SnapshotHeader(
            types=tuple(InteractionType(t) for t in doc["types"]),
            seqs={InteractionType(t): int(s) for t, s in doc["seqs"].items()},
            totals=tuple((StatKey(*k), int(n)) for k, n in doc["totals"]),
        )
    if len(frames) - 1 != len(doc["blobs"]):
        raise ValueError("snapshot record: file frames do not match their names")
    return SnapshotRecord(
        interaction=interaction_from_dict(doc["interaction"]),
        blobs=tuple(zip(doc["blobs"], frames[1:])),
    )
