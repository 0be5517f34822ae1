"""One file arriving on the backup: a hidden temporary file, verified, renamed into place.

Split from `applier.py`, which owns the paths and directories; see its docstring for the
guarantees. An `Incoming` is made only by `Applier.begin_file`.
"""
from __future__ import annotations

import hashlib
import os
from pathlib import PurePosixPath
from typing import TYPE_CHECKING, Literal

from switchover.replication.files.atomic import finish, open_temp, put_in_place
from switchover.replication.files.errors import ApplyError, Superseded, VerifyError

if TYPE_CHECKING:
    from switchover.replication.files.applier import Applier

class Incoming:
    """One file being received: chunks in order, then `commit` or `abort`."""

    def __init__(self, applier: Applier, path: PurePosixPath, size: int, mode: int,
                 mtime_ns: int, sha256: str | None, parent_fd: int,
                 owns_parent: bool = True, per_chunk: bool = False) -> None:
        self.path, self.size, self.mode, self.mtime_ns = path, size, mode, mtime_ns
        self.sha256 = sha256.lower() if sha256 else None
        self.state: Literal["open", "committed", "aborted", "superseded"] = "open"
        self.written = 0
        self._applier, self._pfd, self._owns_parent = applier, parent_fd, owns_parent
        #: Every chunk carries and is checked against its own sha256 (ranges of a large
        #: file read apart: the sender has no whole-file digest), so no second pass.
        self.per_chunk = per_chunk
        self._hash = hashlib.sha256()
        self.tmp_name, fd = open_temp(path.name, parent_fd)
        # Unbuffered: the transport hands over whole files or 1 MiB ranges, and a buffer
        # object per small file costs more than the write itself.
        self._fd = fd

    @property
    def version(self) -> tuple[int, int]:
        """(mtime_ns, size) as the sender read the file: identifies this transfer."""
        return (self.mtime_ns, self.size)

    def _check_open(self) -> None:
        if self.state == "superseded":
            raise Superseded(f"{self.path}: a later operation replaced this transfer")
        if self.state != "open":
            raise ApplyError(f"{self.path}: transfer already {self.state}")

    def write(self, offset: int, chunk: bytes | memoryview, sha256: str | None = None) -> None:
        """Append `chunk` at `offset`; offsets must follow on (the transport keeps order)."""
        self._check_open()
        if offset != self.written:
            raise ApplyError(f"{self.path}: chunk at {offset}, expected {self.written}")
        if self.written + len(chunk) > self.size:
            raise VerifyError(f"{self.path}: more than the announced {self.size} bytes")
        if sha256 is None and self.per_chunk:
            raise VerifyError(f"{self.path}: chunk at {offset} has no sha256")
        if sha256 is not None and hashlib.sha256(chunk).hexdigest() != sha256.lower():
            raise VerifyError(f"{self.path}: chunk at {offset} fails its sha256")
        view = memoryview(chunk)
        while view:
            view = view[os.write(self._fd, view):]
        if not self.per_chunk:
            self._hash.update(chunk)
        self.written += len(chunk)

    def commit(self, sha256: str | None = None, *, sync: bool = True) -> None:
        """Verify, make durable, and put the new version in place in one rename.

        `sync=False` skips the file and directory fsyncs: the rename is still atomic for
        every reader and survives a crash of this process, and the caller makes a whole
        batch durable at once with `Applier.sync()` (a thousand fsyncs cost seconds).
        """
        self._check_open()
        want = (sha256 or self.sha256 or "").lower()
        try:
            if not want and not self.per_chunk:
                raise VerifyError(f"{self.path}: no sha256 to verify against")
            if self.written != self.size:
                raise VerifyError(f"{self.path}: got {self.written} of {self.size} bytes")
            if want and not self.per_chunk and self._hash.hexdigest() != want:
                raise VerifyError(f"{self.path}: sha256 mismatch")
            fd, self._fd = self._fd, -1
            finish(fd, self.mode, self.mtime_ns, sync)
            put_in_place(self.tmp_name, self.path.name, self._pfd, self.path, sync)
        except BaseException:
            self._discard("aborted")
            raise
        self.state = "committed"
        self._release()

    def abort(self) -> None:
        """Drop the transfer; the old version (if any) stays as it was."""
        if self.state == "open":
            self._discard("aborted")

    def _discard(self, state: Literal["aborted", "superseded"]) -> None:
        self.state = state
        if self._fd >= 0:
            try:
                os.close(self._fd)
            except OSError:
                pass
            self._fd = -1
        try:
            os.unlink(self.tmp_name, dir_fd=self._pfd)
        except FileNotFoundError:
            pass
        self._release()

    def _release(self) -> None:
        if self._pfd >= 0:
            if self._owns_parent:
                os.close(self._pfd)
            self._pfd = -1
        self._applier._forget(self)
