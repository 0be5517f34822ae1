"""DSReplicator: the backup's follower of the active's DS stream (a Pykka actor).

The order that loses nothing and applies nothing twice (the Clone pattern, docs/ds.md):

1. the stream is "subscribed" before anything else: every "DS Change" event the channels
   deliver is told to this actor and, while a resync runs, kept by the stream follower;
2. the resync runs on a worker thread (it waits on the network, each request bounded by
   "Switchover DS Request Timeout"): read the active's head, catch up from its change log
   when this store is synced and unfiltered, and otherwise (or when the root hashes then
   still differ) run compare-and-update, which ends with `mark_synced(head)`;
3. back on the actor, the buffered change sets above the head are applied in seq order.

A resync is a job of the shared shape (`replication/jobs.py`, as the files' mirror work
and an interaction snapshot's load are). A new one supersedes the one under way (a Follow
with a new upgrade filter, a broken stream, a Resync): the old one's cancel event is set,
so its next request raises `Cancelled` (its wait for a channel, or its request in flight,
ends within `requests.STOP_CHECK`), it writes nothing more to the store (each write checks
the event first, see `resync.ResyncStore`), and its outcome is ignored (its generation is
over). Resyncs run one at a time on the actor's one worker: the new one starts when the
old one has returned, and the store stays marked unsynced (or synced at the active's
earlier head) until the new one ends.

Then each event is applied as exactly seq + 1, by the stream's follower
(`replication.stream.Follower`, shared with files and interactions). The same event
arrives on both channels (and again after a replay): anything at or below the applied seq
is dropped. An event from further ahead waits for `GAP_GRACE` reference seconds (the
other channel may still deliver the missing one); a gap that does not close, a change
that does not follow this store's history, or a full buffer triggers a resync. What the
follower hands out waits in `ready` until the actor drains it, many change sets per
transaction, so a burst costs one fsync, not one per change.

After each applied batch the actor acks its seq to the active (coalesced: one ack in
flight), which is what synchronous replication waits for and what the active's status
reports as lag. A failed ack is tried again after `RETRY_DELAY`, by a timer that stopping
to follow cancels with the others.
"""
from __future__ import annotations

import concurrent.futures
import logging
import threading
import uuid
from dataclasses import dataclass, field
from typing import Any, Callable

import pykka

from switchover.clock import Clock, TimerHandle
from switchover.replication.jobs import JobDone, Jobs
from switchover.replication.stream import Follower, Verdict

from .changes import ChangeSet
from .remote import RemoteTree
from .resync import APPLY_BATCH, ResyncStore, run_resync
from .status import ReplicatorStatus
from .storage import GapError
from .store import DSStore
from .tree import DSError, DSFilter

log = logging.getLogger("DSReplicator")

#: Reference seconds an out-of-order event waits for the missing ones.
GAP_GRACE = 1.0
#: Reference seconds before a failed resync (or ack) is tried again.
RETRY_DELAY = 2.0
#: Real seconds a stopping replicator waits for its cancelled resync to return: the
#: service closes the store the resync writes just after (a request in flight gives up
#: within `requests.STOP_CHECK`; a write under way ends as its one transaction).
STOP_WAIT = 2.0


@dataclass(frozen=True)
class Follow:
    """This host became the backup: follow the active (`flt`: upgrade filter or None)."""

    flt: DSFilter | None = None


@dataclass(frozen=True)
class Unfollow:
    """This host is no longer the backup (active, stale or stopping)."""


@dataclass(frozen=True)
class Resync:
    reason: str


@dataclass(frozen=True)
class Change:
    seq: int
    data: bytes


@dataclass(frozen=True)
class Position:
    """Ask: (applied seq, syncing); also a barrier for everything told before it."""


@dataclass(frozen=True)
class _Drain:
    pass


@dataclass(frozen=True)
class _GapCheck:
    gen: int


@dataclass(frozen=True)
class _AckDone:
    seq: int
    ok: bool


@dataclass
class ReplicatorDeps:
    store: DSStore
    clock: Clock
    #: A RemoteTree for one resync, stopped by its cancel event.
    remote: Callable[[threading.Event], RemoteTree]
    #: Send "DS Ack" for a seq; the Future's result is truthy when the active took it.
    send_ack: Callable[[str, int], concurrent.futures.Future] | None = None
    #: Called on the actor after every resync (the service re-reads parameters).
    on_synced: Callable[[], None] = lambda: None
    status: ReplicatorStatus = field(default_factory=ReplicatorStatus)


