"""The file mirror's long work: compares, copies and the applying of change notices.

Everything here waits on the network or the disk, so the `Mirror` actor never calls it
on its own thread: each piece runs as a job (`replication.jobs`) on the mirror's worker,
and its end comes back as a message. While a job runs the actor holds back every other
message that could touch this state (see `mirror.py`), so a job owns it as a handler
did, and only the stop (or a role change, which stops the mirror) gets in between.
Every piece takes a `cancelled` check that the fetcher consults between responses: set
by a stop, and, for the start-up copy, true past "Switchover Initial Mirror Timeout".
"""
from __future__ import annotations

import logging
import os
import stat
from typing import Any, Callable, Sequence

from switchover.replication.files import protocol as proto
from switchover.replication.files.applier import Applier
from switchover.replication.files.changes import Local, plan_notice
from switchover.replication.files.errors import ApplyError, MissingSource, OutsideMirror
from switchover.replication.files.fetch import FetchError, Fetcher, Item
from switchover.replication.files.flusher import FLUSH_EVERY, Flusher
from switchover.replication.files.health import Progress
from switchover.replication.files.manifest import Manifest, Plan, diff, scan_spec
from switchover.replication.files.settings import Specs
from switchover.replication.files.spec import Kind, MirrorDir, MirrorSpec
from switchover.replication.service import PeerRequests
from switchover.clock import Clock

log = logging.getLogger("FileMonitor")

Cancelled = Callable[[], bool]


