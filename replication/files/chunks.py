"""Reading a file as chunks for the transport's binary frames.

A file is sent as `Start(version)`, `Chunk`s (each with its own sha256, so a corrupted
frame is caught where it lands) and `End(sha256)` for the whole file. The version is the
(size, mtime_ns) the reader saw when it opened the file; the backup's applier uses it to
let a newer transfer of the same path supersede an older one.

A file may change while it is read (an operator saving a prompt, a handler writing a
table). After every chunk the reader re-checks the open file's size and mtime, and at the
end it also checks that the name still points at the same inode; on any difference it
starts over with a fresh `Start`, so the receiver gets one whole version, never a mix.
Timestamps have the file system's granularity, so a same-size rewrite within one tick can
slip past this check; the watcher's event for that write makes the sender resend it.
"""
from __future__ import annotations

import hashlib
import os
import stat
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator, Union

CHUNK_SIZE = 1 << 20
MAX_RESTARTS = 5
_FLAGS = os.O_RDONLY | os.O_NOFOLLOW | getattr(os, "O_CLOEXEC", 0)


class FileChanged(Exception):
    """The file changed while it was read (too often, when raised by `stream`)."""


class NotRegularFile(Exception):
    """The path is a symlink, directory or special file: never sent as a file."""


@dataclass(frozen=True)
class Version:
    """What identifies one version of a file on the sender."""

    size: int
    mtime_ns: int
    mode: int


@dataclass(frozen=True)
class Start:
    """Begin (or restart) a transfer: the receiver calls `begin_file` with these."""

    version: Version


@dataclass(frozen=True)
class Chunk:
    """`data` belongs at `offset`; `sha256` is the chunk's own digest (hex), or None when
    the sender chose to rely on the whole-file digest alone (half the hashing)."""

    offset: int
    data: bytes
    sha256: str | None


@dataclass(frozen=True)
class End:
    """The whole file has been read unchanged; `sha256` is its digest (hex)."""

    sha256: str


Event = Union[Start, Chunk, End]


def _open(path: Path) -> tuple[int, os.stat_result]:
    try:
        fd = os.open(path, _FLAGS)
    except OSError as e:
        if os.path.islink(path):
            raise NotRegularFile(f"{path}: is a symlink") from e
        raise
    st = os.fstat(fd)
    if not stat.S_ISREG(st.st_mode):
        os.close(fd)
        raise NotRegularFile(f"{path}: not a regular file")
    return fd, st


class ChunkReader:
    """Reads one version of a file; iterating raises FileChanged if it moves underneath."""

    def __init__(self, path: Path | str, chunk_size: int = CHUNK_SIZE,
                 chunk_digests: bool = True) -> None:
        if chunk_size <= 0:
            raise ValueError("chunk_size must be positive")
        self.path = Path(path)
        self.chunk_size = chunk_size
        self.chunk_digests = chunk_digests
        self._fd, st = _open(self.path)
        self._ino = (st.st_dev, st.st_ino)
        self.version = Version(st.st_size, st.st_mtime_ns, stat.S_IMODE(st.st_mode))
        self.sha256: str | None = None
        if hasattr(os, "posix_fadvise"):
            os.posix_fadvise(self._fd, 0, 0, os.POSIX_FADV_SEQUENTIAL)

    def __enter__(self) -> ChunkReader:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        """Release the descriptor (iteration does so itself when it ends)."""
        if self._fd >= 0:
            os.close(self._fd)
            self._fd = -1

    def _check(self, path_too: bool = False) -> None:
        st = os.fstat(self._fd)
        if (st.st_size, st.st_mtime_ns) != (self.version.size, self.version.mtime_ns):
            raise FileChanged(f"{self.path}: changed while being read")
        if path_too:
            try:
                now = os.lstat(self.path)
            except FileNotFoundError as e:
                raise FileChanged(f"{self.path}: removed while being read") from e
            if (now.st_dev, now.st_ino) != self._ino:
                raise FileChanged(f"{self.path}: replaced while being read")

    def __iter__(self) -> Iterator[Chunk]:
        whole = hashlib.sha256()
        offset = 0
        try:
            while offset < self.version.size:
                data = os.read(self._fd, min(self.chunk_size, self.version.size - offset))
                if not data:
                    raise FileChanged(f"{self.path}: shorter than when opened")
                self._check()
                whole.update(data)
                digest = hashlib.sha256(data).hexdigest() if self.chunk_digests else None
                yield Chunk(offset, data, digest)
                offset += len(data)
            if os.read(self._fd, 1):
                raise FileChanged(f"{self.path}: longer than when opened")
            self._check(path_too=True)
            self.sha256 = whole.hexdigest()
        finally:
            self.close()


def stream(path: Path | str, chunk_size: int = CHUNK_SIZE, max_restarts: int = MAX_RESTARTS,
           chunk_digests: bool = True) -> Iterator[Event]:
    """Start, Chunk..., End for one consistent version; a new Start after each change.

    Raises FileChanged after `max_restarts` restarts (a file being written continuously:
    the sender tries again when the watcher reports it quiet), NotRegularFile for a
    symlink or special file, FileNotFoundError if it is gone.
    """
    for _attempt in range(max_restarts + 1):
        reader = ChunkReader(path, chunk_size, chunk_digests)
        yield Start(reader.version)
        try:
            for chunk in reader:
                yield chunk
        except FileChanged:
            continue
        finally:
            reader.close()  # also when the consumer stops early
        assert reader.sha256 is not None
        yield End(reader.sha256)
        return
    raise FileChanged(f"{path}: still changing after {max_restarts} restarts")


def read_stable(path: Path | str, chunk_size: int = CHUNK_SIZE,
                max_restarts: int = MAX_RESTARTS) -> tuple[Version, bytes, str]:
    """A whole file read consistently: (version, content, sha256). For small files."""
    version: Version | None = None
    parts: list[bytes] = []
    for ev in stream(path, chunk_size, max_restarts):
        if isinstance(ev, Start):
            version, parts = ev.version, []
        elif isinstance(ev, Chunk):
            parts.append(ev.data)
        else:
            assert version is not None
            return version, b"".join(parts), ev.sha256
    raise AssertionError("stream ended without End")
