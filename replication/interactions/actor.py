"""InteractionRecovery: the actor that owns a host's interaction store.

On the active it serves applications and the backup's snapshots (`active.ActiveSide`);
on the backup it keeps the shadows (`backup.BackupSide`) and runs full synchronisations;
when the backup becomes active it promotes every shadow *before* it serves a single
application request (the requests wait in its mailbox meanwhile). The Notifier's thread
and the channels' threads only put work in `Inbox`es and tell the actor to drain them,
so a burst costs one message and one transaction, not one per change.
"""
from __future__ import annotations

import collections
import logging
import threading
import time
from typing import Any, Callable

import pykka

from switchover.replication.jobs import JobDone, Jobs

from .active import ActiveSide, Request
from .backup import GAP_GRACE, BackupSide
from .messages import (
    AckDone,
    Acked,
    Deps,
    DrainChanges,
    DrainRequests,
    GapCheck,
    Resync,
    Role,
    SnapshotOpen,
    SyncFailed,
    SyncOpened,
    Tick,
)
from .recovery import EnabledTypes, plan_settings_change, shadowable
from .status import read_settings
from .store import InteractionStore
from .sync import SnapshotFetch, SyncAborted

log = logging.getLogger("InteractionRecovery")

#: Store meta: whether the rows are the live interactions or a backup's shadows.
ROWS = "rows"
#: Application requests handled per transaction and published per batch, at most. A
#: slice's first change waits for its last one's commit, so smaller slices cut the shadow
#: lag; 50 still carries about 11,500 updates/s on two cores (bench/interactions.py).
BURST = 50


