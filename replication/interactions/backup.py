"""The backup's side of interaction recovery, run on the InteractionRecovery actor's thread.

Changes arrive in numbered batches on both channels (the Notifier publishes each event on
main and aux); the service drops a batch's second copy, and each type's stream follower
(`replication.stream.Follower`) applies each op once and in order: an op is applied only
when the change the active sent before it on that stream (its `prev`) has been. One
missing (lost between the hosts) holds the ops behind it for `GAP_GRACE` (the other
channel may still bring it), then the type is fully synchronised again. Types being
synchronised hold their changes until the snapshot is loaded; the follower then hands
out those the snapshot does not already contain. After every burst the backup confirms
how far each stream is applied ("Shadow Ack"): the follower's number, never beyond a
missing change, which releases every acknowledgement up to it on the active. Several
confirmations may be in flight (at most `ACKS_IN_FLIGHT`), so a burst's confirmation does
not wait for the round trip of the one before.
"""
from __future__ import annotations

import collections
import logging
import time
from typing import Any, Callable, Iterable, Mapping

from switchover.replication.stream import Follower, Verdict

from .model import InteractionType, InvalidOperation, Op
from .recovery import EnabledTypes
from .store import InteractionStore
from .wire import change_of, unpack

log = logging.getLogger("InteractionRecovery")

Change = tuple[Op, "str | None", dict[str, bytes]]
#: How many recent lag samples the percentiles are taken over.
LAG_SAMPLES = 20_000
#: Confirmations sent and not yet answered, at most (one more waits for an answer).
ACKS_IN_FLIGHT = 8
#: Reference seconds a change waits for a missing one before its type is resynchronised.
GAP_GRACE = 1.0


class BackupSide:
    """`arm_gap()`: call `check_gaps` in `GAP_GRACE` (if not already due);
    `resync(types, reason)`: synchronise these types fully (a change is lost)."""

    def __init__(self, store: InteractionStore, send_ack: Callable[[dict[str, int]], None],
                 arm_gap: Callable[[], None] = lambda: None,
                 resync: Callable[[set[InteractionType], str], None] = lambda t, r: None
                 ) -> None:
        self.store = store
        self._send_ack = send_ack
        self._arm_gap = arm_gap
        self._resync = resync
        self.enabled = EnabledTypes()
        self.mail_filter = False
        self.followers: dict[InteractionType, Follower] = {}
        self._ack_inflight = 0
        self._ack_dirty = False
        self.lags: collections.deque[float] = collections.deque(maxlen=LAG_SAMPLES)
        self.applied = 0
        self.processed = 0  # ops taken from batches (applied, held or not shadowed here)

    def held(self) -> int:
        """Changes received and waiting (for a snapshot, or for a missing change)."""
        return sum(len(f) for f in self.followers.values())

    def _follower(self, t: InteractionType) -> Follower:
        found = self.followers.get(t)
        if found is None:
            found = self.followers[t] = Follower(applied=self.store.seq(t))
        return found

    def _take(self, t: InteractionType, verdict: Verdict, ready: list[Change]) -> None:
        ready.extend(verdict.ready)
        if verdict.resync is not None:
            log.warning("InteractionRecovery: %s stream: %s; synchronising %s again",
                        t.value, verdict.resync, t.value)
            self._resync({t}, verdict.resync)
        elif verdict.gap:
            self._arm_gap()

    # --- the stream -------------------------------------------------------------------

    def changes(self, batches: Iterable[tuple[Mapping[str, Any], tuple[bytes, ...]]]) -> int:
        """Apply what arrived; how many ops changed a shadow."""
        ready: list[Change] = []
        for _body, bulk in batches:
            for chunk in bulk:
                try:
                    items = list(unpack(chunk))
                    self.processed += len(items)
                    for frames in items:
                        op, rid, blobs, prev = change_of(frames)
                        t = op.type
                        if t not in self.enabled:
                            continue
                        self._take(t, self._follower(t).offer(op.seq, (op, rid, blobs), prev),
                                   ready)
                except (ValueError, InvalidOperation) as exc:
                    log.warning("InteractionRecovery: bad change batch dropped: %s", exc)
        return self.apply(ready)

    def check_gaps(self) -> int:
        """The grace is over: a type whose missing change did not come is resynchronised."""
        ready: list[Change] = []
        for t, follower in list(self.followers.items()):
            self._take(t, follower.check_gap(), ready)
        return self.apply(ready)

    def apply(self, ready: list[Change]) -> int:
        if not ready:
            return 0
        blobs: dict[str, bytes] = {}
        for _, _, b in ready:
            blobs.update(b)
        try:
            changed = self.store.apply_many([c[0] for c in ready], blobs, [c[1] for c in ready])
        except InvalidOperation:
            changed = 0
            for op, rid, b in ready:  # find the bad one; keep the others
                try:
                    changed += self.store.apply(op, b, rid)
                except InvalidOperation as exc:
                    log.warning("InteractionRecovery: change %s #%d refused: %s",
                                op.type.value, op.seq, exc)
        now = time.time()
        self.lags.extend(now - op.at for op, _, _ in ready)
        self.applied += len(ready)
        self.ack()
        return changed

    # --- synchronisation --------------------------------------------------------------

    def hold(self, types: Iterable[InteractionType]) -> None:
        for t in types:
            self._follower(t).begin_sync()

    def release(self, types: Iterable[InteractionType]) -> int:
        """The snapshot of `types` is loaded: apply what waited and follows it."""
        ready: list[Change] = []
        for t in types:
            self._take(t, self._follower(t).synced(self.store.seq(t)), ready)
        changed = self.apply(ready)
        self.ack()
        return changed

    def release_all(self) -> int:
        """Before promotion: whatever arrived is better than nothing, gaps or not."""
        ready: list[Change] = []
        for follower in self.followers.values():
            ready.extend(follower.flush())
        return self.apply(ready)

    def forget(self, t: InteractionType) -> None:
        """A type is no longer shadowed: nothing of it waits any more."""
        self.followers.pop(t, None)

    # --- confirmations ----------------------------------------------------------------

    def ack(self) -> None:
        """Confirm what is committed now (called after every commit of the stream): each
        stream's follower number, which never passes a missing change."""
        if self._ack_inflight >= ACKS_IN_FLIGHT:
            self._ack_dirty = True
            return
        seqs = {t.value: f.applied for t, f in self.followers.items()
                if t in self.enabled and not f.syncing}
        if not seqs:
            return
        self._ack_inflight += 1
        self._ack_dirty = False
        self._send_ack(seqs)

    def ack_done(self) -> None:
        self._ack_inflight = max(0, self._ack_inflight - 1)
        if self._ack_dirty:
            self.ack()

    def lag_ms(self) -> dict[str, float]:
        if not self.lags:
            return {}
        ordered = sorted(self.lags)
        pick = lambda q: round(1000 * ordered[min(len(ordered) - 1, int(q * len(ordered)))], 2)  # noqa: E731
        return {"p50": pick(0.50), "p99": pick(0.99)}
