"""The backup's file mirror: start-up copy, live changes, resynchronisation.

At start (role "backup") it compares every mirrored directory with the active's: the
handler directory and InitialMirrorDir once, the continuous ones (Resource, I3Tables,
CustomMirrorDir) too, then follows the active's change notices for the continuous ones.
The start-up copy is bounded by "Switchover Initial Mirror Timeout": past it, start-up
fails ("If all the changed files are not copied within the maximum startup time ... it
does not start"), the event log and status say so, and nothing more is mirrored until
an operator asks again (`files.resync`) or the host restarts.

Handlers travel only when an operator publishes them on the active (`files.publish`): the
"Handlers Published" event makes the backup compare the handler directory once (its own
files, never its subdirectories unless another entry covers them). Changes made there
between publishes are not followed. The active's File Health Check answer names its last
publish, so a publish the backup missed while disconnected is compared at its next resync.
In either upgrade state handlers are never replicated (Appendix C).

Notices are numbered and followed by the stream follower (`replication.stream`); a gap
(a notice lost while a channel was down, the active's monitor restarted: a new epoch)
and every reconnect (`resync`) lead to a fresh compare, so a missed
watcher event never leaves a difference behind. Parameters are looked at every
`CHECK_INTERVAL`: a changed CustomMirrorDir is compared at once.
"""
from __future__ import annotations

import logging
import os
import stat
import threading
from dataclasses import dataclass
from typing import Any, Callable, Sequence

import pykka

from switchover.replication.files import protocol as proto
from switchover.replication.files.applier import Applier
from switchover.replication.files.changes import Local, plan_notice
from switchover.replication.files.errors import ApplyError, MissingSource, OutsideMirror
from switchover.replication.files.fetch import Cancelled, FetchError, Fetcher, Item
from switchover.replication.files.health import Progress
from switchover.replication.files.manifest import Manifest, Plan, diff, scan_spec
from switchover.replication.files.settings import INITIAL_TIMEOUT, Specs, param_seconds
from switchover.replication.files.spec import Kind, MirrorDir, MirrorSpec
from switchover.replication.service import PeerRequests
from switchover.replication.stream import Follower, Verdict
from switchover.clock import Clock, TimerHandle
from switchover.logs import EventLog

log = logging.getLogger("FileMonitor")

CHECK_INTERVAL = 1.0
RETRY_DELAY = 2.0
GAP_WAIT = 1.0
#: Committed files are made durable (syncfs) at most this often, in reference seconds.
FLUSH_EVERY = 1.0


class Flusher:
    """Makes committed files durable in the background, at most once per `interval`.

    Commits rename atomically without an fsync (a crash of the process never shows a
    partial file); a syncfs soon afterwards covers power loss. Doing it here instead of
    per file keeps the next change from waiting behind the disk (an fsync waits for
    whatever else is being written back).
    """

    def __init__(self, sync: Callable[[], None], interval: float) -> None:
        self._sync, self._interval = sync, interval
        self._wanted = threading.Event()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="FileMonitor-flush",
                                        daemon=True)
        self._thread.start()

    def request(self) -> None:
        self._wanted.set()

    def stop(self) -> None:
        """Ask for a last flush and return soon: a switch must not wait for the disk."""
        self._stop.set()
        self._wanted.set()
        self._thread.join(timeout=0.2)

    def _run(self) -> None:
        while not self._stop.is_set():
            self._wanted.wait()
            self._wanted.clear()
            try:
                self._sync()
            except OSError:
                log.exception("FileMonitor: syncfs failed")
            self._stop.wait(self._interval)
        self._sync()


@dataclass(frozen=True)
class Notice:
    epoch: str
    seq: int
    rows: tuple


@dataclass(frozen=True)
class Resync:
    reason: str


@dataclass(frozen=True)
class Publish:
    """The active published its handlers (`id` names the publish)."""

    id: str


