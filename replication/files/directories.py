"""The mirror's directories, reached from the root one component at a time with
O_NOFOLLOW: a symlink anywhere on the way (say `Flows/x -> /etc`) is refused, never
followed, so nothing outside the mirrored tree is ever written through one.

Part of `Applier` (applier.py); a batch of writes keeps the directories it opened, so
the walk from the root is done once per directory, not once per file.
"""
from __future__ import annotations

import contextlib
import errno
import os
import stat
from pathlib import Path, PurePosixPath
from typing import TYPE_CHECKING, Iterator

from switchover.replication.files.atomic import CLOEXEC
from switchover.replication.files.errors import ApplyError, OutsideMirror, SymlinkRefused

if TYPE_CHECKING:
    from switchover.replication.files.incoming import Incoming

DIR_FLAGS = os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | CLOEXEC


class Directories:
    """Opens directories under `root` safely; `Applier` provides the attributes below."""

    root: Path
    dir_mode: int
    _dirs: dict[PurePosixPath, int] | None
    _incoming: dict[PurePosixPath, Incoming]

    @staticmethod
    def _split(relpath: str | PurePosixPath) -> tuple[str, ...]:
        text = str(relpath)
        parts = tuple(p for p in text.split("/") if p not in ("", "."))
        if "\x00" in text or not parts:
            raise OutsideMirror(f"{text!r}: not a path under the root")
        if ".." in parts:
            raise OutsideMirror(f"{text}: '..' is not allowed")
        return parts

    @contextlib.contextmanager
    def batch(self) -> Iterator[None]:
        """Keep opened directories for a batch of file writes (the walk from the root,
        one O_NOFOLLOW step per component, is then done once per directory). A rename or
        tree removal inside the batch forgets them."""
        self._dirs = {}
        try:
            yield
        finally:
            self._forget_dirs()
            self._dirs = None

    def _forget_dirs(self) -> None:
        if self._dirs:
            for inc in self._incoming.values():
                if not inc._owns_parent and inc._pfd >= 0:
                    inc._pfd = os.dup(inc._pfd)  # still writing there: its own fd now
                    inc._owns_parent = True
            for fd in self._dirs.values():
                os.close(fd)
            self._dirs.clear()

    def _open_dir(self, parts: tuple[str, ...], create: bool) -> int | None:
        """Open root/parts one component at a time, never following a symlink.

        Missing directories are created when `create`, else the answer is None.
        """
        try:
            fd = os.open(self.root, os.O_RDONLY | os.O_DIRECTORY | CLOEXEC)
        except FileNotFoundError as e:
            raise ApplyError(f"root {self.root} does not exist") from e
        try:
            for i, part in enumerate(parts):
                nfd = self._step(fd, part, "/" + "/".join(parts[: i + 1]), create)
                os.close(fd)
                fd = nfd
                if fd < 0:
                    return None
            return fd
        except BaseException:
            if fd >= 0:
                os.close(fd)
            raise

    def _step(self, fd: int, part: str, where: str, create: bool) -> int:
        """Open one child directory of `fd` (-1 if missing and not `create`)."""
        try:
            try:
                return os.open(part, DIR_FLAGS, dir_fd=fd)
            except FileNotFoundError:
                if not create:
                    return -1
                try:
                    os.mkdir(part, self.dir_mode, dir_fd=fd)
                except FileExistsError:
                    pass
                return os.open(part, DIR_FLAGS, dir_fd=fd)
        except OSError as e:
            if e.errno not in (errno.ELOOP, errno.ENOTDIR):
                raise
            if stat.S_ISLNK(os.lstat(part, dir_fd=fd).st_mode):
                raise SymlinkRefused(f"{where}: is a symlink; refusing to follow it") from e
            raise ApplyError(f"{where}: is not a directory") from e

    def _parent(self, path: PurePosixPath, create: bool) -> int | None:
        """An fd of the path's directory, the caller's to close."""
        if self._dirs is None:
            return self._open_dir(path.parent.parts[1:], create)
        fd = self._dirs.get(path.parent)
        if fd is None:
            fd = self._open_dir(path.parent.parts[1:], create)
            if fd is None:
                return None
            self._dirs[path.parent] = fd
        return os.dup(fd)

    def _is_dir(self, relpath: str | PurePosixPath) -> bool:
        """Whether the (unverified) path is a real directory here; used only to classify."""
        try:
            parts = self._split(relpath)
            pfd = self._open_dir(parts[:-1], create=False)
        except ApplyError:
            return False
        if pfd is None:
            return False
        try:
            return stat.S_ISDIR(os.lstat(parts[-1], dir_fd=pfd).st_mode)
        except OSError:
            return False
        finally:
            os.close(pfd)
