"""The backup's applier: turns the active's file operations into atomic local changes.

Guarantees (see docs/files.md):

- No partial file is ever visible. Bytes go to a hidden temporary file in the target's
  own directory (`.<name>.so-tmp-<random>`); `commit` checks size and sha256, sets mode and
  mtime on the open descriptor, fsyncs it, `os.replace`s it over the name and fsyncs the
  directory. A crash leaves the old version or nothing; `cleanup_stale_temps` removes the
  leftovers at start.
- Nothing outside the mirrored directories is touched. Every path is logical (relative
  to `root`), must be mirrored by the spec, and is reached by opening one directory at a
  time with O_NOFOLLOW (`directories.py`): a symlink anywhere on the way (say
  `Flows/x -> /etc`) is refused, never written through.
- The latest operation on a path wins: a newer `begin_file` supersedes an incomplete one,
  and so do `delete`, `rename` and `rmdir_tree`; the superseded transfer can no longer
  commit, so the result is one version or the other, never a mix.

One owner (the FileMonitor actor) drives an Applier; it is not meant for several threads.
"""
from __future__ import annotations

import errno
import hashlib
import os
import shutil
import stat
from pathlib import Path, PurePosixPath

from switchover.replication.files.errors import (
    ApplyError, MissingSource, OutsideMirror, Superseded, SymlinkRefused, VerifyError)
from switchover.replication.files.atomic import CLOEXEC, finish, open_temp, put_in_place, syncfs
from switchover.replication.files.directories import DIR_FLAGS, Directories
from switchover.replication.files.incoming import Incoming
from switchover.replication.files.spec import MirrorSpec, has_exception, is_temp_name

__all__ = ["Applier", "Incoming", "ApplyError", "MissingSource", "OutsideMirror",
           "Superseded", "SymlinkRefused", "VerifyError"]

_FILE_FLAGS = os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | CLOEXEC


