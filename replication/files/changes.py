"""Change notices: what the active announces and how the backup turns it into operations.

The active coalesces a burst of watcher events into one notice that states the *current*
state of every touched path (a file written ten times in 5 ms is one ``write`` row, with
the size and mtime it has now). Rows:

- ``["write", path, size, mtime_ns, mode]``: a regular file exists now; fetch it.
- ``["mkdir", path, mode]``: a directory exists now.
- ``["delete", path]``: nothing mirrored is at the path now (file, tree or symlink).

watchfiles reports a rename as a deletion plus an addition. The backup pairs them back
up (`plan_notice`): a deleted file whose local copy has the size and mtime of a written
one was renamed (rename keeps both), and a lone deleted directory with a lone new one
was moved. A rename then costs one local rename instead of a transfer.
"""
from __future__ import annotations

import os
import stat
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath
from typing import Any, Callable, Iterable

from switchover.replication.files.manifest import scan
from switchover.replication.files.spec import MirrorSpec

Row = list[Any]
#: Local state of a logical path on the backup: ("file"|"dir", size, mtime_ns, mode).
Local = tuple[str, int, int, int]


def _mirrored(spec: MirrorSpec, path: PurePosixPath, is_dir: bool) -> bool:
    return spec.classify(path, is_dir) == "continuous"


def notice_rows(spec: MirrorSpec, touched: Iterable[tuple[Path, bool]]) -> list[Row]:
    """Rows for the current state of the touched real paths ((path, was_added) pairs).

    A directory that appeared is scanned too: files created in it before the watcher
    saw it would otherwise have no event of their own.
    """
    deletes: dict[str, Row] = {}
    mkdirs: dict[str, Row] = {}
    writes: dict[str, Row] = {}
    for real, added in touched:
        path = spec.logical(real)
        if path is None:
            continue
        text = str(path)
        try:
            st = os.lstat(real)
        except (FileNotFoundError, NotADirectoryError):
            if _mirrored(spec, path, False) or _mirrored(spec, path, True):
                deletes[text] = ["delete", text]
            continue
        if stat.S_ISREG(st.st_mode):
            if _mirrored(spec, path, False):
                writes[text] = ["write", text, st.st_size, st.st_mtime_ns,
                                stat.S_IMODE(st.st_mode)]
        elif stat.S_ISDIR(st.st_mode):
            if not _mirrored(spec, path, True):
                continue
            mkdirs[text] = ["mkdir", text, stat.S_IMODE(st.st_mode)]
            if added:
                m = scan(real, recursive=True, exceptions=spec.exceptions)
                for rel, e in m.items():
                    sub = path / rel
                    if not _mirrored(spec, sub, e.kind == "dir"):
                        continue
                    if e.kind == "dir":
                        mkdirs[str(sub)] = ["mkdir", str(sub), e.mode]
                    else:
                        writes[str(sub)] = ["write", str(sub), e.size, e.mtime_ns, e.mode]
        elif _mirrored(spec, path, False):
            deletes[text] = ["delete", text]  # a symlink or special file replaced it
    return ([deletes[k] for k in sorted(deletes)]
            + [mkdirs[k] for k in sorted(mkdirs, key=lambda k: (k.count("/"), k))]
            + [writes[k] for k in sorted(writes)])


@dataclass
class NoticePlan:
    """What the backup does for one notice, in this order."""

    renames: list[tuple[str, str]] = field(default_factory=list)
    deletes: list[str] = field(default_factory=list)
    mkdirs: list[tuple[str, int]] = field(default_factory=list)
    attrs: list[tuple[str, int, int]] = field(default_factory=list)
    fetch: list[tuple[str, int, int, int]] = field(default_factory=list)  # path,size,mtime,mode


def plan_notice(rows: Iterable[Row], local: Callable[[str], Local | None],
                wanted: Callable[[str, bool], bool]) -> NoticePlan:
    """Turn notice rows into operations, pairing renames and skipping what is current.

    `local(path)` stats the backup's copy; `wanted(path, is_dir)` is the backup's spec
    (its upgrade state may mirror less than the active announces).
    """
    plan = NoticePlan()
    deletes: list[str] = []
    mkdirs: list[tuple[str, int]] = []
    writes: list[tuple[str, int, int, int]] = []
    for row in rows:
        op = row[0] if row else None
        if op == "delete" and len(row) >= 2:
            deletes.append(str(row[1]))
        elif op == "mkdir" and len(row) >= 3 and wanted(str(row[1]), True):
            mkdirs.append((str(row[1]), int(row[2])))
        elif op == "write" and len(row) >= 5 and wanted(str(row[1]), False):
            writes.append((str(row[1]), int(row[2]), int(row[3]), int(row[4])))
    states = {p: local(p) for p in deletes}
    # A lone directory that vanished and a lone new one that has no local copy: a move.
    gone_dirs = [p for p in deletes if (states[p] or ("",))[0] == "dir"]
    new_dirs = [(p, m) for p, m in mkdirs if local(p) is None]
    moved: dict[str, str] = {}
    if len(gone_dirs) == 1 and len(new_dirs) == 1 and not _nested(gone_dirs[0], new_dirs[0][0]):
        moved[gone_dirs[0]] = new_dirs[0][0]
        plan.renames.append((gone_dirs[0], new_dirs[0][0]))
    # A deleted file whose local copy has a written file's size and mtime: renamed.
    by_stat: dict[tuple[int, int], list[str]] = {}
    for p in deletes:
        s = states[p]
        if s is not None and s[0] == "file" and p not in moved:
            by_stat.setdefault((s[1], s[2]), []).append(p)
    for path, size, mtime_ns, mode in writes:
        candidates = by_stat.get((size, mtime_ns))
        if candidates and local(path) is None and not _inside(path, moved.values()):
            old = candidates.pop()
            plan.renames.append((old, path))
            moved[old] = path
            if states[old] is not None and states[old][3] != mode:  # type: ignore[index]
                plan.attrs.append((path, mode, mtime_ns))
            continue
    renamed_to = {new for _, new in plan.renames}
    dir_moves = [(old, new) for old, new in plan.renames if (states[old] or ("",))[0] == "dir"]
    plan.deletes = [p for p in deletes if p not in moved and states[p] is not None]
    plan.mkdirs = [(p, m) for p, m in mkdirs if p not in renamed_to]
    for path, size, mtime_ns, mode in writes:
        if path in renamed_to:
            continue
        have = None if _inside(path, plan.deletes) else local(_before_moves(path, dir_moves))
        if have is not None and have[0] == "file" and have[1:3] == (size, mtime_ns):
            if have[3] != mode:
                plan.attrs.append((path, mode, mtime_ns))
            continue
        plan.fetch.append((path, size, mtime_ns, mode))
    return plan


def _before_moves(path: str, moves: list[tuple[str, str]]) -> str:
    """Where `path` is on the backup before the planned directory moves."""
    for old, new in moves:
        if path.startswith(new + "/"):
            return old + path[len(new):]
    return path


def _nested(a: str, b: str) -> bool:
    """True if one path is the other or lies inside it."""
    return a == b or b.startswith(a + "/") or a.startswith(b + "/")


def _inside(path: str, dirs: Iterable[str]) -> bool:
    return any(path == d or path.startswith(d + "/") for d in dirs)
