"""The persisted switch generation.

Every time a host becomes active it takes a generation number higher than any it has
seen, and writes it to disk before it serves. When two actives meet after a partition the
higher generation is the newer active and stays; the other goes stale — the reference's
WAN rule "the backup server notifies the active server that it is no longer active",
made decidable without a third party.
"""
from __future__ import annotations

import os
from pathlib import Path

import orjson


def rank(generation: int, letter: str) -> tuple[int, bool]:
    """Order two actives: higher generation first; on a tie SwitchoverServer A stays
    (the reference's "comes up as active first")."""
    return (generation, letter == "A")


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
        """Take the next generation (durably) before acting as the active server."""
        new = max(self._own, self._seen) + 1
        self._save(new, new)
        return new

    def _load(self) -> tuple[int, int]:
        try:
            data = orjson.loads(self._path.read_bytes())
        except FileNotFoundError:
            return 0, 0
        except orjson.JSONDecodeError as exc:
            raise ValueError(f"{self._path}: corrupt generation file: {exc}") from exc
        own, seen = data.get("generation", 0), data.get("seen", 0)
        for value in (own, seen):
            if not isinstance(value, int) or value < 0:
                raise ValueError(f"{self._path}: generations must be non-negative integers")
        return own, max(own, seen)

    def _save(self, own: int, seen: int) -> None:
        tmp = self._path.with_name(self._path.name + ".tmp")
        with open(tmp, "wb") as handle:
            handle.write(orjson.dumps({"generation": own, "seen": seen}))
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, self._path)
        dir_fd = os.open(self._path.parent, os.O_RDONLY)
        try:
            os.fsync(dir_fd)
        finally:
            os.close(dir_fd)
        self._own, self._seen = own, seen
