"""Full sync by a copy of the active's store file (snapshot.py, fullsync.py): the copy is
consistent while the active writes, checked against the head the active announced
before it replaces the backup's store, and the stream follows from its seq."""
from __future__ import annotations

import sqlite3
import threading
from pathlib import Path
from typing import Any

import pytest

from switchover.replication.ds import DSStore, Entry, Put
from switchover.replication.ds.fullsync import Phases
from switchover.replication.ds.fullsync import fetch as fetch_copy
from switchover.replication.ds import snapshot
from switchover.replication.ds.remote import RemoteTree
from switchover.replication.ds.resync import copy_store
from switchover.replication.ds.snapshot import (CHUNK, SNAPSHOT_CHUNK, SNAPSHOT_OPEN, Snapshots,
                                                start_copy)
from switchover.replication.ds.tree import DSError


def users(n: int, start: int = 0) -> list[Put]:
    return [Put(Entry.make(f"/Config/Users/u{i:05d}", "User", {"Extension": str(i)}))
            for i in range(start, start + n)]


class Wire:
    """The active's Snapshots called in-process, as RemoteTree.request would."""

    def __init__(self, snapshots: Snapshots) -> None:
        self.snapshots = snapshots
        self.tamper: Any = None
        self.chunks = 0

    def __call__(self, eid: str, body: Any) -> tuple[Any, tuple[bytes, ...]]:
        if eid == SNAPSHOT_OPEN:
            return self.snapshots.open(), ()
        assert eid == SNAPSHOT_CHUNK
        self.chunks += 1
        answer, frames = self.snapshots.chunk(body)
        if self.tamper is not None:
            answer, frames = self.tamper(answer, frames)
        return answer, tuple(frames)


def fetch(wire: Any, dest: Path, cancel: threading.Event) -> dict[str, Any]:
    return fetch_copy(wire, dest, cancel, Phases())


@pytest.fixture
def active(tmp_path: Path) -> Any:
    with DSStore(tmp_path / "active.sqlite", durability="normal") as store:
        for start in range(0, 20_000, 5_000):
            store.write(users(5_000, start))
        yield store


