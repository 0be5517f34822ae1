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

Nothing long runs in a handler: the copy, each compare, each publish and each notice's
files run as jobs (`replication.jobs`) on the mirror's worker (`mirror_work.py`), one at
a time, in the order the messages came. While one runs, the messages that follow wait
in `waiting` (steps a handler queued go first), exactly as they waited in the mailbox
when the work ran here; the stop is not among them, so a stop (a role change stops the
mirror) takes effect at once, cancelling the job under way.
"""
from __future__ import annotations

import collections
import logging
from dataclasses import dataclass
from typing import Any, Callable

import pykka

from switchover.replication.files.fetch import Cancelled, FetchError
from switchover.replication.files.health import Progress
from switchover.replication.files.mirror_work import MirrorWork
from switchover.replication.files.settings import INITIAL_TIMEOUT, Specs, param_seconds
from switchover.replication.jobs import JobDone, Jobs
from switchover.replication.service import PeerRequests
from switchover.replication.stream import Follower, Verdict
from switchover.clock import Clock, TimerHandle
from switchover.logs import EventLog

log = logging.getLogger("FileMonitor")

CHECK_INTERVAL = 1.0
RETRY_DELAY = 2.0
GAP_WAIT = 1.0


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


#: A job to start: (name, work(cancel, *args), args, what to do with its JobDone).
Step = tuple[str, Callable[..., Any], tuple, Callable[[JobDone], None]]


class Mirror(pykka.ThreadingActor):
    def __init__(self, *, links: PeerRequests, clock: Clock, events: EventLog,
                 specs: Callable[[], Specs], params: Callable[[], Any], upgrade: str | None,
                 progress: Progress, peer: str,
                 fail: Callable[[str], None] = lambda reason: None) -> None:
        super().__init__()
        self.fail = fail
        self.clock, self.events, self.specs, self.params = clock, events, specs, params
        self.upgrade, self.progress, self.peer = upgrade, progress, peer
        self.work = MirrorWork(links=links, clock=clock, specs=specs, upgrade=upgrade,
                               progress=progress)
        self.links = links
        self.running = False  # start-up copy done: notices apply
        self.failed_startup = False
        #: The active's change notices (numbered within its monitor's epoch).
        self.stream = Follower()
        #: The active's last handler publish this mirror has compared (None: none known).
        self.handlers_seen: str | None = None
        self._timers: dict[str, TimerHandle] = {}
        self.jobs: Jobs | None = None
        self._done: Callable[[JobDone], None] | None = None
        self.steps: collections.deque[Step] = collections.deque()
        self.waiting: collections.deque[Any] = collections.deque()

    # -- plumbing -------------------------------------------------------------------

    def on_start(self) -> None:
        self.jobs = Jobs(self.actor_ref.tell, "FileMonitor-mirror")
        self.actor_ref.tell(_Timer("start"))

    def on_stop(self) -> None:
        if self.jobs is not None:
            self.jobs.close()  # the job under way sees its cancel at its next response
        for timer in self._timers.values():
            timer.cancel()
        self.work.stop()

    def _later(self, what: str, delay: float) -> None:
        if what in self._timers:
            self._timers[what].cancel()
        ref = self.actor_ref
        self._timers[what] = self.clock.call_later(
            delay, lambda: ref.is_alive() and ref.tell(_Timer(what)))

    def on_receive(self, message: Any) -> Any:
        if isinstance(message, JobDone):
            assert self.jobs is not None
            if self.jobs.current(message):
                done, self._done = self._done, None
                if done is not None:
                    self._guard(done, message)
        else:
            self.waiting.append(message)
        self._pump()
        return None

    def _pump(self) -> None:
        """Start the next step, or handle the next message, while no job runs."""
        assert self.jobs is not None
        while self.jobs.running is None:
            if self.steps:
                name, work, args, done = self.steps.popleft()
                self._done = done
                self.jobs.start(name, work, *args)
            elif self.waiting:
                self._guard(self._handle, self.waiting.popleft())
            else:
                return

    def _run(self, name: str, work: Callable[..., Any], args: tuple,
             done: Callable[[JobDone], None]) -> None:
        """Queue a job: it starts once the one under way (if any) has ended."""
        self.steps.append((name, work, args, done))

    def _handle(self, message: Any) -> None:
        if isinstance(message, Notice):
            self._on_notice(message)
        elif isinstance(message, Resync):
            self._resync(message.reason)
        elif isinstance(message, Publish):
            self._on_publish(message.id)
        elif isinstance(message, _Timer):
            self._timers.pop(message.what, None)
            getattr(self, f"_on_{message.what.replace('-', '_')}")()

    def _guard(self, step: Callable[[Any], None], arg: Any) -> None:
        try:
            step(arg)
        except Exception as exc:  # never let one bad operation stop the mirror
            self._failed_step(exc)

    def _failed_step(self, exc: BaseException) -> None:
        if isinstance(exc, Cancelled):
            return
        log.error("FileMonitor: mirror step failed", exc_info=exc)
        self.progress.fail("not current", f"{type(exc).__name__}: {exc}")
        self._later("retry" if self.running else "retry-start", RETRY_DELAY)

    def _outcome(self, done: JobDone) -> Any:
        """`done`, or None once its error is reported as a failed step (callers that
        answer a fetch's error their own way look at it first)."""
        if done.error is not None:
            self._failed_step(done.error)
            return None
        return done

    # -- start-up -------------------------------------------------------------------

    def _on_start(self) -> None:
        if not (self.links.connected("main") or self.links.connected("aux")):
            # The host opens its links just after telling the role: wait for one.
            self.progress.set_state("not current: waiting for a connection to the active")
            self._later("start", 0.05)
            return
        budget = param_seconds(self.params(), INITIAL_TIMEOUT, 600.0)
        deadline = self.clock.now() + budget
        self.progress.begin_initial(0, 0)
        self._run("start-up copy", self._startup_copy, (deadline,),
                  lambda done: self._startup_done(done, budget))

    def _startup_copy(self, cancel: Any, deadline: float) -> tuple[dict[str, Any], float]:
        """On the worker: the active's health (asked first: a publish during the copy
        names another id and is compared again, and the notices follow from the active's
        last one, which the copy covers), then every mirrored directory."""
        started = self.clock.now()
        clock = self.clock

        def cancelled() -> bool:
            return cancel.is_set() or clock.now() > deadline

        self.work.setup()
        assert self.work.spec is not None
        health = self.work.active_health(cancelled)
        self.work.compare(self.work.spec.dirs(), initial=True, cancelled=cancelled)
        return health, self.clock.now() - started

    def _startup_done(self, done: JobDone, budget: float) -> None:
        if isinstance(done.error, Cancelled):  # not a stop (its outcome is ignored)
            self._startup_failed(budget)
            return
        if isinstance(done.error, FetchError):
            log.warning("FileMonitor: start-up copy interrupted, trying again: %s", done.error)
            self.progress.set_state("not current")
            self.progress.fail("not current", f"start-up copy interrupted: {done.error}")
            self._later("retry-start", RETRY_DELAY)
            return
        if self._outcome(done) is None:
            return
        health, took = done.result
        self.handlers_seen = health.get("published")
        if "epoch" in health:
            self.stream.reset(health["seq"], health["epoch"])
        self.running = True
        self.failed_startup = False
        self.progress.set_state("in sync")
        self.progress.clear()
        snap = self.progress.snapshot()
        self.events.record("info", f"File replication: start-up copy from {self.peer} done in "
                           f"{took:.2f} s ({snap['files_copied']} files, "
                           f"{snap['bytes_copied']} bytes); following changes")
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

    def _resync(self, reason: str) -> None:
        if self.failed_startup and reason != "operator":
            return
        if not self.running:
            if reason == "operator":
                self.failed_startup = False
                self._on_start()
            return
        self.progress.set_state("resynchronising")
        self.progress.count("resyncs")
        self._run("compare", self._compare_continuous, (), self._resync_done)

    def _compare_continuous(self, cancel: Any) -> str | None:
        """On the worker: compare the continuous directories; the active's last publish."""
        self.work.setup()
        assert self.work.spec is not None
        self.work.compare(self.work.spec.dirs("continuous"), initial=False,
                          cancelled=cancel.is_set)
        return self.work.active_health(cancel.is_set).get("published")

    def _resync_done(self, done: JobDone) -> None:
        if isinstance(done.error, FetchError):
            self.progress.fail("not current", f"compare with {self.peer} failed: {done.error}")
            self._later("retry", RETRY_DELAY)
            return
        if self._outcome(done) is None:
            return
        published = done.result
        if published is not None and published != self.handlers_seen:
            self._publish(published)
        self.progress.set_state("in sync")
        self.progress.clear("not current")

    # -- handler publishes ----------------------------------------------------------

    def _on_publish(self, publish_id: str) -> None:
        if not self.running or publish_id == self.handlers_seen:
            return  # the start-up copy (or its retry) compares the handler directory
        self._publish(publish_id)

    def _publish(self, publish_id: str) -> None:
        """Compare the handler directory once: the active published its handlers."""
        if self.upgrade:
            self.handlers_seen = publish_id
            log.info("FileMonitor: handlers published on %s not copied: handlers are not "
                     "replicated in the Upgrade %s state", self.peer, self.upgrade.title())
            return
        self._run("publish", self._compare_handlers, (),
                  lambda done: self._publish_done(done, publish_id))

    def _compare_handlers(self, cancel: Any) -> tuple[int, str]:
        """On the worker: the handler directory; (files copied, where)."""
        self.work.setup()
        assert self.work.spec is not None
        dirs = self.work.spec.dirs("handler")
        before = self.progress.snapshot()["files_copied"]
        self.work.compare(dirs, initial=False, cancelled=cancel.is_set)
        where = ", ".join(str(d.path) for _, d in dirs) or "no handler directory"
        return self.progress.snapshot()["files_copied"] - before, where

    def _publish_done(self, done: JobDone, publish_id: str) -> None:
        if isinstance(done.error, FetchError):
            # The next compare sees the active's newer publish and copies it then.
            self.progress.fail("not current", f"copying published handlers failed: "
                                              f"{done.error}")
            self._later("retry", RETRY_DELAY)
            return
        if self._outcome(done) is None:
            return
        copied, where = done.result
        self.handlers_seen = publish_id
        self.progress.count("publishes")
        self.events.record("info", f"File replication: handlers published on {self.peer} "
                           f"compared ({where}): {copied} file(s) copied")

    def _on_retry(self) -> None:
        self._resync("retry")

    def _on_check(self) -> None:
        """Dynamic parameters: a changed mirror list is compared at once."""
        self._later("check", CHECK_INTERVAL)
        if self.specs().source != self.work.source:
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
            # The compare covers every notice received so far: the ones after it wait
            # (in `waiting`) until it has ended.
            self._resync(verdict.resync)
            self._take(self.stream.synced(self.stream.highest))
        elif verdict.gap:
            self._later("gap", GAP_WAIT)

    def _apply_rows(self, rows: tuple) -> None:
        self._run("change notice", lambda cancel: self.work.apply_rows(rows, cancel.is_set),
                  (), self._rows_done)

    def _rows_done(self, done: JobDone) -> None:
        if self._outcome(done) is not None and done.result:
            self._later("retry", RETRY_DELAY)
