"""The witness driver: takes, keeps and gives back the pair's key in etcd, never blocking.

The key is the right to be active (docs/witness.md). The driver carries out the three
commands of :mod:`actors.witness_messages` and reports every outcome to `post` as one of
its immutable reports. What to do about them (switch, demote, warn) is the state
machine's business, not the driver's.

Each etcd call runs on one worker thread, bounded by a timeout of TTL/6, and its result
comes back through `deliver` as a message for :meth:`WitnessDriver.handle`; time comes
from the injected clock, so tests run the driver on a FakeClock. With T the lease's TTL:

- the holder renews every T/3 and reads the key back: a key deleted or held under
  another lease (an operator's hand) is lost at once, since anyone may now create it;
  a failed renewal is reported as unreachable and retried T/6 after the attempt began;
- the holder reports the key lost 2T/3 after the send of its last renewal etcd confirmed,
  whether or not a request is still in flight. etcd started counting T no earlier than
  that send, so at least T/3 remains for the demotion before anyone else can take the
  key: the driver never revokes a lease it reports lost, so that margin is never cut
  short;
- a candidate that finds the key held, or etcd unreachable, tries again every T/3, or
  just after the holder's lease runs out when that is sooner (so that a dead holder's
  key is taken at most T after its last renewal, not up to T/3 later), and reports a
  change of holder or of reason once, not every attempt; asked again
  meanwhile (the state machine does when the old active confirms its hand-over, after
  revoking its lease) it tries at once.

etcd counts whole real seconds, at least its own minimum (2 s with default tuning): the
driver asks for the TTL rounded up to that, and its schedule follows the TTL etcd granted,
which is never shorter than the one asked for. With a time scale of 0.01 the witness
therefore runs at etcd's pace, not a hundred times faster.
"""
from __future__ import annotations

import logging
import math
from concurrent.futures import Executor, Future, ThreadPoolExecutor
from dataclasses import dataclass, replace
from typing import Any, Callable, Protocol

from switchover.actors.witness_messages import (
    AcquireWitness,
    ReadWitness,
    ReleaseWitness,
    WitnessAcquired,
    WitnessHeldBy,
    WitnessHolder,
    WitnessLost,
    WitnessReleased,
    WitnessUnreachable,
)
from switchover.clock import Clock, TimerHandle
from switchover.transport.witness import AcquireResult, Holder

log = logging.getLogger("Witness")

IDLE, ACQUIRING, HOLDING = "idle", "acquiring", "holding"

#: etcd's shortest lease with its default tuning (1.5 election timeouts, rounded up).
MIN_LEASE_SECONDS = 2
#: Real seconds after a held lease's end before a candidate tries again: etcd reports
#: whole seconds and deletes an expired lease's key in a sweep every half second.
EXPIRY_SLACK = 0.5


class WitnessStore(Protocol):
    """What the driver needs of etcd (transport.witness.EtcdWitness, or a test's fake)."""

    def acquire(self, holder: Holder, ttl: int) -> AcquireResult: ...
    def keep_alive(self, lease: int) -> int: ...
    def read(self) -> tuple[Holder | None, int]: ...
    def release(self, lease: int) -> None: ...
    def close(self) -> None: ...


# --- completions (internal) ---------------------------------------------------------------

@dataclass(frozen=True)
class _Due:
    op: int


@dataclass(frozen=True)
class _Guard:
    op: int


@dataclass(frozen=True)
class _Done:
    op: int
    kind: str
    sent_at: float
    value: Any = None
    error: str = ""
    context: Any = None