class InteractionRecovery(pykka.ThreadingActor):
    def __init__(self, deps: Deps) -> None:
        super().__init__()
        self.d = deps
        self.role = "none"
        self.fetch: SnapshotFetch | None = None
        self.again: set = set()
        self._timer: Any = None
        self._gap_timer: Any = None
        self.jobs: Jobs | None = None
        #: The snapshot being loaded (a job) and the messages held back until it ends.
        self.loading: SnapshotFetch | None = None
        self.held: collections.deque[Any] = collections.deque()

    # --- lifecycle --------------------------------------------------------------------

    def on_start(self) -> None:
        self.store = InteractionStore(self.d.path, checkpoint_thread=True)
        self.sessions = self.d.sessions
        clock = self.d.clock
        self.active = ActiveSide(self.store, self.d.publish, self.sessions, self.d.ack_wait,
                                 now=lambda: clock.real_seconds(clock.now()))
        self.backup = BackupSide(self.store, self._send_ack, arm_gap=self._arm_gap,
                                 resync=lambda types, _reason: self._sync(types))
        self.settings = read_settings(self.d.params(), (EnabledTypes(), False))
        self.backup.enabled, self.backup.mail_filter = self.settings
        self.d.requests.tell = self.actor_ref.tell
        self.d.changes.tell = self.actor_ref.tell
        self.jobs = Jobs(self.actor_ref.tell, "InteractionRecovery-load")
        self._publish_status()
        self._schedule()

    def on_stop(self) -> None:
        for timer in (self._timer, self._gap_timer):
            if timer is not None:
                timer.cancel()
        self._cancel_fetch()  # a load under way rolls back at its next record
        if self.jobs is not None and not self.jobs.close(wait=5.0):
            log.error("InteractionRecovery: the snapshot load did not roll back within 5 s")
        self.sessions.close_all()
        self.active.fail_waiting("stopping")
        self.store.close()

    def _schedule(self) -> None:
        ref = self.actor_ref
        self._timer = self.d.clock.call_later(
            self.d.tick, lambda: ref.tell(Tick()) if ref.is_alive() else None)

    def on_receive(self, message: Any) -> Any:
        if self.loading is not None and type(message) not in _DURING_LOAD:
            # A snapshot load owns the store: what would touch it waits until the load has
            # ended; a role change cancels the load first, so it waits a moment only.
            if isinstance(message, Role) and message.role != "backup":
                self.loading.cancel()
            self.held.append(message)
            return None
        return self._dispatch(message)

    def _dispatch(self, message: Any) -> Any:
        handler = _HANDLERS.get(type(message))
        if handler is None:
            log.warning("InteractionRecovery: unexpected message %r", message)
            return None
        return handler(self, message)

    # --- roles ------------------------------------------------------------------------

    def _role(self, message: Role) -> None:
        before, self.role = self.role, message.role
        if message.role == "active":
            self._become_active(before)
        elif message.role == "backup":
            self._become_backup()
        else:
            self._cancel_fetch()
            self.active.fail_waiting(f"this server is {message.role}")
        self._publish_status()

    def _become_active(self, before: str) -> None:
        """Promote the shadows first, then serve: queued requests wait behind this."""
        self._cancel_fetch()
        self._drain_changes(DrainChanges())
        self.backup.release_all()
        self.active.subscription = None
        self.active.restart_streams()
        if self.store.meta(ROWS) == "shadow":
            started = time.monotonic()
            results = self.store.promote(time.time())
            took = time.monotonic() - started
            counts = collections.Counter(r.action.value for r in results)
            self.store.set_meta(ROWS, "live")
            self.d.status.update(promoted=len(results), promotion_seconds=round(took, 3))
            log.info("InteractionRecovery: promoted %d shadows to live interactions in %.3f s "
                     "(%s); serving applications now", len(results), took,
                     ", ".join(f"{k} {v}" for k, v in sorted(counts.items())) or "none")
        else:
            self.store.set_meta(ROWS, "live")
            log.info("InteractionRecovery: active (was %s): serving applications", before)

    def _become_backup(self) -> None:
        self.active.fail_waiting("this server is now the backup")
        enabled, _ = self.settings
        dropped = {t.value: n for t in _all_types() if t not in enabled
                   if (n := self.store.drop_type(t))}
        if dropped:
            log.info("InteractionRecovery: dropped interactions of types not shadowed: %s",
                     dropped)
        self.store.set_meta(ROWS, "shadow")
        self._sync(set(enabled))

    def _resync(self, _: Resync) -> None:
        if self.role == "backup":
            self._sync(set(self.settings[0]))

    # --- full synchronisation ---------------------------------------------------------

    def _sync(self, types: set) -> None:
        if not types:
            self._publish_status()
            return
        self.backup.hold(types)
        if self.fetch is not None:
            self.again |= types
            return
        enabled, mail_filter = self.settings
        ref = self.actor_ref
        self.fetch = SnapshotFetch(
            types=types, subscribe=enabled, mail_filter=mail_filter,
            request=self.d.peer_request, timeout=self.d.sync_timeout,
            on_open=lambda f: ref.tell(SyncOpened(f)),
            on_fail=lambda f, why: ref.tell(SyncFailed(f, why)),
        )
        self.fetch.start()
        self._publish_status()

    def _opened(self, message: SyncOpened) -> None:
        """The active opened its snapshot: load it as a job (`_load`); the actor goes on
        answering meanwhile (see `on_receive`)."""
        fetch = message.fetch
        if fetch is not self.fetch or fetch.cancelled:
            return
        enabled, mail_filter = self.settings
        keep = (lambda i: shadowable(i, enabled, mail_filter)) if mail_filter else None
        self.d.status.update(sync=fetch)
        assert self.jobs is not None
        self.loading = fetch
        self.jobs.start("snapshot load", self._load, fetch, keep,
                        self.d.clock.real_seconds(self.d.sync_timeout) + 1.0)

    def _load(self, cancel: threading.Event, fetch: SnapshotFetch,
              keep: Callable[[Any], bool] | None, wait: float) -> tuple[int, float]:
        """On the worker: all or nothing, in one transaction; cancelling the fetch makes
        it roll back at its next record. (rows loaded, seconds).

        It writes through the actor's own store (its page cache stays warm for what
        follows: the stream, a promotion): lent while no handler touches it."""
        started = time.monotonic()
        loaded = self.store.load_snapshot(fetch.items(wait=wait), keep)
        return loaded, time.monotonic() - started

    def _loaded(self, done: JobDone) -> None:
        assert self.jobs is not None
        if not self.jobs.current(done):
            return
        fetch, self.loading = self.loading, None
        assert fetch is not None
        try:
            self._load_ended(fetch, done)
        finally:
            while self.held and self.loading is None:
                self._dispatch(self.held.popleft())

    def _load_ended(self, fetch: SnapshotFetch, done: JobDone) -> None:
        if done.error is not None and fetch.cancelled:  # a role change: no retry
            self._cancel_fetch()
            return
        if done.error is not None:
            if not isinstance(done.error, (SyncAborted, ValueError, KeyError)):
                log.error("InteractionRecovery: loading a snapshot failed", exc_info=done.error)
            self._failed(SyncFailed(fetch, str(done.error)))
            return
        loaded, took = done.result
        self.fetch = None
        self.d.status.update(sync=None)
        self.backup.release(fetch.types)
        log.info("InteractionRecovery: full synchronisation of %s: %d interactions in %.2f s",
                 ", ".join(t.value for t in fetch.types), loaded, took)
        self._next_sync()

    def _failed(self, message: SyncFailed) -> None:
        if message.fetch is not self.fetch:
            return
        self.fetch = None
        self.d.status.update(sync=None)
        if self.role == "backup":
            log.warning("InteractionRecovery: full synchronisation of %s failed (%s); "
                        "retrying", ", ".join(t.value for t in message.fetch.types),
                        message.reason)
            self.again |= set(message.fetch.types)
            ref = self.actor_ref
            self.d.clock.call_later(
                5.0, lambda: ref.tell(Resync()) if ref.is_alive() else None)
        self._publish_status()

    def _next_sync(self) -> None:
        again, self.again = self.again, set()
        if self.role == "backup" and again:
            self._sync(again & set(self.settings[0]))
        self._publish_status()

    def _cancel_fetch(self) -> None:
        if self.fetch is not None:
            self.fetch.cancel()
            self.fetch = None
        self.again = set()
        self.d.status.update(sync=None)

    # --- parameters -------------------------------------------------------------------

    def _tick(self, _: Tick) -> None:
        self._schedule()
        self.active.expire()
        new = read_settings(self.d.params(), self.settings)
        if new != self.settings:
            self._settings_changed(new)
        if time.time() - getattr(self, "_pruned", 0.0) > 60:
            self._pruned = time.time()
            self.store.forget_requests(time.time() - 600)
        self._publish_status()

    def _settings_changed(self, new: tuple[EnabledTypes, bool]) -> None:
        (old, old_filter), (enabled, mail_filter) = self.settings, new
        plan = plan_settings_change(old, old_filter, enabled, mail_filter)
        self.settings = new
        self.backup.enabled, self.backup.mail_filter = new
        log.info("InteractionRecovery: recovery enabled for %s, mail filter %s",
                 ", ".join(t.value for t in enabled) or "no type", "on" if mail_filter else "off")
        if self.role != "backup" or plan.nothing:
            return
        for t in plan.drop:
            self.backup.forget(t)
            self.store.drop_type(t)
        resync = set(plan.full_sync)
        if plan.resync_email:
            resync.add(next(t for t in enabled if t.value == "email"))
        if self.fetch is not None:  # a running sync has the old subscription: redo it
            resync |= set(self.fetch.types)
            self.fetch.cancel()
            self.fetch = None
        resync |= self.again
        self.again = set()
        self._sync(resync)

    # --- streams ----------------------------------------------------------------------

    def _drain_requests(self, _: DrainRequests) -> None:
        requests: list[Request] = self.d.requests.take()
        if not requests:
            return
        if self.role != "active":
            for r in requests:
                r.reply("rejected", {"code": "not-active",
                                     "reason": f"this server is {self.role}, not active"})
            return
        # In slices: the first changes of a large burst go to the backup (and their
        # applications get their acknowledgements) without waiting for the last ones.
        for start in range(0, len(requests), BURST):
            self.active.handle(requests[start:start + BURST], self.settings)

    def _drain_changes(self, _: DrainChanges) -> None:
        batches = self.d.changes.take()
        if batches and self.role in ("backup", "active"):
            self.backup.changes(batches)
            self.d.status.update(processed=self.backup.processed, applied=self.backup.applied,
                                 held=self.backup.held())

    def _arm_gap(self) -> None:
        """A change waits for a missing one: look again after the grace."""
        if self._gap_timer is None:
            ref = self.actor_ref
            self._gap_timer = self.d.clock.call_later(
                GAP_GRACE, lambda: ref.tell(GapCheck()) if ref.is_alive() else None)

    def _gap_check(self, _: GapCheck) -> None:
        self._gap_timer = None
        if self.role == "backup":
            self.backup.check_gaps()

    def _snapshot_open(self, message: SnapshotOpen) -> None:
        if self.role != "active":
            message.reply("rejected", {"code": "not-active", "reason": f"{self.role}"})
            return
        self.active.snapshot_open(message.body, message.reply)

    def _acked(self, message: Acked) -> None:
        if self.role == "active":
            self.active.acked(message.seqs)

    def _send_ack(self, seqs: dict[str, int]) -> None:
        ref = self.actor_ref
        self.d.peer_send("Shadow Ack", {"seqs": seqs},
                         lambda: ref.tell(AckDone()) if ref.is_alive() else None)

    def _ack_done(self, _: AckDone) -> None:
        self.backup.ack_done()

    def _publish_status(self) -> None:
        enabled, mail_filter = self.settings
        self.d.status.update(
            role=self.role, types=[t.value for t in enabled], mail_filter=mail_filter,
            shadows=self.store.count(), held=self.backup.held(),
            lag_ms=self.backup.lag_ms(), backup_ok=self.active.backup_ok,
            published=self.active.published, applied=self.backup.applied,
            processed=self.backup.processed,
        )


def _all_types():
    from .model import InteractionType

    return tuple(InteractionType)


_HANDLERS: dict[type, Callable[[InteractionRecovery, Any], Any]] = {
    Role: InteractionRecovery._role,
    Resync: InteractionRecovery._resync,
    Tick: InteractionRecovery._tick,
    DrainRequests: InteractionRecovery._drain_requests,
    DrainChanges: InteractionRecovery._drain_changes,
    GapCheck: InteractionRecovery._gap_check,
    SnapshotOpen: InteractionRecovery._snapshot_open,
    Acked: InteractionRecovery._acked,
    AckDone: InteractionRecovery._ack_done,
    SyncOpened: InteractionRecovery._opened,
    SyncFailed: InteractionRecovery._failed,
    JobDone: InteractionRecovery._loaded,
}

#: What is handled while a snapshot loads: none of it touches the store.
_DURING_LOAD = frozenset({JobDone, AckDone, SyncOpened, SyncFailed})
