"""One file written atomically in a directory held open (by descriptor, so no symlink is
followed on the way): a hidden temporary beside the target, its mode and mtime set on
the descriptor, fsynced, then renamed over the name, and the directory fsynced.

The one implementation behind `Applier.put_file` (small files, whole) and `Incoming`
(files arriving in chunks), so both keep the same guarantees: a reader sees the old
version or the new one, never a mix, and a crash leaves at most a temporary that
`Applier.cleanup_stale_temps` removes.
"""
from __future__ import annotations

import itertools
import os
import secrets
import stat
from typing import Any

from switchover.replication.files.errors import ApplyError
from switchover.replication.files.spec import TEMP_MARKER

CLOEXEC = getattr(os, "O_CLOEXEC", 0)
_TMP_FLAGS = os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | CLOEXEC
_TMP_PREFIX = secrets.token_hex(3)
_TMP_COUNTER = itertools.count()


def _load_syncfs() -> Any:
    """syncfs(2) where libc has it: flushes one file system, not every mounted one."""
    try:
        import ctypes

        libc = ctypes.CDLL(None, use_errno=True)
        return libc.syncfs
    except (OSError, AttributeError):
        return None


syncfs = _load_syncfs()


def tmp_name(name: str) -> str:
    """A hidden name beside the target; unique per process (O_EXCL settles the rest)."""
    return f".{name[:200]}{TEMP_MARKER}{_TMP_PREFIX}{next(_TMP_COUNTER):06x}"


def open_temp(name: str, parent_fd: int) -> tuple[str, int]:
    """A new temporary for `name` in the directory `parent_fd`: (its name, its fd)."""
    tmp = tmp_name(name)
    return tmp, os.open(tmp, _TMP_FLAGS, 0o600, dir_fd=parent_fd)


def finish(fd: int, mode: int, mtime_ns: int, sync: bool) -> None:
    """The temporary's final mode and mtime, fsynced when `sync`; closes `fd` whatever
    happens."""
    try:
        os.fchmod(fd, stat.S_IMODE(mode))
        os.utime(fd, ns=(mtime_ns, mtime_ns))
        if sync:
            os.fsync(fd)
    finally:
        os.close(fd)


def put_in_place(tmp: str, name: str, parent_fd: int, where: object, sync: bool) -> None:
    """Rename the temporary over `name` in one step (ApplyError naming `where` if the
    rename is refused); fsync the directory when `sync`."""
    try:
        os.replace(tmp, name, src_dir_fd=parent_fd, dst_dir_fd=parent_fd)
    except OSError as e:
        raise ApplyError(f"{where}: cannot replace: {e.strerror}") from e
    if sync:
        os.fsync(parent_fd)
