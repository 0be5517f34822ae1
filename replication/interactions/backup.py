"""The backup's side of interaction recovery, run on the InteractionRecovery actor's thread.

Changes arrive in numbered batches on both channels (the Notifier publishes each event on
main and aux); the service drops a batch's second copy, and the store drops any op whose
number it has passed, so the union of the two channels applies exactly once and in
order. Types being fully synchronised hold their changes until the snapshot is
loaded; the store then drops the ones the snapshot already contains. After every burst
the backup confirms how far each stream is applied ("Shadow Ack"): the highest number it
has committed, which releases every acknowledgement up to it on the active. Several
confirmations may be in flight (at most `ACKS_IN_FLIGHT`), so a burst's confirmation does
not wait for the round trip of the one before.
"""
from __future__ import annotations

import collections
import logging
import time
from typing import Any, Callable, Iterable, Mapping

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


class BackupSide:
    def __init__(self, store: InteractionStore, send_ack: Callable[[dict[str, int]], None]) -> None:
        self.store = store
        self._send_ack = send_ack
        self.enabled = EnabledTypes()
        self.mail_filter = False
        #: Types whose full synchronisation has not completed: their changes wait here.
        self.held: dict[InteractionType, list[Change]] = {}
        self._ack_inflight = 0
        self._ack_dirty = False
        self.lags: collections.deque[float] = collections.deque(maxlen=LAG_SAMPLES)
        self.applied = 0
        self.processed = 0  # ops taken from batches (applied, held or not shadowed here)

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
                        change = change_of(frames)
                        t = change[0].type
                        if t not in self.enabled:
                            continue
                        if t in self.held:
                            self.held[t].append(change)
                        else:
                            ready.append(change)
                except (ValueError, InvalidOperation) as exc:
                    log.warning("InteractionRecovery: bad change batch dropped: %s", exc)
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
            self.held.setdefault(t, [])

    def release(self, types: Iterable[InteractionType]) -> int:
        """The snapshot of `types` is loaded: apply what waited (older numbers drop)."""
        ready: list[Change] = []
        for t in types:
            ready += self.held.pop(t, [])
        ready.sort(key=lambda c: (c[0].type, c[0].seq))
        changed = self.apply(ready)
        self.ack()
        return changed

    def release_all(self) -> int:
        """Before promotion: whatever arrived is better than nothing."""
        return self.release(list(self.held))

    # --- confirmations ----------------------------------------------------------------

    def ack(self) -> None:
        """Confirm what is committed now (called after every commit of the stream)."""
        if self._ack_inflight >= ACKS_IN_FLIGHT:
            self._ack_dirty = True
            return
        seqs = {t.value: self.store.seq(t) for t in self.enabled if t not in self.held}
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
