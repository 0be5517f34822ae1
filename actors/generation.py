"""The persisted switch generation: a count of switches, not of restarts.

Every switch (a backup becoming active) takes a generation one above the highest either
server has ever seen, and writes it to disk before it serves. A server that *starts* as
the active one (first up, fail-safe, or resuming while its backup waits) keeps its own
generation: a restart never outranks a switch that happened while it was away. Each server learns the other's generation on every contact (state queries,
Discontinue). When two actives meet after a partition the higher generation is the
newer active and stays; the other goes stale — the reference's WAN rule "the backup
server notifies the active server that it is no longer active", made decidable without
a third party (the ranking itself is `actors.statemachine.rank`).
"""
from __future__ import annotations

from pathlib import Path

from switchover.durable import read_json, write_json


class GenerationStore:
    def __init__(self, path: Path) -> None:
        self._path = path
        self._own, self._seen = self._load()

    @property
    def value(self) -> int:
        """The generation this host last became active with (0: never)."""
        return self._own

    def observe(self, other: int) -> None:
        """Remember a peer's generation so our next activation outranks it."""
        if other > self._seen:
            self._save(self._own, other)

    def advance(self) -> int:
        """Take the next generation (durably) before a switch makes this server active."""
        new = max(self._own, self._seen) + 1
        self._save(new, new)
        return new

    def peek_next(self) -> int:
        """The generation the next switch would take (nothing is written)."""
        return max(self._own, self._seen) + 1

    def resume(self) -> int:
        """The generation to start as the active server with: this server's own (1 at
        its very first start), never one it has only seen. A switch the peer made while
        this server was away (its Discontinue may even arrive while this server is
        still starting) then keeps its higher generation, and wins when the two meet."""
        current = max(self._own, 1)
        if current != self._own:
            self._save(current, max(self._seen, current))
        return current

    def _load(self) -> tuple[int, int]:
        data = read_json(self._path) or {}
        own, seen = data.get("generation", 0), data.get("seen", 0)
        for value in (own, seen):
            if not isinstance(value, int) or value < 0:
                raise ValueError(f"{self._path}: generations must be non-negative integers")
        return own, max(own, seen)

    def _save(self, own: int, seen: int) -> None:
        write_json(self._path, {"generation": own, "seen": seen})
        self._own, self._seen = own, seen
