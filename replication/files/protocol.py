"""The file mirror's messages and the active's side of them, without sockets or actors.

The backup pulls; the active serves and announces. Requests go to the active's Notifier
service "FileMonitor":

- ``File Health Check``: is the File Monitor alive? (answered by the monitor actor)
- ``File Manifest`` {dir, recursive, exceptions}: the tree under one mirrored directory,
  in bulk frames (a manifest of 10,000 files is far past the 64 KiB envelope).
- ``File Read`` {paths}: several small files, each read as one consistent version
  (`chunks.read_stable`) with its sha256; contents packed into bulk frames.
- ``File Chunk`` {path, offset, length}: one range of a large file with its sha256 and
  the version (size, mtime, inode) it was read at, so the backup restarts a transfer when
  the file changes under it and the newer version wins.

Events: ``File Change`` {epoch, seq, count} with the changes in bulk frame 0, published on
both of the backup's channels (the backup keeps one copy per seq); ``Handlers Published``
{id, dir} when an operator publishes handlers on the active (`files.publish`): the backup
compares the handler directory once (the copy from the other channel is dropped by id).
The ``File Health Check`` answer carries the id of the active's last publish
(``published``), so a backup that missed the event catches up at its next compare.

Every path on the wire is logical (``/I3/IC/Flows/a.txt``); the active serves only what
its own watch spec mirrors, and never through a symlink at the final name.
"""
from __future__ import annotations

import hashlib
import os
import stat
from pathlib import Path, PurePosixPath
from typing import Any, Callable, Iterable, Mapping, Sequence

import orjson

from switchover.replication.files.chunks import NotRegularFile
from switchover.replication.files.manifest import Entry, Manifest, scan
from switchover.replication.files.spec import MirrorSpec, parse_exceptions

SERVICE = "FileMonitor"
HEALTH = "File Health Check"
MANIFEST = "File Manifest"
READ = "File Read"
CHUNK = "File Chunk"
CHANGE = "File Change"
PUBLISH = "Handlers Published"

#: Files up to this size travel whole in "File Read" batches; larger ones by ranges.
SMALL_FILE = 1 << 20
#: One bulk frame (the transport's limit is 8 MiB per frame, 16 frames per message).
FRAME_BYTES = 4 << 20
MAX_FRAMES = 16
#: Rows of a manifest per bulk frame (well under FRAME_BYTES for sane path lengths).
ROWS_PER_FRAME = 40_000
_FLAGS = os.O_RDONLY | os.O_NOFOLLOW | getattr(os, "O_CLOEXEC", 0)


class Refused(Exception):
    """A request the active will not serve; the message says why (sent as `rejected`)."""


def logical_path(text: Any) -> PurePosixPath:
    """Check a logical path from the wire: absolute, normalised, no `..`, no NUL."""
    if not isinstance(text, str) or not text.startswith("/") or "\x00" in text:
        raise Refused(f"not a logical path: {text!r}")
    path = PurePosixPath(text)
    if ".." in path.parts or str(path) != text:
        raise Refused(f"path is not normalised: {text!r}")
    return path


def served_file(spec: MirrorSpec, text: Any) -> Path:
    """The real path of a file the active may serve, or Refused."""
    path = logical_path(text)
    if spec.classify(path, False) is None:
        raise Refused(f"{path} is not mirrored here")
    return spec.real(path)


# -- manifests --------------------------------------------------------------------------

def manifest_frames(m: Manifest) -> list[bytes]:
    """A manifest as bulk frames of [rel, kind, size, mtime_ns, mode] rows."""
    rows = [[rel, e.kind[0], e.size, e.mtime_ns, e.mode] for rel, e in m.entries.items()]
    frames = [orjson.dumps(rows[i:i + ROWS_PER_FRAME])
              for i in range(0, len(rows), ROWS_PER_FRAME)] or [b"[]"]
    if len(frames) > MAX_FRAMES:
        raise Refused(f"{len(rows)} entries: more than one manifest message can carry")
    return frames


def manifest_from_frames(frames: Iterable[bytes]) -> Manifest:
    entries: dict[str, Entry] = {}
    for frame in frames:
        for rel, kind, size, mtime_ns, mode in orjson.loads(frame):
            entries[str(rel)] = Entry("dir" if kind == "d" else "file", int(size),
                                      int(mtime_ns), int(mode))
    return Manifest(base=None, entries=entries)


def serve_manifest(spec: MirrorSpec, body: Mapping[str, Any]) -> tuple[dict, list[bytes]]:
    """Scan one directory the backup asked for (its own exceptions applied here)."""
    path = logical_path(body.get("dir"))
    if spec.classify(path, True) is None and not any(d.path == path for _, d in spec.dirs()):
        raise Refused(f"{path} is not a mirrored directory here")
    exceptions = parse_exceptions(";".join(map(str, body.get("exceptions") or ())))
    m = scan(spec.real(path), recursive=bool(body.get("recursive")), exceptions=exceptions)
    return {"dir": str(path), "count": len(m)}, manifest_frames(m)


# -- small files ------------------------------------------------------------------------

