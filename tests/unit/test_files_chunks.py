"""Chunked reading: digests, change detection, restarts, and a round trip to the applier."""
from __future__ import annotations

import hashlib
import os
from pathlib import Path

import pytest

from switchover.replication.files.applier import Applier
from switchover.replication.files.chunks import (
    Chunk, ChunkReader, End, FileChanged, NotRegularFile, Start, read_stable, stream)
from switchover.replication.files.spec import MirrorSpec


def test_chunks_and_digests(tmp_path: Path) -> None:
    data = os.urandom(10_000)
    (tmp_path / "f").write_bytes(data)
    reader = ChunkReader(tmp_path / "f", chunk_size=4096)
    chunks = list(reader)
    assert [c.offset for c in chunks] == [0, 4096, 8192]
    assert b"".join(c.data for c in chunks) == data
    assert all(c.sha256 == hashlib.sha256(c.data).hexdigest() for c in chunks)
    assert reader.sha256 == hashlib.sha256(data).hexdigest()
    assert reader.version.size == 10_000


def test_chunk_digests_can_be_left_to_the_whole_file(tmp_path: Path) -> None:
    (tmp_path / "f").write_bytes(b"abc" * 10)
    events = list(stream(tmp_path / "f", chunk_size=8, chunk_digests=False))
    assert all(e.sha256 is None for e in events if isinstance(e, Chunk))
    assert events[-1] == End(hashlib.sha256(b"abc" * 10).hexdigest())


def test_empty_file(tmp_path: Path) -> None:
    (tmp_path / "e").write_bytes(b"")
    events = list(stream(tmp_path / "e"))
    assert isinstance(events[0], Start) and events[1] == End(hashlib.sha256(b"").hexdigest())
    assert len(events) == 2


def test_change_during_read_detected(tmp_path: Path) -> None:
    path = tmp_path / "f"
    path.write_bytes(b"a" * 100)
    reader = ChunkReader(path, chunk_size=10)
    it = iter(reader)
    next(it)
    with path.open("ab") as f:
        f.write(b"more")
    with pytest.raises(FileChanged):
        list(it)


def test_replaced_during_read_detected(tmp_path: Path) -> None:
    path = tmp_path / "f"
    path.write_bytes(b"a" * 20)
    it = iter(ChunkReader(path, chunk_size=10))
    next(it)
    (tmp_path / "g").write_bytes(b"b" * 20)
    os.replace(tmp_path / "g", path)
    with pytest.raises(FileChanged, match="replaced"):
        list(it)


def test_stream_restarts_with_fresh_version(tmp_path: Path) -> None:
    path = tmp_path / "f"
    path.write_bytes(b"a" * 30)
    events = []
    for ev in stream(path, chunk_size=10):
        events.append(ev)
        if len(events) == 2:  # after the first chunk the file changes once
            path.write_bytes(b"b" * 25)
    starts = [e for e in events if isinstance(e, Start)]
    assert [s.version.size for s in starts] == [30, 25]
    last = events[events.index(starts[1]):]
    assert b"".join(e.data for e in last if isinstance(e, Chunk)) == b"b" * 25
    assert events[-1] == End(hashlib.sha256(b"b" * 25).hexdigest())


def test_stream_gives_up_on_a_file_that_never_settles(tmp_path: Path) -> None:
    path = tmp_path / "f"
    path.write_bytes(b"a" * 30)
    n = 0
    with pytest.raises(FileChanged, match="still changing"):
        for ev in stream(path, chunk_size=10, max_restarts=2):
            if isinstance(ev, Chunk):
                n += 1
                path.write_bytes(b"x" * (30 + n))


def test_symlinks_and_specials_refused(tmp_path: Path) -> None:
    (tmp_path / "t").write_bytes(b"t")
    (tmp_path / "l").symlink_to(tmp_path / "t")
    with pytest.raises(NotRegularFile):
        ChunkReader(tmp_path / "l")
    with pytest.raises(NotRegularFile):
        ChunkReader(tmp_path)


def test_round_trip_through_applier(tmp_path: Path) -> None:
    """What the FileMonitor will do: stream on the active, apply on the backup."""
    a, b = tmp_path / "A", tmp_path / "B"
    src = a / "I3/IC/Flows/big.bin"
    src.parent.mkdir(parents=True)
    b.mkdir()
    data = os.urandom(3 * 1024 + 17)
    src.write_bytes(data)
    os.chmod(src, 0o640)
    app = Applier(b, MirrorSpec.build(b))
    inc = None
    for ev in stream(src, chunk_size=1024):
        if isinstance(ev, Start):
            v = ev.version
            inc = app.begin_file("I3/IC/Flows/big.bin", v.size, v.mode, v.mtime_ns)
        elif isinstance(ev, Chunk):
            assert inc is not None
            inc.write(ev.offset, ev.data, ev.sha256)
        else:
            assert inc is not None
            inc.commit(ev.sha256)
    dst = b / "I3/IC/Flows/big.bin"
    assert dst.read_bytes() == data
    assert dst.stat().st_mtime_ns == src.stat().st_mtime_ns
    assert dst.stat().st_mode & 0o777 == 0o640
    version, content, digest = read_stable(dst)
    assert content == data and digest == hashlib.sha256(data).hexdigest()
