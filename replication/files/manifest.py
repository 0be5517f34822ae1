"""Manifests of mirrored trees and the plan that turns one tree into another.

"InitialMirrorDir ... check this directory for changes and update the changed files only"
and the rescan after a reconnect are the same job: list both sides, compare, move only
what differs. Comparing is rsync's quick check (size and mtime_ns), because the applier
keeps the sender's mtime; an optional checksum pass settles files whose mtime moved but
whose bytes did not, so they cost a `set_attrs` instead of a transfer. Digests are
computed lazily: a scan only stats.

A scan never follows a symlink: symlinks are listed in `Manifest.skipped` and left alone,
so nothing outside the mirrored tree is ever read (a symlink inside the tree would be
mirrored under its target's own name anyway, and the watcher reports the target).
"""
from __future__ import annotations

import hashlib
import os
import stat
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath
from typing import Callable, Iterator, Literal, Mapping

from switchover.replication.files.spec import Kind, MirrorDir, MirrorSpec, has_exception, is_temp_name

HASH_BUFFER = 1 << 20


@dataclass(frozen=True)
class Entry:
    """One file or directory: what the quick check compares."""

    kind: Literal["file", "dir"]
    size: int
    mtime_ns: int
    mode: int
    sha256: str | None = None


@dataclass
class Manifest(Mapping[str, Entry]):
    """{relpath: Entry} of one mirrored directory; relpaths are POSIX, relative to `base`."""

    base: Path | None
    entries: dict[str, Entry] = field(default_factory=dict)
    skipped: list[str] = field(default_factory=list)
    _digests: dict[str, str] = field(default_factory=dict, repr=False)

    def __getitem__(self, key: str) -> Entry:
        return self.entries[key]

    def __iter__(self) -> Iterator[str]:
        return iter(self.entries)

    def __len__(self) -> int:
        return len(self.entries)

    def digest(self, relpath: str) -> str:
        """sha256 (hex) of a file, from the wire or computed now without following links.

        Raises LookupError when it is neither known nor readable locally.
        """
        entry = self.entries[relpath]
        if entry.sha256:
            return entry.sha256
        if relpath not in self._digests:
            if self.base is None:
                raise LookupError(relpath)
            self._digests[relpath] = file_sha256(self.base / relpath)
        return self._digests[relpath]

    def to_wire(self) -> dict[str, list[object]]:
        """A JSON-friendly form for the transport: {relpath: [kind, size, mtime, mode, sha]}."""
        return {k: [e.kind, e.size, e.mtime_ns, e.mode, e.sha256 or self._digests.get(k)]
                for k, e in self.entries.items()}

    @classmethod
    def from_wire(cls, data: Mapping[str, list[object]]) -> Manifest:
        """The peer's manifest; its digests are only those the peer sent."""
        entries: dict[str, Entry] = {}
        for k, v in data.items():
            kind = "dir" if v[0] == "dir" else "file"
            entries[str(k)] = Entry(kind, int(v[1]), int(v[2]), int(v[3]),  # type: ignore
                                    None if v[4] is None else str(v[4]))
        return cls(base=None, entries=entries)


def file_sha256(path: Path) -> str:
    """sha256 of a regular file, refusing to open it through a symlink."""
    fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | getattr(os, "O_CLOEXEC", 0))
    h = hashlib.sha256()
    with os.fdopen(fd, "rb", buffering=0) as f:
        buf = bytearray(HASH_BUFFER)
        view = memoryview(buf)
        while n := f.readinto(buf):
            h.update(view[:n])
    return h.hexdigest()


Include = Callable[[str, bool], bool]


