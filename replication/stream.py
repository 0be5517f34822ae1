"""The follower core of every replication stream (DS, files, interactions): pure, no I/O.

Every payload follows the Clone pattern: a snapshot (or a compare) brings the backup to
one point of the active's stream, then numbered changes follow. What the backup must
get right is the same for all three, so it lives here once:

- **in order:** a change is applied only when every change before it has been: its
  `prev` (the number the active sent before it on this stream, `seq - 1` where numbers
  are contiguous) is at or below what has been applied;
- **duplicates dropped:** the copy that comes on the second channel, or a change sent
  again, is at or below the applied number, or already waiting: dropped, once;
- **buffering during a snapshot:** while a resync runs (`begin_sync`), everything waits;
  `synced(seq)` adopts the snapshot's number and hands out what follows it;
- **gap -> resync:** a change whose `prev` is beyond the applied number waits; the caller
  gives the other channel `grace` to bring the missing one, then asks `check_gap`, which
  says to resync if the gap is still there. A new epoch (the source restarted and
  numbers again) and a buffer that grows too large say the same at once;
- **what may be acknowledged:** `applied`, never beyond a gap, because it only moves
  over changes handed out in order (acknowledge it once they are committed).

Reference: "Switchover DS" ("no update lost between snapshot and stream"), and the
interaction recovery's acknowledgement, which must never confirm a change the backup
does not hold.
"""
from __future__ import annotations

import heapq
from dataclasses import dataclass
from typing import Any, Hashable

#: Changes kept while waiting (a gap or a snapshot) before the stream is given up.
MAX_PENDING = 200_000


@dataclass(frozen=True)
class Verdict:
    """What the caller does after offering a change or ending a snapshot.

    `ready`: payloads to apply now, in order. `gap`: a change waits for a missing one
    (arm a `check_gap` after the grace unless one is armed). `resync`: the stream cannot be
    followed from here (the reason, for the log); the follower already buffers as during
    a snapshot, until `synced`.
    """

    ready: tuple[Any, ...] = ()
    gap: bool = False
    resync: str | None = None


NOTHING = Verdict()


class Follower:
    """One stream's follower. Not thread-safe: owned by one actor."""

    def __init__(self, applied: int = 0, max_pending: int = MAX_PENDING) -> None:
        self.applied = applied
        self.syncing = False
        self.epoch: Hashable | None = None
        #: The highest number offered (a resync that covers everything received so far,
        #: as a compare of files does, ends there).
        self.highest = applied
        self.duplicates = 0
        self._max = max_pending
        self._pending: dict[int, tuple[int, Any]] = {}
        self._order: list[int] = []  # a heap of the pending numbers
        self._gap_at: int | None = None  # `applied` when the current gap was reported

    def __len__(self) -> int:
        """How many changes wait (for a gap to close or a snapshot to end)."""
        return len(self._pending)

    def offer(self, seq: int, payload: Any, prev: int | None = None,
              epoch: Hashable | None = None) -> Verdict:
        """A change arrived (from either channel). `prev` defaults to `seq - 1`."""
        prev = seq - 1 if prev is None else prev
        if epoch is not None and epoch != self.epoch:
            known, self.epoch = self.epoch, epoch
            if known is not None:  # numbers start again: nothing of the old epoch counts
                self.reset(0, epoch)
                self._keep(seq, prev, payload)
                self.highest = seq
                return self._lost("the source restarted its numbering (a new epoch)")
        self.highest = max(self.highest, seq)
        # During a resync every change is kept: the resync may end below `applied` (a new
        # active with a shorter history), and then the changes above its end are needed.
        if seq in self._pending or (seq <= self.applied and not self.syncing):
            self.duplicates += 1
            return NOTHING
        if not self.syncing and not self._pending and prev <= self.applied:
            self.applied = seq  # the common case: the next change, nothing waiting
            return Verdict(ready=(payload,))
        self._keep(seq, prev, payload)
        if len(self._pending) > self._max:
            self._clear()
            return self._lost(f"more than {self._max} changes waiting")
        if self.syncing:
            return NOTHING
        if prev > self.applied:
            if self._gap_at is None:
                self._gap_at = self.applied
            return Verdict(gap=True)
        return self._advance()

    def begin_sync(self, uncommitted: tuple[tuple[int, int, Any], ...] = (),
                   applied: int | None = None) -> None:
        """A resync starts: from now on every change waits for `synced`.

        A caller that was handed changes and has not committed them gives them back
        (`uncommitted`: `(seq, prev, payload)`; `applied`: the number it did commit), so
        that those the resync does not cover are still applied after it.
        """
        self.syncing = True
        self._gap_at = None
        if applied is not None:
            self.applied = applied
        for seq, prev, payload in uncommitted:
            if seq > self.applied and seq not in self._pending:
                self._keep(seq, prev, payload)

    def synced(self, seq: int) -> Verdict:
        """The resync brought this side to `seq` of the stream: what follows it, in order.

        `seq` is adopted even when lower than before (a new active's shorter history).
        """
        self.syncing = False
        self.applied = seq
        self._gap_at = None
        return self._advance()

    def check_gap(self) -> Verdict:
        """The grace after a reported gap is over: resync if nothing moved since."""
        if self.syncing or not self._blocked():
            self._gap_at = None
            return NOTHING
        if self._gap_at is not None and self._gap_at == self.applied:
            first = self._order[0]
            return self._lost(f"a change is missing: applied {self.applied}, the next "
                              f"waiting is {first} (after {self._pending[first][0]})")
        self._gap_at = self.applied  # progress since: give the new gap its own grace
        return Verdict(gap=True)

    def flush(self) -> tuple[Any, ...]:
        """Everything waiting, in order, gaps or not: for a side that stops following
        and must keep what it has (a backup promoted during a resync)."""
        out = []
        while self._order:
            seq = heapq.heappop(self._order)
            if seq > self.applied:
                out.append(self._pending[seq][1])
                self.applied = seq
        self._pending.clear()
        self.syncing = False
        return tuple(out)

    def reset(self, applied: int, epoch: Hashable | None = None) -> None:
        """Forget everything waiting and start at `applied` of `epoch` (the follower stops,
        or a stream is taken up where a snapshot left it)."""
        self._clear()
        self.applied = self.highest = applied
        self.syncing = False
        self.epoch = epoch

    # --- internals --------------------------------------------------------------------

    def _keep(self, seq: int, prev: int, payload: Any) -> None:
        self._pending[seq] = (prev, payload)
        heapq.heappush(self._order, seq)

    def _clear(self) -> None:
        self._pending.clear()
        self._order.clear()
        self._gap_at = None

    def _lost(self, reason: str) -> Verdict:
        self.begin_sync()
        return Verdict(resync=reason)

    def _blocked(self) -> bool:
        while self._order and self._order[0] <= self.applied:
            del self._pending[heapq.heappop(self._order)]
        return bool(self._order)

    def _advance(self) -> Verdict:
        ready = []
        while self._blocked():
            seq = self._order[0]
            prev, payload = self._pending[seq]
            if prev > self.applied:
                break
            heapq.heappop(self._order)
            del self._pending[seq]
            ready.append(payload)
            self.applied = seq
        if not self._order:
            self._gap_at = None
            return Verdict(ready=tuple(ready))
        if self._gap_at is None:
            self._gap_at = self.applied  # `check_gap` resyncs if nothing moves from here
        return Verdict(ready=tuple(ready), gap=True)