class DSReplicator(pykka.ThreadingActor):
    """See the module docstring."""

    def __init__(self, deps: ReplicatorDeps) -> None:
        super().__init__()
        self.d = deps
        self.store = deps.store
        self.following = False
        self.flt: DSFilter | None = None
        #: The resync, a job on the actor's one worker (`replication/jobs.py`).
        self.jobs = Jobs(self.actor_ref.tell, "ds-resync")
        self.follower = Follower(applied=self.store.seq)
        #: Change sets the follower handed out, in order, not yet applied: (seq, data).
        self.ready: list[tuple[int, bytes]] = []
        self.drain_scheduled = False
        self.gap_timer: TimerHandle | None = None
        self.retry_timer: TimerHandle | None = None
        self.retry_ack: TimerHandle | None = None
        self.applied = self.store.seq
        self.active_seq = 0
        self.session = uuid.uuid4().hex
        self.acked = 0
        self.ack_in_flight = False

    # -- messages -------------------------------------------------------------------------

    def on_receive(self, message: Any) -> Any:
        try:
            handler = _HANDLERS.get(type(message))
            if handler is None:
                log.warning("DSReplicator: ignoring unknown message %r", message)
                return None
            return handler(self, message)
        except Exception:  # a told message must not stop the actor
            log.exception("DSReplicator: %r failed", type(message).__name__)
            return None

    def on_stop(self) -> None:
        self._stop_following()
        if not self.jobs.close(wait=STOP_WAIT):
            log.error("DSReplicator: the cancelled resync did not return within %g s",
                      STOP_WAIT)

    @property
    def syncing(self) -> bool:
        """A resync is under way (the job's end not yet taken)."""
        return self.jobs.running is not None

    def _follow(self, msg: Follow) -> None:
        # A resync under way (e.g. under the previous upgrade filter) is cancelled by the
        # new one; it does not run on with the old filter.
        self.following, self.flt = True, msg.flt
        self.d.status.set(following=True, error="")
        self._start_resync("this server became the backup")

    def _unfollow(self, _: Unfollow) -> None:
        self._stop_following()

    def _stop_following(self) -> None:
        self.following = False
        self.jobs.cancel()
        self._cancel_timers()
        self.ready.clear()
        self.follower.reset(self.store.seq)
        self.d.status.set(following=False, syncing=False, remote=None)

    def _cancel_timers(self) -> None:
        """A gap check, a resync retry or an ack retry armed so far is stale."""
        for timer in (self.gap_timer, self.retry_timer, self.retry_ack):
            if timer is not None:
                timer.cancel()
        self.gap_timer = self.retry_timer = self.retry_ack = None

    def _resync(self, msg: Resync) -> None:
        if self.following:
            self._start_resync(msg.reason)

    def _change(self, msg: Change) -> None:
        if not self.following:
            return
        if msg.seq > self.active_seq:
            self.active_seq = msg.seq
            self.d.status.set(active_seq=msg.seq)
        self._take(self.follower.offer(msg.seq, (msg.seq, msg.data)))

    def _take(self, verdict: Verdict) -> None:
        """Act on what the follower says: queue what is ready, watch a gap, resync."""
        self.ready.extend(verdict.ready)
        if verdict.resync is not None:
            self._resync(Resync(f"change stream broken: {verdict.resync}"))
            return
        if verdict.gap and self.gap_timer is None:
            gen = self.jobs.gen
            self.gap_timer = self.d.clock.call_later(
                GAP_GRACE, lambda: self._tell(_GapCheck(gen)))
        if self.ready and not self.drain_scheduled:
            self.drain_scheduled = True
            self.actor_ref.tell(_Drain())

    def _drain(self, _: _Drain) -> None:
        self.drain_scheduled = False
        if not self.following or self.syncing:
            return
        if self.ready:
            taken, self.ready = self.ready[:APPLY_BATCH], self.ready[APPLY_BATCH:]
            try:
                self.store.apply_many([ChangeSet.decode(data) for _, data in taken], self.flt)
            except (GapError, DSError) as exc:
                self.ready[:0] = taken
                self._start_resync(f"change stream broken: {exc}")
                return
            self._set_applied(taken[-1][0])
            if self.ready and not self.drain_scheduled:
                self.drain_scheduled = True
                self.actor_ref.tell(_Drain())
        self._ack()  # also a retry of one that failed (`_ack_done`)

    def _gap_check(self, msg: _GapCheck) -> None:
        self.gap_timer = None
        if msg.gen != self.jobs.gen or not self.following or self.syncing:
            return
        self._take(self.follower.check_gap())

    # -- resync ---------------------------------------------------------------------------

    def _start_resync(self, reason: str) -> None:
        """Set a resync in motion; one still under way is superseded (its outcome is
        ignored, and the new one starts on the worker once it has returned)."""
        # what was handed out and not applied waits again, beside what comes meanwhile
        uncommitted, self.ready = self.ready, []
        self.follower.begin_sync(tuple((seq, seq - 1, (seq, data)) for seq, data in uncommitted),
                                 applied=self.applied)
        self._cancel_timers()
        # the remote is bound to the job's event before the job starts: the old one's
        # requests give up, the new one's wait their turn
        cancel = threading.Event()
        remote = self.d.remote(cancel)
        self.d.status.set(syncing=True, remote=remote, error="")
        log.info("DS resync started: %s", reason)
        self.jobs.start("resync", _run, ResyncStore(self.store, cancel), remote, self.flt,
                        self.d.status, cancel=cancel)

    def _resync_done(self, msg: JobDone) -> None:
        if not self.jobs.current(msg):
            return
        # each end shows in status in one step: never "not syncing" without its outcome
        if msg.error is not None:
            text = f"{type(msg.error).__name__}: {msg.error}"
            log.warning("DS resync failed (%s); retrying in %g s", text, RETRY_DELAY)
            self.d.status.set(syncing=False, remote=None, error=f"resync failed: {text}")
            gen = self.jobs.gen
            self.retry_timer = self.d.clock.call_later(
                RETRY_DELAY, lambda: self._tell(Resync("retry after a failed resync"), gen))
            return
        head_seq, sentence = msg.result
        log.info("%s", sentence)
        self.active_seq = max(self.active_seq, head_seq)
        self.applied = self.store.seq
        status = self.d.status
        with status.lock:
            status.resyncs += 1
            status.syncing, status.remote, status.last_sync = False, None, sentence
            status.applied, status.active_seq = self.applied, self.active_seq
        self.acked = 0  # the active may be another server now: tell it where we are
        try:
            self.d.on_synced()
        except Exception:
            log.exception("DSReplicator: on_synced failed")
        self._take(self.follower.synced(self.store.seq))
        self._drain(_Drain())

    # -- acks ---------------------------------------------------------------------------

    def _ack(self) -> None:
        if self.d.send_ack is None or self.ack_in_flight or self.applied <= self.acked:
            return
        seq = self.applied
        self.ack_in_flight = True
        future = self.d.send_ack(self.session, seq)
        future.add_done_callback(lambda f: self._tell(_AckDone(seq, _truthy(f))))

    def _ack_done(self, msg: _AckDone) -> None:
        self.ack_in_flight = False
        if msg.ok:
            self.acked = max(self.acked, msg.seq)
            self._ack()
        elif self.following:
            self.retry_ack = self.d.clock.call_later(
                RETRY_DELAY, lambda: self._tell(_Drain()))

    # -- helpers ------------------------------------------------------------------------

    def _set_applied(self, seq: int) -> None:
        self.applied = seq
        self.d.status.set(applied=seq)

    def _tell(self, message: Any, gen: int | None = None) -> None:
        if gen is not None and gen != self.jobs.gen:
            return
        try:
            self.actor_ref.tell(message)
        except pykka.ActorDeadError:
            pass


def _run(cancel: threading.Event, store: ResyncStore, remote: RemoteTree,
         flt: DSFilter | None, status: ReplicatorStatus) -> tuple[int, str]:
    """The resync job, on the worker: `run_resync`, its bytes and copy phases counted in
    status whether its outcome is taken or ignored (superseded)."""
    try:
        return run_resync(store, remote, flt)
    finally:
        with status.lock:
            status.bytes_total += remote.bytes
            if remote.phases:
                status.copy_phases = dict(remote.phases)


def _truthy(future: concurrent.futures.Future) -> bool:
    try:
        return bool(future.result())
    except Exception:
        return False


_HANDLERS: dict[type, Callable[[DSReplicator, Any], Any]] = {
    Follow: DSReplicator._follow,
    Unfollow: DSReplicator._unfollow,
    Resync: DSReplicator._resync,
    Change: DSReplicator._change,
    Position: lambda self, _: (self.applied, self.syncing),
    _Drain: DSReplicator._drain,
    JobDone: DSReplicator._resync_done,
    _GapCheck: DSReplicator._gap_check,
    _AckDone: DSReplicator._ack_done,
}