def scan(base: Path, *, recursive: bool, exceptions: frozenset[str] = frozenset(),
         include: Include | None = None, descend: Callable[[str], bool] | None = None
         ) -> Manifest:
    """List the mirrored tree under `base`.

    Non-recursive: only the regular files directly in `base`. Recursive: every file and
    directory below it. Files whose extension is in `exceptions`, and the applier's
    temporary files, are left out; `include(relpath, is_dir)` and `descend(relpath)`
    narrow further (MirrorSpec classification). A missing `base` gives an empty manifest.
    """
    m = Manifest(base=base)
    try:
        st = os.lstat(base)
    except FileNotFoundError:
        return m
    if not stat.S_ISDIR(st.st_mode):
        m.skipped.append(".")
        return m
    stack = [""]
    while stack:
        rel_dir = stack.pop()
        try:
            it = os.scandir(base / rel_dir if rel_dir else base)
        except (FileNotFoundError, NotADirectoryError):
            continue  # removed while scanning: the watcher reports it
        with it:
            for de in it:
                rel = f"{rel_dir}/{de.name}" if rel_dir else de.name
                if de.is_symlink():
                    m.skipped.append(rel)
                    continue
                try:
                    st = de.stat(follow_symlinks=False)
                except FileNotFoundError:
                    continue
                if stat.S_ISDIR(st.st_mode):
                    if not recursive:
                        continue
                    if include is None or include(rel, True):
                        m.entries[rel] = Entry("dir", 0, st.st_mtime_ns, stat.S_IMODE(st.st_mode))
                    if descend is None or descend(rel):
                        stack.append(rel)
                elif stat.S_ISREG(st.st_mode):
                    if is_temp_name(de.name) or has_exception(de.name, exceptions):
                        continue
                    if include is None or include(rel, False):
                        m.entries[rel] = Entry("file", st.st_size, st.st_mtime_ns,
                                               stat.S_IMODE(st.st_mode))
                else:
                    m.skipped.append(rel)  # sockets, fifos, devices are never mirrored
    return m


def scan_spec(spec: MirrorSpec, kind: Kind, mdir: MirrorDir) -> Manifest:
    """Scan one of `spec`'s directories, keeping only what `spec` mirrors as `kind`."""
    def logical(rel: str) -> PurePosixPath:
        return mdir.path / rel

    return scan(mdir.under(spec.root), recursive=mdir.recursive, exceptions=spec.exceptions,
                include=spec.kind_filter(kind, mdir.path),
                descend=lambda rel: not spec.is_excluded(logical(rel), True))


@dataclass
class Plan:
    """What turns the target into the source. Apply in this order: delete, rmdir (each a
    whole tree, deepest first), mkdir (parents first), copy, attrs."""

    copy: list[str] = field(default_factory=list)
    delete: list[str] = field(default_factory=list)
    mkdir: list[str] = field(default_factory=list)
    rmdir: list[str] = field(default_factory=list)
    attrs: list[str] = field(default_factory=list)

    def __bool__(self) -> bool:
        return bool(self.copy or self.delete or self.mkdir or self.rmdir or self.attrs)

    def bytes_to_copy(self, source: Mapping[str, Entry]) -> int:
        """How much the copy list moves: for progress and the start-up time budget."""
        return sum(source[r].size for r in self.copy)


def _depth(rel: str) -> int:
    return rel.count("/")


def _under_any(rel: str, dirs: set[str]) -> bool:
    parts = rel.split("/")
    return any("/".join(parts[:i]) in dirs for i in range(1, len(parts)))


def diff(source: Manifest, target: Manifest, *, checksum: bool = False) -> Plan:
    """Compare manifests; the quick check (size, mtime_ns, mode) decides what travels.

    A file equal in size and mtime whose mode differs only needs `attrs`. With
    `checksum`, a file equal in size whose mtime differs is compared by sha256 first;
    equal bytes then only need `attrs` too.
    """
    plan = Plan()
    gone_dirs = {r for r, e in target.items()
                 if e.kind == "dir" and (r not in source or source[r].kind != "dir")}
    plan.rmdir = sorted((r for r in gone_dirs if not _under_any(r, gone_dirs)),
                        key=lambda r: (-_depth(r), r))
    plan.delete = sorted(r for r, e in target.items() if e.kind == "file"
                         and (r not in source or source[r].kind != "file")
                         and not _under_any(r, gone_dirs))
    for rel, s in source.items():
        t = target.get(rel)
        if s.kind == "dir":
            if t is None or t.kind != "dir" or _under_any(rel, gone_dirs):
                plan.mkdir.append(rel)
            elif t.mode != s.mode:
                plan.attrs.append(rel)
            continue
        if t is None or t.kind != "file" or t.size != s.size or _under_any(rel, gone_dirs):
            plan.copy.append(rel)
        elif t.mtime_ns != s.mtime_ns:
            if checksum and _same_bytes(source, target, rel):
                plan.attrs.append(rel)
            else:
                plan.copy.append(rel)
        elif t.mode != s.mode:
            plan.attrs.append(rel)  # same size and mtime: only the permissions moved
    plan.mkdir.sort(key=lambda r: (_depth(r), r))
    plan.copy.sort()
    plan.attrs.sort()
    return plan


def _same_bytes(source: Manifest, target: Manifest, rel: str) -> bool:
    try:
        return source.digest(rel) == target.digest(rel)
    except (LookupError, OSError):
        return False