class Applier(Directories):
    """Applies file operations under `root`, only where `spec` mirrors."""

    def __init__(self, root: Path | str, spec: MirrorSpec, *, dir_mode: int = 0o755) -> None:
        self.root = Path(root)
        self._spec = spec
        self._file_kinds: dict[PurePosixPath, bool] = {}
        self._kind_of = spec.file_classifier()
        #: Normalised logical directories (strings) seen by `put_file`, as paths.
        self._parents: dict[str, PurePosixPath] = {}
        self._dirs: dict[PurePosixPath, int] | None = None
        self.dir_mode = dir_mode
        self._incoming: dict[PurePosixPath, Incoming] = {}

    # -- paths --------------------------------------------------------------------------

    @property
    def spec(self) -> MirrorSpec:
        return self._spec

    @spec.setter
    def spec(self, spec: MirrorSpec) -> None:
        self._spec = spec
        self._file_kinds.clear()
        self._kind_of = spec.file_classifier()

    def _logical(self, relpath: str | PurePosixPath, is_dir: bool) -> PurePosixPath:
        path = PurePosixPath("/", *self._split(relpath))
        if is_temp_name(path.name):
            raise OutsideMirror(f"{path}: reserved temporary name")
        if not self._mirrored(path, is_dir):
            raise OutsideMirror(f"{path}: not in a mirrored directory")
        return path

    def _mirrored(self, path: PurePosixPath, is_dir: bool) -> bool:
        """The spec's verdict; for a file, what its name and its directory say (the
        directory's part is remembered: a batch of files in one directory asks once)."""
        spec = self._spec
        if is_dir or has_exception(path.name, spec.exceptions):
            return spec.classify(path, is_dir) is not None
        parent = path.parent
        known = self._file_kinds.get(parent)
        if known is None:
            known = spec.classify(parent / "_", False) is not None
            if len(self._file_kinds) > 4096:
                self._file_kinds.clear()
            self._file_kinds[parent] = known
        if not known:
            return False
        return not (any(path == d.path for d in spec.excluded)
                    or any(path == h for h in spec.block_handlers))

    def _supersede(self, path: PurePosixPath, tree: bool = False) -> None:
        for p, inc in list(self._incoming.items()):
            if p == path or (tree and path in p.parents):
                inc._discard("superseded")

    def _forget(self, inc: Incoming) -> None:
        if self._incoming.get(inc.path) is inc:
            del self._incoming[inc.path]

    # -- operations ---------------------------------------------------------------------

    def begin_file(self, relpath: str | PurePosixPath, size: int, mode: int, mtime_ns: int,
                   sha256: str | None = None, *, per_chunk: bool = False) -> Incoming:
        """Start receiving a version of a file; any incomplete older one is superseded.

        Either `sha256` (here or at commit) covers the whole file, or `per_chunk` says
        every chunk will bring its own and be refused without one.
        """
        path = self._logical(relpath, False)
        if size < 0:
            raise ApplyError(f"{path}: negative size")
        self._supersede(path)
        cached = self._dirs.get(path.parent) if self._dirs is not None else None
        pfd = cached if cached is not None else self._parent(path, create=True)
        assert pfd is not None
        try:
            inc = Incoming(self, path, size, mode, mtime_ns, sha256, pfd,
                           owns_parent=cached is None, per_chunk=per_chunk)
        except BaseException:
            if cached is None:
                os.close(pfd)
            raise
        self._incoming[path] = inc
        return inc

    def put_file(self, relpath: str, size: int, mode: int, mtime_ns: int, sha256: str,
                 data: bytes | memoryview, *, sync: bool = True) -> None:
        """A whole file in one call: `begin_file`, `write` and `commit` without their
        per-file objects (small files arrive whole, thousands at a time).

        The same guarantees: the bytes are checked against `sha256` and `size` before
        anything is written, go to a hidden temporary file in the target's directory
        (reached without following a symlink) and replace the name in one rename; any
        incomplete transfer of the path is superseded.
        """
        path = self._fast_logical(relpath)
        if path is None:  # not in the plain form: the general path says why
            inc = self.begin_file(relpath, size, mode, mtime_ns, sha256)
            try:
                inc.write(0, data)
                inc.commit(sync=sync)
            finally:
                inc.abort()
            return
        ppath, name = path
        if len(data) != size:
            raise VerifyError(f"{relpath}: got {len(data)} of {size} bytes")
        if not sha256 or hashlib.sha256(data).hexdigest() != sha256.lower():
            raise VerifyError(f"{relpath}: sha256 mismatch")
        if self._incoming:
            self._supersede(ppath / name)
        dirs = self._dirs
        pfd = dirs.get(ppath) if dirs is not None else None
        owned = pfd is None
        if owned:
            pfd = self._parent(ppath / name, create=True)
            assert pfd is not None
        try:
            tmp, fd = open_temp(name, pfd)
            try:
                try:
                    view = memoryview(data)
                    while view:
                        view = view[os.write(fd, view):]
                except BaseException:
                    os.close(fd)
                    raise
                finish(fd, mode, mtime_ns, sync)
                put_in_place(tmp, name, pfd, relpath, sync)
            except BaseException:
                try:
                    os.unlink(tmp, dir_fd=pfd)
                except FileNotFoundError:
                    pass
                raise
        finally:
            if owned:
                os.close(pfd)

    def _fast_logical(self, text: str) -> tuple[PurePosixPath, str] | None:
        """(directory, name) of a normalised logical file path that the spec mirrors;
        OutsideMirror if it is not mirrored; None for any other form of path (the caller
        then takes the general route, which accepts or refuses it)."""
        if not isinstance(text, str) or not text.startswith("/"):
            return None
        parent, _, name = text.rpartition("/")
        ppath = self._parents.get(parent)
        if ppath is None:
            if parent == "/" or "\x00" in parent or (
                    parent and (str(PurePosixPath(parent)) != parent
                                or ".." in parent.split("/"))):
                return None
            ppath = PurePosixPath(parent or "/")
            if len(self._parents) > 4096:
                self._parents.clear()
            self._parents[parent] = ppath
        if name in ("", ".", "..") or "\x00" in name:
            return None
        if is_temp_name(name):
            raise OutsideMirror(f"{text}: reserved temporary name")
        if self._kind_of(text) is None:
            raise OutsideMirror(f"{text}: not in a mirrored directory")
        return ppath, name

    def pending(self) -> list[Incoming]:
        """Transfers not yet committed or aborted (e.g. to abort on disconnect)."""
        return list(self._incoming.values())

    def delete(self, relpath: str | PurePosixPath) -> bool:
        """Remove a file (or a symlink, never its target); False if it was not there."""
        path = self._logical(relpath, False)
        self._supersede(path)
        pfd = self._parent(path, create=False)
        if pfd is None:
            return False
        try:
            os.unlink(path.name, dir_fd=pfd)
            os.fsync(pfd)
            return True
        except FileNotFoundError:
            return False
        except IsADirectoryError as e:
            raise ApplyError(f"{path}: is a directory; use rmdir_tree") from e
        finally:
            os.close(pfd)

    def rename(self, old: str | PurePosixPath, new: str | PurePosixPath) -> None:
        """Move a file or directory within the mirror in one rename."""
        is_dir = self._is_dir(old)
        src = self._logical(old, is_dir)
        dst = self._logical(new, is_dir)
        self._supersede(src, tree=True)
        self._supersede(dst, tree=True)
        self._forget_dirs()
        sfd = self._parent(src, create=False)
        if sfd is None:
            raise MissingSource(f"{src}: not on this server")
        try:
            dfd = self._parent(dst, create=True)
            assert dfd is not None
            try:
                os.replace(src.name, dst.name, src_dir_fd=sfd, dst_dir_fd=dfd)
                os.fsync(dfd)
                os.fsync(sfd)
            except FileNotFoundError as e:
                raise MissingSource(f"{src}: not on this server") from e
            except OSError as e:
                raise ApplyError(f"{src} -> {dst}: {e.strerror}") from e
            finally:
                os.close(dfd)
        finally:
            os.close(sfd)

    def mkdir(self, relpath: str | PurePosixPath, mode: int | None = None) -> None:
        """Create a directory (and missing parents); an existing directory is fine."""
        path = self._logical(relpath, True)
        fd = self._open_dir(path.parts[1:], create=True)
        assert fd is not None
        try:
            if mode is not None:
                os.fchmod(fd, stat.S_IMODE(mode))
        finally:
            os.close(fd)

    def rmdir_tree(self, relpath: str | PurePosixPath) -> bool:
        """Remove a directory and everything in it (symlinks inside are unlinked, never
        followed). Whatever is at the path goes; False if nothing was there."""
        path = self._logical(relpath, True)
        self._supersede(path, tree=True)
        self._forget_dirs()
        pfd = self._parent(path, create=False)
        if pfd is None:
            return False
        try:
            try:
                st = os.lstat(path.name, dir_fd=pfd)
            except FileNotFoundError:
                return False
            if stat.S_ISDIR(st.st_mode):
                shutil.rmtree(path.name, dir_fd=pfd)
            else:
                os.unlink(path.name, dir_fd=pfd)
            os.fsync(pfd)
            return True
        finally:
            os.close(pfd)

    def set_attrs(self, relpath: str | PurePosixPath, mode: int,
                  mtime_ns: int | None = None) -> None:
        """Set mode (and a file's mtime) without touching content: a Plan's `attrs`."""
        is_dir = self._is_dir(relpath)
        path = self._logical(relpath, is_dir)
        pfd = self._parent(path, create=False)
        if pfd is None:
            raise MissingSource(f"{path}: not on this server")
        try:
            flags = DIR_FLAGS if is_dir else _FILE_FLAGS
            try:
                fd = os.open(path.name, flags, dir_fd=pfd)
            except FileNotFoundError as e:
                raise MissingSource(f"{path}: not on this server") from e
            except OSError as e:
                if e.errno == errno.ELOOP:
                    raise SymlinkRefused(f"{path}: is a symlink") from e
                raise
            try:
                os.fchmod(fd, stat.S_IMODE(mode))
                if mtime_ns is not None and not is_dir:
                    os.utime(fd, ns=(mtime_ns, mtime_ns))
            finally:
                os.close(fd)
        finally:
            os.close(pfd)

    def sync(self) -> None:
        """Make every write under `root` durable (after commits with `sync=False`)."""
        try:
            fd = os.open(self.root, os.O_RDONLY | os.O_DIRECTORY | CLOEXEC)
        except OSError:
            return
        try:
            if syncfs is not None:
                syncfs(fd)
            else:
                os.sync()
        finally:
            os.close(fd)

    def cleanup_stale_temps(self) -> int:
        """Remove temporary files a killed run left in the mirrored directories."""
        live = {(inc.path.parent, inc.tmp_name) for inc in self._incoming.values()}
        removed = 0
        for _kind, d in self.spec.dirs():
            try:
                fd = self._open_dir(d.path.parts[1:], create=False)
            except ApplyError:
                continue
            if fd is None:
                continue
            try:
                walk = (os.fwalk(".", dir_fd=fd, follow_symlinks=False) if d.recursive
                        else iter([(".", [], os.listdir(fd), fd)]))
                for rel, _dirs, files, dfd in walk:
                    here = d.path / rel
                    for name in files:
                        if is_temp_name(name) and (here, name) not in live:
                            try:
                                if stat.S_ISREG(os.lstat(name, dir_fd=dfd).st_mode):
                                    os.unlink(name, dir_fd=dfd)
                                    removed += 1
                            except FileNotFoundError:
                                pass
            finally:
                os.close(fd)
        return removed
