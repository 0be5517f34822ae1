"""The data dir is private: its directories 0700, its files 0600, whatever the umask.

The DS holds the pair's whole configuration, the interaction store customers' emails and
chats, the event log who switched what and when. A umask only takes bits away, so files
made with the default mode (0666 for sqlite3 and open()) would be readable by every local
user under the common 022. These helpers make a file 0600 before the library that uses it
opens it (SQLite gives its -wal and -shm files the database's own mode), and put back the
mode of one that already exists.
"""
from __future__ import annotations

import os
from pathlib import Path

DIR_MODE = 0o700
FILE_MODE = 0o600


def private_dir(path: Path) -> Path:
    """Make `path` (and missing parents) and leave it 0700."""
    path.mkdir(parents=True, exist_ok=True, mode=DIR_MODE)
    os.chmod(path, DIR_MODE)
    return path


def private_file(path: str | Path) -> Path:
    """Create `path` empty if missing and leave it 0600; its directory must exist."""
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND | os.O_CLOEXEC, FILE_MODE)
    try:
        os.fchmod(fd, FILE_MODE)
    finally:
        os.close(fd)
    return Path(path)
