"""Reading the event log: select by time and kind, merge both servers' histories.

"Be sure to check the event log on both computers": each host keeps its own
`events.jsonl`, and `switchover events` asks both hosts for theirs and shows them merged
by time, so the backup's view of a switch (the reason, then "Switch Initiated") sits
beside the active's. Entries are plain dicts as `EventLog` writes them.
"""
from __future__ import annotations

import datetime as _dt
import re
from typing import Any, Iterable, Mapping, Sequence

from switchover.logs import kind_of

_RELATIVE = re.compile(r"(\d+(?:\.\d+)?)\s*([smhd])")
_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400}


def parse_since(text: str, now: _dt.datetime | None = None) -> _dt.datetime:
    """An ISO-8601 time (naive means UTC) or an age such as 90s, 30m, 2h, 1d."""
    now = now or _dt.datetime.now(_dt.timezone.utc)
    match = _RELATIVE.fullmatch(text.strip())
    if match:
        return now - _dt.timedelta(seconds=float(match[1]) * _UNITS[match[2]])
    try:
        moment = _dt.datetime.fromisoformat(text.strip())
    except ValueError:
        raise ValueError(f"--since {text!r}: expected an ISO-8601 time "
                         "(2026-12-02T08:59) or an age (90s, 30m, 2h, 1d)") from None
    return moment if moment.tzinfo else moment.replace(tzinfo=_dt.timezone.utc)


def entry_time(entry: Mapping[str, Any]) -> _dt.datetime:
    """When an entry was written; an entry without a readable time sorts first."""
    try:
        moment = _dt.datetime.fromisoformat(str(entry.get("time")))
    except ValueError:
        return _dt.datetime.min.replace(tzinfo=_dt.timezone.utc)
    return moment if moment.tzinfo else moment.replace(tzinfo=_dt.timezone.utc)


def select(entries: Iterable[Mapping[str, Any]], since: _dt.datetime | None = None,
           kinds: Sequence[str] = ()) -> list[dict[str, Any]]:
    """Entries after `since` (exclusive) of the given kinds (all when empty), each with
    its `kind` filled in (entries older than kinds have none)."""
    out = []
    for entry in entries:
        full = {**entry, "kind": kind_of(str(entry.get("message", "")), entry)}
        if since is not None and entry_time(full) <= since:
            continue
        if kinds and full["kind"] not in kinds:
            continue
        out.append(full)
    return out


def merge(*histories: Iterable[Mapping[str, Any]]) -> list[dict[str, Any]]:
    """Both servers' entries in time order, each entry once."""
    seen: set[tuple[str, str, str]] = set()
    out = []
    for entry in (e for history in histories for e in history):
        key = (str(entry.get("time")), str(entry.get("server")), str(entry.get("message")))
        if key not in seen:
            seen.add(key)
            out.append(dict(entry))
    out.sort(key=entry_time)
    return out


SWITCH_INITIATED = "Switchover Service: Switch Initiated"


def last_switch(entries: Sequence[Mapping[str, Any]]) -> dict[str, Any] | None:
    """The newest "Switch Initiated" entry as {time, server, reason, generation}."""
    for entry in reversed(entries):
        if entry.get("message") == SWITCH_INITIATED:
            return {k: entry.get(k) for k in ("time", "server", "reason", "generation")}
    return None


_DETAILS = ("reason", "generation", "operator")


def format_entry(entry: Mapping[str, Any]) -> str:
    """One line: UTC time, server, kind, level, message, then the details."""
    moment = entry_time(entry).strftime("%Y-%m-%d %H:%M:%S.%f")[:-3]
    details = ", ".join(f"{k} {entry[k]}" for k in _DETAILS
                        if entry.get(k) is not None and str(entry[k]) not in
                        str(entry.get("message")))
    return (f"{moment}  {entry.get('server', '-'):<10} {entry.get('kind', '-'):<11} "
            f"{entry.get('level', '-'):<7} {entry.get('message', '')}"
            + (f"  ({details})" if details else ""))