def serve_read(spec: MirrorSpec, body: Mapping[str, Any]) -> tuple[dict, list[bytes]]:
    """Read several whole files; rows [path, status, size, mtime, mode, sha, frame, offset].

    status is ok, missing (gone, or not a regular file any more), large (grew past
    SMALL_FILE: fetch by ranges) or changing (still being written: a later notice
    brings it). Paths are checked as `served_file` does, once per directory for the
    directory's part.
    """
    paths = body.get("paths")
    if not isinstance(paths, list):
        raise Refused("File Read needs a list of paths")
    served = _batch_checker(spec)
    rows: list[list[Any]] = []
    frames: list[list[bytes]] = [[]]
    filled = 0  # bytes in frames[-1]
    sha256 = hashlib.sha256
    for text in paths:
        real = served(text)
        try:
            got = read_small(real)
        except (OSError, NotRegularFile):  # gone, a symlink now, or unreadable
            rows.append([text, "missing", 0, 0, 0, None, 0, 0])
            continue
        if isinstance(got, str):
            rows.append([text, got, 0, 0, 0, None, 0, 0])
            continue
        st, data = got
        if filled + len(data) > FRAME_BYTES and filled:
            if len(frames) == MAX_FRAMES:
                rows.append([text, "later", 0, 0, 0, None, 0, 0])
                continue
            frames.append([])
            filled = 0
        rows.append([text, "ok", st.st_size, st.st_mtime_ns, stat.S_IMODE(st.st_mode),
                     sha256(data).hexdigest(), len(frames) - 1, filled])
        frames[-1].append(data)
        filled += len(data)
    return {"files": rows}, [b"".join(f) for f in frames]


def _batch_checker(spec: MirrorSpec) -> Callable[[Any], str]:
    """`served_file` for a batch: the real path (a string) of a file the active may
    serve, or Refused; a directory's part of the checks is done once."""
    kind_of = spec.file_classifier()
    root = str(spec.root).rstrip("/")
    good_dirs: set[str] = set()

    def served(text: Any) -> str:
        if not isinstance(text, str) or not text.startswith("/"):
            raise Refused(f"not a logical path: {text!r}")
        parent, _, name = text.rpartition("/")
        if parent not in good_dirs:
            if parent == "/" or (parent and logical_path(parent) is None):
                raise Refused(f"path is not normalised: {text!r}")
            good_dirs.add(parent)
        if name in ("", ".", "..") or "\x00" in name:
            raise Refused(f"path is not normalised: {text!r}")
        if kind_of(text) is None:
            raise Refused(f"{text} is not mirrored here")
        return root + text

    return served


def read_small(real: Path | str) -> tuple[os.stat_result, bytes] | str:
    """One consistent version of a small file, or "large" / "changing".

    One open (never through a symlink), one read of a byte more than the size, and a
    second fstat: a file that grew, shrank or was touched while it was read is reported
    as changing, and the watcher's next notice brings it.
    """
    fd = os.open(real, _FLAGS | os.O_NONBLOCK)
    try:
        st = os.fstat(fd)
        if not stat.S_ISREG(st.st_mode):
            raise NotRegularFile(str(real))
        if st.st_size > SMALL_FILE:
            return "large"
        data = os.read(fd, st.st_size + 1)
        after = os.fstat(fd)
    finally:
        os.close(fd)
    if len(data) != st.st_size or (after.st_size, after.st_mtime_ns) != (
            st.st_size, st.st_mtime_ns):
        return "changing"
    return st, data


# -- ranges of large files --------------------------------------------------------------

def read_range(real: Path, offset: int, length: int) -> tuple[list[int], bytes, bool]:
    """([size, mtime_ns, mode, inode], data, stable) for one range of a file.

    `stable` is False when the file's size, mtime or inode moved during the read, or the
    name now points at another file: the caller restarts the transfer.
    """
    fd = os.open(real, _FLAGS)
    try:
        before = os.fstat(fd)
        if not stat.S_ISREG(before.st_mode):
            raise NotRegularFile(str(real))
        data = os.pread(fd, max(0, min(length, before.st_size - offset)), offset)
        after = os.fstat(fd)
        now = os.lstat(real)
    finally:
        os.close(fd)
    stable = ((before.st_size, before.st_mtime_ns) == (after.st_size, after.st_mtime_ns)
              and (now.st_dev, now.st_ino) == (after.st_dev, after.st_ino))
    version = [after.st_size, after.st_mtime_ns, stat.S_IMODE(after.st_mode), after.st_ino]
    return version, data, stable


def serve_chunk(spec: MirrorSpec, body: Mapping[str, Any]) -> tuple[dict, list[bytes]]:
    real = served_file(spec, body.get("path"))
    offset, length = body.get("offset"), body.get("length")
    if not (type(offset) is int and type(length) is int and offset >= 0
            and 0 < length <= FRAME_BYTES):
        raise Refused(f"File Chunk needs offset >= 0 and 0 < length <= {FRAME_BYTES}")
    try:
        version, data, stable = read_range(real, offset, length)
    except (FileNotFoundError, NotADirectoryError, NotRegularFile):
        return {"status": "missing"}, []
    return ({"status": "ok" if stable else "changing", "version": version,
             "sha256": hashlib.sha256(data).hexdigest()}, [data])


# -- change notices ---------------------------------------------------------------------

def encode_changes(changes: Sequence[Sequence[Any]]) -> bytes:
    return orjson.dumps(list(changes))


def decode_changes(bulk: Sequence[bytes]) -> list[list[Any]]:
    if not bulk:
        return []
    rows = orjson.loads(bulk[0])
    if not isinstance(rows, list):
        raise ValueError("File Change: changes are not a list")
    return rows