class MirrorWork:
    """The mirrored tree on this side and what changes it (one per Mirror actor)."""

    def __init__(self, *, links: PeerRequests, clock: Clock, specs: Callable[[], Specs],
                 upgrade: str | None, progress: Progress) -> None:
        self.links, self.clock, self.specs, self.upgrade = links, clock, specs, upgrade
        self.progress = progress
        self.source: tuple | None = None
        self.spec: MirrorSpec | None = None
        self.applier: Applier | None = None
        self.flusher: Flusher | None = None

    def setup(self) -> None:
        """The specs in force now; the applier (and a sweep of the temporary files a
        stopped run left) the first time."""
        specs = self.specs()
        self.source = specs.source
        self.spec = specs.for_upgrade(self.upgrade)
        self.spec.root.mkdir(parents=True, exist_ok=True)
        if self.applier is None:
            self.applier = Applier(self.spec.root, self.spec)
            self.flusher = Flusher(self.applier.sync, self.clock.real_seconds(FLUSH_EVERY))
            removed = self.applier.cleanup_stale_temps()
            if removed:
                log.info("FileMonitor: removed %d temporary files a stopped run left", removed)
        self.applier.spec = self.spec

    def stop(self) -> None:
        if self.flusher is not None:
            self.flusher.stop()

    def fetcher(self, cancelled: Cancelled) -> Fetcher:
        assert self.applier is not None
        floor = 10.0 / max(self.clock.real_seconds(1.0), 1e-9)  # at least 10 real seconds
        return Fetcher(self.links, self.applier, timeout=max(30.0, floor),
                       real_timeout=max(30.0, floor), cancelled=cancelled,
                       on_file=self.progress.file_done, local=self.local)

    def active_health(self, cancelled: Cancelled) -> dict[str, Any]:
        """The active's File Health Check answer: `published` (its last handler publish)
        and `epoch`/`seq` (its last change notice); empty without an answer."""
        try:
            outcome = self.fetcher(cancelled).ask(proto.HEALTH, {}, "File Health Check")
        except FetchError:
            return {}
        body = outcome.response.body or {}
        out: dict[str, Any] = {}
        if isinstance(body.get("published"), str):
            out["published"] = body["published"]
        if isinstance(body.get("epoch"), str) and type(body.get("seq")) is int:
            out["epoch"], out["seq"] = body["epoch"], body["seq"]
        return out

    # -- comparing ------------------------------------------------------------------

    def compare(self, dirs: Sequence[tuple[Kind, MirrorDir]], initial: bool,
                cancelled: Cancelled) -> None:
        """Compare the listed directories and bring them to the active's state."""
        assert self.spec is not None and self.applier is not None
        fetcher = self.fetcher(cancelled)
        plans: list[tuple[MirrorDir, Plan, Manifest]] = []
        for kind, mdir in dirs:
            remote = fetcher.manifest(mdir, self.spec.exceptions)
            keep = self.spec.kind_filter(kind, mdir.path)
            remote.entries = {r: e for r, e in remote.entries.items()
                              if keep(r, e.kind == "dir")}
            plan = diff(remote, scan_spec(self.spec, kind, mdir))
            plans.append((mdir, plan, remote))
            if initial:
                self.progress.add_total(len(plan.copy), plan.bytes_to_copy(remote))
        for mdir, plan, remote in plans:
            self._apply_plan(fetcher, mdir, plan, remote)
        assert self.flusher is not None
        self.flusher.request()

    def _apply_plan(self, fetcher: Fetcher, mdir: MirrorDir, plan: Plan,
                    remote: Manifest) -> None:
        assert self.applier is not None
        app, base = self.applier, mdir.path
        for rel in plan.delete:
            self._quietly(app.delete, str(base / rel)) and self.progress.count("deleted")
        for rel in plan.rmdir:
            self._quietly(app.rmdir_tree, str(base / rel)) and self.progress.count("deleted")
        for rel in plan.mkdir:
            self._quietly(app.mkdir, str(base / rel), remote[rel].mode)
        prefix = str(base).rstrip("/") + "/"
        entries = remote.entries
        items: list[Item] = []
        for r in plan.copy:
            e = entries[r]
            plain = not (r.startswith(("/", "./")) or r.endswith(("/", "/.")) or r == "."
                         or "//" in r or "/./" in r)
            items.append((prefix + r if plain else str(base / r), e.size, e.mtime_ns, e.mode))
        result = fetcher.fetch(items, sync=False)
        self._report_failures(result.failed)
        for rel in plan.attrs:
            e = remote[rel]
            self._quietly(app.set_attrs, str(base / rel), e.mode,
                          e.mtime_ns if e.kind == "file" else None)

    def _quietly(self, op: Callable[..., Any], *args: Any) -> Any:
        try:
            return op(*args)
        except OutsideMirror:
            return None
        except (ApplyError, OSError) as exc:
            self._report_failures([(str(args[0]), str(exc))])
            return None

    def _report_failures(self, failed: Sequence[tuple[str, str]]) -> None:
        for path, why in failed:
            log.warning("FileMonitor: %s not mirrored: %s", path, why)
        if failed:
            self.progress.count("failed", len(failed))

    # -- live changes ---------------------------------------------------------------

    def local(self, path: str) -> Local | None:
        assert self.spec is not None
        try:
            st = os.lstat(self.spec.real(path))
        except OSError:
            return None
        kind = "file" if stat.S_ISREG(st.st_mode) else "dir" if stat.S_ISDIR(st.st_mode) \
            else "other"
        return (kind, st.st_size, st.st_mtime_ns, stat.S_IMODE(st.st_mode))

    def apply_rows(self, rows: tuple, cancelled: Cancelled) -> bool:
        """Apply one change notice; True when part of it must be tried again later (a
        rename whose source has not arrived, a fetch that failed)."""
        assert self.spec is not None and self.applier is not None
        self.progress.count("notices")
        spec, app = self.spec, self.applier
        plan = plan_notice(rows, self.local,
                           lambda p, d: spec.classify(p, d) == "continuous")
        again = False
        for old, new in plan.renames:
            try:
                app.rename(old, new)
                self.progress.count("renamed")
            except MissingSource:
                again = True
            except OutsideMirror:
                pass
            except (ApplyError, OSError) as exc:
                self._report_failures([(new, str(exc))])
        for path in plan.deletes:
            here = self.local(path)
            op = app.rmdir_tree if here is not None and here[0] == "dir" else app.delete
            if self._quietly(op, path):
                self.progress.count("deleted")
        for path, mode in plan.mkdirs:
            self._quietly(app.mkdir, path, mode)
        for path, mode, mtime_ns in plan.attrs:
            self._quietly(app.set_attrs, path, mode, mtime_ns)
        fetch = list(plan.fetch)
        if fetch:
            try:
                result = self.fetcher(cancelled).fetch(fetch, sync=False)
            except FetchError as exc:
                self.progress.fail("not current", f"fetching changes failed: {exc}")
                return True
            self._report_failures(result.failed)
        assert self.flusher is not None
        self.flusher.request()
        return again