class WitnessDriver:
    """Owns at most one lease on the pair's key; see the module doc for the schedule.

    `store(timeout)` makes the etcd client, with `timeout` real seconds per call, on the
    worker thread that alone uses it; `post` receives the reports; `deliver` brings
    completions and timers back in as messages for :meth:`handle` (the actor's inbox).
    """

    def __init__(
        self,
        clock: Clock,
        store: Callable[[float], WitnessStore],
        server: str,
        ttl: float,
        post: Callable[[object], None],
        deliver: Callable[[object], None],
        executor: Executor | None = None,
    ) -> None:
        self.clock = clock
        self.server = server
        self.ttl = float(ttl)
        self._ask = max(MIN_LEASE_SECONDS, math.ceil(clock.real_seconds(self.ttl)))
        self.post = post
        self.deliver = deliver
        self._make_store = store
        self._store: WitnessStore | None = None
        self._executor = executor or ThreadPoolExecutor(1, thread_name_prefix="witness")
        self._own_executor = executor is None
        self.mode = IDLE
        self._op = 0
        self._holder: Holder | None = None
        self._lease = 0
        self._granted = self._ask / self._scale()
        self._confirmed_at = 0.0
        self._timer: TimerHandle | None = None
        self._guard: TimerHandle | None = None
        self._attempting = False  # an acquire is in flight
        self._retry_now = False  # asked again meanwhile: no wait before the next attempt
        self._last: object = None

    @property
    def lease_ttl(self) -> float:
        """The TTL the schedule counts with, in reference seconds (see the module doc)."""
        return self._granted

    # --- messages -----------------------------------------------------------------------

    def handle(self, message: object) -> Future | None:
        """One command, completion or timer; for ReleaseWitness, the revoke's future
        (done once etcd answered it), so that a hand-over tells its peer only then."""
        if isinstance(message, AcquireWitness):
            self.acquire(message.generation)
        elif isinstance(message, ReleaseWitness):
            return self.release()
        elif isinstance(message, ReadWitness):
            self._submit("read", lambda s: s.read()[0])
        elif isinstance(message, _Done):
            self._on_done(message)
        elif isinstance(message, _Guard):
            if message.op == self._op and self.mode == HOLDING:
                self._on_guard()
        elif isinstance(message, _Due):
            if message.op == self._op and self.mode == ACQUIRING:
                self._attempt()
            elif message.op == self._op and self.mode == HOLDING:
                self._renew()
        else:
            log.warning("ignoring unknown message %r", message)
        return None

    def acquire(self, generation: int) -> None:
        holder = Holder(self.server, generation)
        if self.mode == HOLDING and self._holder == holder:
            self.post(WitnessAcquired(holder, self._granted))
            return
        if self.mode == ACQUIRING and self._holder == holder:
            # Asked again while trying: the holder may just have released the key, so
            # try now rather than at the next retry (after the attempt in flight, if any).
            if self._attempting:
                self._retry_now = True
            else:
                self._attempt()
            return
        if self.mode == HOLDING:
            self._revoke(report=False)  # FIFO worker: revoked before the new attempt runs
        self._reset(ACQUIRING, holder)
        self._attempt()

    def release(self) -> Future | None:
        revoked = None
        if self.mode == HOLDING:
            revoked = self._revoke(report=True)
        else:
            self.post(WitnessReleased(None, False, "this server held no witness key"))
        self._reset(IDLE, None)
        return revoked

    def close(self) -> None:
        """Stop without revoking: a stopping host's key expires within its TTL."""
        self._reset(IDLE, None)
        executor, self._executor = self._executor, None
        if executor is not None and self._own_executor:
            executor.submit(self._close_store)
            executor.shutdown(wait=False)

    def snapshot(self) -> dict[str, Any]:
        """For status: what the driver holds or wants, and the TTL it counts with."""
        return {"mode": self.mode, "holder": str(self._holder) if self._holder else None,
                "ttl": self._granted, "last": type(self._last).__name__ if self._last else None}

    # --- acquiring ----------------------------------------------------------------------

    def _attempt(self) -> None:
        holder, ttl = self._holder, self._ask
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        self._attempting, self._retry_now = True, False
        self._submit("acquire", lambda s: s.acquire(holder, ttl))

    def _retry(self, expires_in: float | None = None) -> None:
        """The next attempt: at once if asked again meanwhile, else in T/3, or just after
        the holder's lease runs out (`expires_in` real seconds, by etcd) if that is sooner."""
        if self._retry_now:
            self._attempt()
            return
        delay = self._granted / 3
        if expires_in is not None:
            delay = min(delay, (expires_in + EXPIRY_SLACK) / self._scale())
        self._schedule(delay)

    def _on_acquired(self, done: _Done) -> None:
        result: AcquireResult = done.value
        if result.acquired:
            self.mode, self._lease = HOLDING, result.lease
            self._granted = max(self._ask, result.ttl) / self._scale()
            log.info("Took the witness key as %s (lease TTL %g s)", self._holder, self._granted)
            self._confirmed(done.sent_at)
            self._report(WitnessAcquired(self._holder, self._granted))
            return
        if result.holder is None:  # it expired between the compare and the read: at once
            self._attempt()
            return
        self._report(WitnessHeldBy(result.holder))
        self._retry(result.expires_in)

    # --- holding ------------------------------------------------------------------------

    def _renew(self) -> None:
        lease = self._lease
        self._submit("renew", lambda s: (s.keep_alive(lease), s.read()))

    def _on_renewed(self, done: _Done) -> None:
        if done.error:
            self._report(WitnessUnreachable(done.error, holding=True))
            self._schedule(max(0.0, done.sent_at + self._granted / 6 - self.clock.now()))
            return
        ttl, (holder, key_lease) = done.value
        if ttl <= 0:
            self._lost("etcd says the lease has expired", margin=0.0)
            return
        if key_lease != self._lease:
            self._lost(f"the key is now held by {holder}" if holder else "the key was deleted",
                       margin=0.0)
            return
        self._confirmed(done.sent_at)
        if isinstance(self._last, WitnessUnreachable):
            self._report(WitnessAcquired(self._holder, self._granted))

    def _confirmed(self, sent_at: float) -> None:
        """etcd restarted the lease no earlier than `sent_at`: move both deadlines."""
        self._confirmed_at = max(self._confirmed_at, sent_at)
        self._schedule(max(0.0, sent_at + self._granted / 3 - self.clock.now()))
        if self._guard is not None:
            self._guard.cancel()
        op = self._op
        due = self._confirmed_at + 2 * self._granted / 3 - self.clock.now()
        self._guard = self.clock.call_later(max(0.0, due), lambda: self.deliver(_Guard(op)))

    def _on_guard(self) -> None:
        now = self.clock.now()
        self._lost(f"no renewal of the lease confirmed for {now - self._confirmed_at:.1f} s",
                   margin=self._confirmed_at + self._granted - now)

    def _lost(self, reason: str, margin: float) -> None:
        holder = self._holder
        log.error("Lost the witness key (%s): %s; it expires in %.1f s at the latest",
                  holder, reason, margin)
        self._reset(IDLE, None)  # not revoked: the demotion keeps its margin (module doc)
        self._report(WitnessLost(holder, reason, margin))

    def _revoke(self, report: bool) -> Future | None:
        holder, lease = self._holder, self._lease
        return self._submit("release", lambda s: s.release(lease), context=(holder, report))

    # --- plumbing -----------------------------------------------------------------------

    def _on_done(self, done: _Done) -> None:
        if done.kind == "release":
            holder, report = done.context
            if report:
                self._report(WitnessReleased(holder, not done.error, done.error))
            return
        if done.kind == "read":
            self._report(WitnessUnreachable(done.error, self.mode == HOLDING) if done.error
                         else WitnessHolder(done.value))
            return
        if done.op != self._op:
            if done.kind == "acquire" and not done.error and done.value.acquired:
                lease = done.value.lease  # taken for a wish since withdrawn: give it back
                self._submit("release", lambda s: s.release(lease), context=(None, False),
                             stale=True)
            return
        if done.kind == "acquire":
            self._attempting = False
            if done.error:
                self._report(WitnessUnreachable(done.error, holding=False))
                self._retry()
            else:
                self._on_acquired(done)
        elif done.kind == "renew":
            self._on_renewed(done)

    def _submit(self, kind: str, call: Callable[[WitnessStore], Any], context: Any = None,
                stale: bool = False) -> Future | None:
        if self._executor is None:
            return None
        op, sent_at = (-1 if stale else self._op), self.clock.now()

        def run() -> _Done:
            try:
                result = call(self._open_store())
            except Exception as exc:  # WitnessError, or a fault the report must carry
                return _Done(op, kind, sent_at, error=str(exc) or type(exc).__name__,
                             context=context)
            return _Done(op, kind, sent_at, result, context=context)

        future = self._executor.submit(run)
        future.add_done_callback(
            lambda f: self.deliver(_result(f, _Done(op, kind, sent_at, context=context))))
        return future

    def _open_store(self) -> WitnessStore:
        if self._store is None:
            self._store = self._make_store(self._ask / 6)
        return self._store

    def _close_store(self) -> None:
        if self._store is not None:
            self._store.close()

    def _reset(self, mode: str, holder: Holder | None) -> None:
        self._op += 1
        for timer in (self._timer, self._guard):
            if timer is not None:
                timer.cancel()
        self._timer = self._guard = None
        self.mode, self._holder, self._lease = mode, holder, 0
        self._attempting = self._retry_now = False
        self._confirmed_at = 0.0
        self._last = None

    def _schedule(self, delay: float) -> None:
        if self._timer is not None:
            self._timer.cancel()
        op = self._op
        self._timer = self.clock.call_later(delay, lambda: self.deliver(_Due(op)))

    def _report(self, message: object) -> None:
        if message == self._last:
            return
        self._last = message
        self.post(message)

    def _scale(self) -> float:
        """Real seconds per reference second (etcd counts real seconds)."""
        return self.clock.real_seconds(1.0) or 1.0


def _result(future: Future, cancelled: _Done) -> _Done:
    try:
        return future.result()
    except BaseException as exc:  # cancelled at shutdown: `run` itself never raises
        return replace(cancelled, error=str(exc) or type(exc).__name__)