@dataclass(frozen=True)
class _Timer:
    what: str


class Mirror(pykka.ThreadingActor):
    def __init__(self, *, links: PeerRequests, clock: Clock, events: EventLog,
                 specs: Callable[[], Specs], params: Callable[[], Any], upgrade: str | None,
                 progress: Progress, peer: str, cancel: threading.Event | None = None,
                 fail: Callable[[str], None] = lambda reason: None) -> None:
        super().__init__()
        self.fail = fail
        self.links, self.clock, self.events = links, clock, events
        self.specs, self.params, self.upgrade = specs, params, upgrade
        self.progress, self.peer = progress, peer
        self.cancel = cancel or threading.Event()
        self._deadline: float | None = None
        self.source: tuple | None = None
        self.spec: MirrorSpec | None = None
        self.applier: Applier | None = None
        self.running = False  # start-up copy done: notices apply
        self.failed_startup = False
        #: The active's change notices (numbered within its monitor's epoch).
        self.stream = Follower()
        #: The active's last handler publish this mirror has compared (None: none known).
        self.handlers_seen: str | None = None
        self._timers: dict[str, TimerHandle] = {}
        self.flusher: Flusher | None = None

    # -- plumbing -------------------------------------------------------------------

    def on_start(self) -> None:
        self.actor_ref.tell(_Timer("start"))

    def on_stop(self) -> None:
        self.cancel.set()
        for timer in self._timers.values():
            timer.cancel()
        if self.flusher is not None:
            self.flusher.stop()

    def _later(self, what: str, delay: float) -> None:
        if what in self._timers:
            self._timers[what].cancel()
        ref = self.actor_ref
        self._timers[what] = self.clock.call_later(
            delay, lambda: ref.is_alive() and ref.tell(_Timer(what)))

    def on_receive(self, message: Any) -> Any:
        try:
            if isinstance(message, Notice):
                self._on_notice(message)
            elif isinstance(message, Resync):
                self._resync(message.reason)
            elif isinstance(message, Publish):
                self._on_publish(message.id)
            elif isinstance(message, _Timer):
                self._timers.pop(message.what, None)
                getattr(self, f"_on_{message.what.replace('-', '_')}")()
        except Cancelled:
            pass
        except Exception as exc:  # never let one bad operation stop the mirror
            log.exception("FileMonitor: mirror step failed")
            self.progress.fail("not current", f"{type(exc).__name__}: {exc}")
            self._later("retry" if self.running else "retry-start", RETRY_DELAY)
        return None

    def _setup(self) -> None:
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

    def _fetcher(self) -> Fetcher:
        assert self.applier is not None
        floor = 10.0 / max(self.clock.real_seconds(1.0), 1e-9)  # at least 10 real seconds
        return Fetcher(self.links, self.applier, timeout=max(30.0, floor),
                       real_timeout=max(30.0, floor), cancelled=self._cancelled,
                       on_file=self.progress.file_done, local=self._local)

    def _cancelled(self) -> bool:
        if self.cancel.is_set():
            return True
        return self._deadline is not None and self.clock.now() > self._deadline

    # -- start-up -------------------------------------------------------------------

    def _on_start(self) -> None:
        if not (self.links.connected("main") or self.links.connected("aux")):
            # The host opens its links just after telling the role: wait for one.
            self.progress.set_state("not current: waiting for a connection to the active")
            self._later("start", 0.05)
            return
        self._setup()
        assert self.spec is not None
        budget = param_seconds(self.params(), INITIAL_TIMEOUT, 600.0)
        self._deadline = self.clock.now() + budget
        start = self.clock.now()
        self.progress.begin_initial(0, 0)
        try:
            # Asked first: a publish during the copy names another id and is compared
            # again, and the notices follow from the active's last one (the copy covers
            # it and those before), so even the first one after it cannot be lost unseen.
            health = self._active_health()
            self.handlers_seen = health.get("published")
            if "epoch" in health:
                self.stream.reset(health["seq"], health["epoch"])
            self._compare(self.spec.dirs(), initial=True)
        except Cancelled:
            if self.cancel.is_set():
                return
            self._startup_failed(budget)
            return
        except FetchError as exc:
            log.warning("FileMonitor: start-up copy interrupted, trying again: %s", exc)
            self._deadline = None
            self.progress.set_state("not current")
            self.progress.fail("not current", f"start-up copy interrupted: {exc}")
            self._later("retry-start", RETRY_DELAY)
            return
        finally:
            self._deadline = None
        self.running = True
        self.failed_startup = False
        self.progress.set_state("in sync")
        self.progress.clear()
        done = self.progress.snapshot()
        self.events.record("info", f"File replication: start-up copy from {self.peer} done in "
                           f"{self.clock.now() - start:.2f} s ({done['files_copied']} files, "
                           f"{done['bytes_copied']} bytes); following changes")
        self._later("check", CHECK_INTERVAL)

    def _on_retry_start(self) -> None:
        if not self.running and not self.failed_startup:
            self._on_start()

    def _startup_failed(self, budget: float) -> None:
        snap = self.progress.snapshot()
        why = (f"the start-up copy did not finish within Switchover Initial Mirror Timeout "
               f"({budget:g} s); {snap['state']}; switchover start-up failed")
        self.failed_startup = True
        self.progress.set_state("not running")
        self.progress.fail("not running", why)
        self.events.record("error", f"File replication: {why}")
        self.fail(f"File replication: {why}")

    # -- comparing ------------------------------------------------------------------

    def _compare(self, dirs: Sequence[tuple[Kind, MirrorDir]], initial: bool) -> None:
        """Compare the listed directories and bring them to the active's state."""
        assert self.spec is not None and self.applier is not None
        fetcher = self._fetcher()
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

    def _resync(self, reason: str) -> None:
        if self.failed_startup and reason != "operator":
            return
        if not self.running:
            if reason == "operator":
                self.failed_startup = False
                self._on_start()
            return
        self._setup()
        assert self.spec is not None
        self.progress.count("resyncs")
        self.progress.set_state("resynchronising")
        try:
            self._compare(self.spec.dirs("continuous"), initial=False)
            published = self._active_published()
            if published is not None and published != self.handlers_seen:
                self._publish(published)
        except FetchError as exc:
            self.progress.fail("not current", f"compare with {self.peer} failed: {exc}")
            self._later("retry", RETRY_DELAY)
            return
        self.progress.set_state("in sync")
        self.progress.clear("not current")

    # -- handler publishes ----------------------------------------------------------

    def _active_published(self) -> str | None:
        """The id of the active's last handler publish, or None (none, or no answer)."""
        return self._active_health().get("published")

    def _active_health(self) -> dict[str, Any]:
        """The active's File Health Check answer: `published` (its last handler publish)
        and `epoch`/`seq` (its last change notice); empty without an answer."""
        try:
            outcome = self._fetcher().ask(proto.HEALTH, {}, "File Health Check")
        except FetchError:
            return {}
        body = outcome.response.body or {}
        out: dict[str, Any] = {}
        if isinstance(body.get("published"), str):
            out["published"] = body["published"]
        if isinstance(body.get("epoch"), str) and type(body.get("seq")) is int:
            out["epoch"], out["seq"] = body["epoch"], body["seq"]
        return out

    def _on_publish(self, publish_id: str) -> None:
        if not self.running or publish_id == self.handlers_seen:
            return  # the start-up copy (or its retry) compares the handler directory
        self._setup()
        try:
            self._publish(publish_id)
        except FetchError as exc:
            # The next compare sees the active's newer publish and copies it then.
            self.progress.fail("not current", f"copying published handlers failed: {exc}")
            self._later("retry", RETRY_DELAY)

    def _publish(self, publish_id: str) -> None:
        """Compare the handler directory once: the active published its handlers."""
        assert self.spec is not None
        if self.upgrade:
            self.handlers_seen = publish_id
            log.info("FileMonitor: handlers published on %s not copied: handlers are not "
                     "replicated in the Upgrade %s state", self.peer, self.upgrade.title())
            return
        dirs = self.spec.dirs("handler")
        before = self.progress.snapshot()["files_copied"]
        self._compare(dirs, initial=False)
        self.handlers_seen = publish_id
        self.progress.count("publishes")
        copied = self.progress.snapshot()["files_copied"] - before
        where = ", ".join(str(d.path) for _, d in dirs) or "no handler directory"
        self.events.record("info", f"File replication: handlers published on {self.peer} "
                           f"compared ({where}): {copied} file(s) copied")

    def _on_retry(self) -> None:
        self._resync("retry")

    def _on_check(self) -> None:
        """Dynamic parameters: a changed mirror list is compared at once."""
        self._later("check", CHECK_INTERVAL)
        if self.specs().source != self.source:
            log.info("FileMonitor: mirror parameters changed; comparing again")
            self._resync("parameters changed")

    # -- live changes ---------------------------------------------------------------

    def _on_notice(self, notice: Notice) -> None:
        if not self.running:
            return  # the start-up compare (or a resync) covers it
        if self.stream.epoch is None:  # the first since the start-up compare: follow from it
            self.stream.reset(notice.seq - 1, notice.epoch)
        self._take(self.stream.offer(notice.seq, notice.rows, epoch=notice.epoch))

    def _on_gap(self) -> None:
        self._take(self.stream.check_gap())

    def _take(self, verdict: Verdict) -> None:
        for rows in verdict.ready:
            self._apply_rows(rows)
        if verdict.resync is not None:
            log.info("FileMonitor: change notices: %s; comparing again", verdict.resync)
            self._resync(verdict.resync)  # covers every notice received so far
            self._take(self.stream.synced(self.stream.highest))
        elif verdict.gap:
            self._later("gap", GAP_WAIT)

    def _local(self, path: str) -> Local | None:
        assert self.spec is not None
        try:
            st = os.lstat(self.spec.real(path))
        except OSError:
            return None
        kind = "file" if stat.S_ISREG(st.st_mode) else "dir" if stat.S_ISDIR(st.st_mode) \
            else "other"
        return (kind, st.st_size, st.st_mtime_ns, stat.S_IMODE(st.st_mode))

    def _apply_rows(self, rows: tuple) -> None:
        assert self.spec is not None and self.applier is not None
        self.progress.count("notices")
        spec, app = self.spec, self.applier
        plan = plan_notice(rows, self._local,
                           lambda p, d: spec.classify(p, d) == "continuous")
        fetch = list(plan.fetch)
        for old, new in plan.renames:
            try:
                app.rename(old, new)
                self.progress.count("renamed")
            except MissingSource:
                self._later("retry", RETRY_DELAY)
            except OutsideMirror:
                pass
            except (ApplyError, OSError) as exc:
                self._report_failures([(new, str(exc))])
        for path in plan.deletes:
            here = self._local(path)
            op = app.rmdir_tree if here is not None and here[0] == "dir" else app.delete
            if self._quietly(op, path):
                self.progress.count("deleted")
        for path, mode in plan.mkdirs:
            self._quietly(app.mkdir, path, mode)
        for path, mode, mtime_ns in plan.attrs:
            self._quietly(app.set_attrs, path, mode, mtime_ns)
        if fetch:
            try:
                result = self._fetcher().fetch(fetch, sync=False)
            except FetchError as exc:
                self.progress.fail("not current", f"fetching changes failed: {exc}")
                self._later("retry", RETRY_DELAY)
                return
            self._report_failures(result.failed)
        assert self.flusher is not None
        self.flusher.request()