def test_an_empty_backup_takes_the_copy_and_follows_from_its_seq(active: DSStore,
                                                                  tmp_path: Path) -> None:
    wire = Wire(Snapshots(active.path, active.read_file))
    incoming = tmp_path / "backup.sqlite.incoming"
    head = fetch(wire, incoming, threading.Event())
    assert wire.chunks == -(-head["size"] // CHUNK) > 1  # several frames
    with DSStore(tmp_path / "backup.sqlite", durability="normal") as backup:
        backup.replace(incoming)
        assert not incoming.exists()
        assert backup.head == active.head and backup.count() == active.count()
        assert backup.subtree_hash("/") == active.subtree_hash("/")
        assert backup.verify() == []
        cs = active.write(users(1, 99_999))
        assert backup.apply(cs)  # the stream follows from the copy's seq
        assert backup.subtree_hash("/") == active.subtree_hash("/")


def test_the_copy_is_one_commit_while_the_active_writes(active: DSStore, tmp_path: Path) -> None:
    snapshots = Snapshots(active.path, active.read_file)
    stop = threading.Event()

    def writer() -> None:
        n = 50_000
        while not stop.is_set():
            active.write(users(50, n))
            n += 50

    thread = threading.Thread(target=writer)
    thread.start()
    try:
        heads = []
        for k in range(2):
            incoming = tmp_path / f"copy{k}"
            heads.append(fetch(Wire(snapshots), incoming, threading.Event()))
            with DSStore(incoming, durability="normal") as copy:
                assert copy.verify() == []  # hashes, count and log agree: one commit
                assert copy.seq == heads[-1]["seq"]
    finally:
        stop.set()
        thread.join()


@pytest.mark.parametrize("damage, complaint", [
    (lambda a, f: (a, [bytes([f[0][0] ^ 1]) + f[0][1:]]), "damaged"),
    (lambda a, f: ({**a, "index": a["index"] + 1}, f), "out of place"),
])
def test_a_damaged_copy_never_replaces_the_store(active: DSStore, tmp_path: Path,
                                                 damage: Any, complaint: str) -> None:
    wire = Wire(Snapshots(active.path, active.read_file))
    wire.tamper = damage
    incoming = tmp_path / "incoming"
    with pytest.raises(DSError, match=complaint):
        fetch(wire, incoming, threading.Event())
    assert not incoming.exists()


def test_a_copy_that_disagrees_with_the_announced_head_is_refused(active: DSStore,
                                                                  tmp_path: Path) -> None:
    snapshots = Snapshots(active.path, active.read_file)
    real_open = snapshots.open
    snapshots.open = lambda: {**real_open(), "seq": 1}  # type: ignore[method-assign]
    incoming = tmp_path / "incoming"
    with pytest.raises(DSError, match="holds seq"):
        fetch(Wire(snapshots), incoming, threading.Event())
    assert not incoming.exists()


def test_a_copy_with_a_wrong_head_is_refused_and_the_backup_keeps_its_store(
        active: DSStore, tmp_path: Path) -> None:
    snapshots = Snapshots(active.path, active.read_file)
    real_open = snapshots.open
    snapshots.open = lambda: {**real_open(), "chain": "00" * 16}  # type: ignore[method-assign]
    wire = Wire(snapshots)
    with DSStore(tmp_path / "backup.sqlite", durability="normal") as backup:
        backup.write(users(3, 70_000))  # its own history, diverged from the active's
        before = (backup.head, backup.count(), backup.subtree_hash("/"))
        remote = RemoteTree(lambda eid, body, bulk: wire(eid, body))
        with pytest.raises(DSError, match="holds chain"):
            copy_store(backup, remote, "diverged")
        assert (backup.head, backup.count(), backup.subtree_hash("/")) == before
        assert backup.verify() == []
        assert not (tmp_path / "backup.sqlite.incoming").exists()
        assert set(remote.phases) == {"snapshot", "transfer", "fsync"}  # refused at verify


def test_the_file_stays_the_copys_commit_while_writers_go_on(active: DSStore,
                                                              tmp_path: Path) -> None:
    """The copy reads the file itself under its read transaction: a commit and a
    checkpoint meanwhile must not write the newer pages into what it reads ("file")."""
    other = sqlite3.connect(active.path, isolation_level=None, check_same_thread=False)
    calls = []

    def read_file(offset: int, size: int, file_id: tuple[int, int]) -> bytes:
        if not calls:
            active.write(users(2_000, 60_000))  # rewrites pages the copy has not read
            other.execute("PRAGMA wal_checkpoint(PASSIVE)").fetchall()
        calls.append(offset)
        return active.read_file(offset, size, file_id)

    before, count = active.head, active.count()
    copy, head = start_copy(active.path, read_file)
    data = b"".join(copy.piece(i, 10) for i in range(copy.chunks))
    other.close()
    assert copy.how == "file" and (head["seq"], head["chain"]) == (before[0], before[1].hex())
    (tmp_path / "copy.sqlite").write_bytes(data)
    with DSStore(tmp_path / "copy.sqlite", durability="normal") as got:
        assert got.head == before and got.verify() == []
        assert got.count() == count < active.count()


def test_a_writer_between_checkpoint_and_copy_falls_back_to_serialize(
        active: DSStore, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(snapshot, "_wal_empty", lambda path: False)
    wire = Wire(Snapshots(active.path, active.read_file))
    incoming = tmp_path / "incoming"
    phases = Phases()
    head = fetch_copy(wire, incoming, threading.Event(), phases)
    assert "active read (serialize)" in phases.ms
    with DSStore(incoming, durability="normal") as got:
        assert got.seq == head["seq"] == active.seq and got.verify() == []


def test_a_copy_stops_when_the_store_file_is_replaced_under_it(active: DSStore,
                                                               tmp_path: Path) -> None:
    """This host became the backup and took another store while a copy of its old one
    was read: the copy fails rather than mixing the two files."""
    other = tmp_path / "other.sqlite"
    with DSStore(other, durability="normal") as src:
        src.write(users(10))
    replaced = threading.Event()

    def read_file(offset: int, size: int, file_id: tuple[int, int]) -> bytes:
        if offset and not replaced.is_set():
            replaced.set()
            active.replace(other)
        return active.read_file(offset, size, file_id)

    copy, _ = start_copy(active.path, read_file)
    copy.piece(0, 10)
    with pytest.raises(DSError, match="replaced while a copy"):
        copy.piece(copy.chunks - 1, 10)
