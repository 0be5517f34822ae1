"""When a server began and stopped acting as active, read from its event log.

Both hosts of a namespace pair run on one machine and stamp their event log entries
with the same wall clock (UTC, milliseconds), so entries of A and B compare directly,
and with `time.time()` taken by the test or benchmark at the fault. "Began" is the
`Switchover Service: Switch Initiated` entry (written before its commence hooks run);
"stopped" is the end of a discontinue hook run (the hooks' own entries, kind "hook"),
so the pair needs at least one commence and one discontinue hook (`true` will do).
"""
from __future__ import annotations

import datetime as _dt
from typing import Any, Iterable

SWITCHED = "Switchover Service: Switch Initiated"


def at(entry: dict[str, Any]) -> float:
    """An entry's time as seconds since the epoch."""
    return _dt.datetime.fromisoformat(entry["time"]).timestamp()


def hook_runs(events: Iterable[dict[str, Any]], hook: str, since: float = 0.0) -> list[float]:
    """When each `hook` ("commence", "discontinue") command ended, from `since` on."""
    return [at(e) for e in events
            if e.get("kind") == "hook" and e.get("hook") == hook and at(e) >= since]


def switches(events: Iterable[dict[str, Any]], since: float = 0.0) -> list[float]:
    """When this server switched into active, from `since` on."""
    return [at(e) for e in events if e.get("message") == SWITCHED and at(e) >= since]
