"""Small state files a host must not lose or half-write: written whole or not at all.

A temporary file beside the target, fsynced, renamed over it, and the directory fsynced,
so that a SIGKILL or a power cut leaves either the old content or the new one.
"""
from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import orjson


def write_json(path: Path, data: Any) -> None:
    """Replace `path` with `data` as JSON, durably (mode 0600)."""
    tmp = path.with_name(path.name + ".tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "wb") as handle:
        handle.write(orjson.dumps(data))
        handle.flush()
        os.fsync(handle.fileno())
    os.replace(tmp, path)
    dir_fd = os.open(path.parent, os.O_RDONLY)
    try:
        os.fsync(dir_fd)
    finally:
        os.close(dir_fd)


def read_json(path: Path) -> Any:
    """The JSON in `path`, or None when there is no such file; ValueError when corrupt."""
    try:
        return orjson.loads(path.read_bytes())
    except FileNotFoundError:
        return None
    except orjson.JSONDecodeError as exc:
        raise ValueError(f"{path}: corrupt state file: {exc}") from exc
