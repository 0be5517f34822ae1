"""The status screen: both servers as one table (the `patronictl list` shape), warnings below.

Pure: built from the status documents the hosts answered (`AdminCommands.status`), so
the golden-text tests need no host. A server that did not answer is shown from what its
peer last saw of it (the peer section of the peer's document), with the age of that
view; missing keys show as "-", so a host of an older release still renders.
"""
from __future__ import annotations

import datetime as _dt
from dataclasses import asdict, dataclass
from typing import Any, Mapping, Sequence

COLUMNS = (("server", "SERVER"), ("role", "ROLE"), ("state", "STATE"), ("generation", "GEN"),
           ("release", "RELEASE"), ("mode", "MODE"), ("main", "MAIN"), ("aux", "AUX"),
           ("ds", "DS"), ("files", "FILES"), ("interactions", "INTERACTIONS"),
           ("last_switch", "LAST SWITCH"), ("answered", "ANSWERED"))
STREAMS = ("ds", "files", "interactions")
DASH = "-"


@dataclass(frozen=True)
class Row:
    server: str
    role: str
    state: str
    generation: str
    release: str
    mode: str
    main: str
    aux: str
    ds: str
    files: str
    interactions: str
    last_switch: str
    answered: str


def _time(value: Any) -> _dt.datetime | None:
    try:
        moment = _dt.datetime.fromisoformat(str(value))
    except ValueError:
        return None
    return moment if moment.tzinfo else moment.replace(tzinfo=_dt.timezone.utc)


def _text(value: Any) -> str:
    return DASH if value is None or value == "" else str(value)


def age(seconds: float) -> str:
    """A short age: 0.4 s -> "now", 75 s -> "1m15s ago"."""
    if seconds < 1:
        return "now"
    seconds = int(seconds)
    if seconds < 60:
        return f"{seconds}s ago"
    if seconds < 3600:
        return f"{seconds // 60}m{seconds % 60:02d}s ago"
    if seconds < 86400:
        return f"{seconds // 3600}h{seconds % 3600 // 60:02d}m ago"
    return f"{seconds // 86400}d ago"


def answered(value: Any, now: _dt.datetime) -> str:
    """`last_answered` as ISO time or seconds ago; "never" when absent."""
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return age(value)
    moment = _time(value) if value else None
    return age(max(0.0, (now - moment).total_seconds())) if moment else "never"


def _connection(value: Any) -> str:
    return {True: "up", False: "down"}.get(value, DASH)


def mode(doc: Mapping[str, Any]) -> str:
    """auto / manual / paused / upgrade (higher|lower)."""
    if doc.get("upgrade"):
        return f"upgrade {doc['upgrade']}"
    text = str(doc.get("mode") or DASH)
    return "manual" if text.startswith("manual") else text


def stream(health: Any) -> str:
    """A replication stream's state in a cell: the words before any explanation."""
    if not isinstance(health, Mapping):
        return DASH
    state = str(health.get("state") or DASH).split(":", 1)[0].strip()
    return state if len(state) <= 24 else state[:23] + "…"


def switch_cell(last: Any) -> str:
    if not isinstance(last, Mapping):
        return DASH
    moment = _time(last.get("time"))
    when = moment.strftime("%Y-%m-%d %H:%M") if moment else DASH
    return f"{when} {last.get('reason') or ''}".strip()


def full_row(doc: Mapping[str, Any], now: _dt.datetime) -> Row:
    """A server that answered: its own document."""
    conns = doc.get("connections") or {}
    replication = doc.get("replication") or {}
    made = _time(doc.get("time"))
    return Row(
        server=_text(doc.get("server")), role=_text(doc.get("role")),
        state=_text(doc.get("state")), generation=_text(doc.get("generation")),
        release=_text(doc.get("release")), mode=mode(doc),
        main=_connection(conns.get("main")), aux=_connection(conns.get("aux")),
        **{name: stream(replication.get(name)) for name in STREAMS},
        last_switch=switch_cell(doc.get("last_switch")),
        answered=age(max(0.0, (now - made).total_seconds())) if made else "now",
    )


def peer_row(peer: Mapping[str, Any], now: _dt.datetime) -> Row:
    """A server that did not answer (or refused the key): what its peer last saw of it."""
    reachable = peer.get("reachable")
    return Row(
        server=_text(peer.get("name")), role=_text(peer.get("role")),
        state=_text(peer.get("state")) if reachable is not False else "no answer",
        generation=_text(peer.get("generation")), release=_text(peer.get("release")),
        mode=mode(peer) if peer.get("mode") or peer.get("upgrade") else DASH,
        main=DASH, aux=DASH, ds=DASH, files=DASH, interactions=DASH,
        last_switch=switch_cell(peer.get("last_switch")),
        answered=answered(peer.get("last_answered"), now),
    )


def silent_row(name: str) -> Row:
    return Row(name, DASH, "no answer", *([DASH] * 9), "never")


@dataclass(frozen=True)
class Screen:
    rows: tuple[Row, ...]
    warnings: tuple[str, ...]

    def as_dict(self) -> dict[str, Any]:
        return {"servers": [asdict(r) for r in self.rows], "warnings": list(self.warnings)}


def screen(docs: Mapping[str, Mapping[str, Any] | None], order: Sequence[str],
           now: _dt.datetime, notes: Mapping[str, str] | None = None) -> Screen:
    """Both servers (in `order`) from the documents that came back (None: no answer);
    `notes` are why a server's own document is missing (shown as warnings)."""
    rows, warnings = [], []
    for name in order:
        doc = docs.get(name)
        note = (notes or {}).get(name)
        if doc is not None:
            rows.append(full_row(doc, now))
            if note:
                warnings.append(f"{name}: {note}")
            warnings += [f"{name}: {w}" for w in doc.get("warnings") or []]
            continue
        seen = next((d["peer"] for d in docs.values() if d is not None
                     and isinstance(d.get("peer"), Mapping) and d["peer"].get("name") == name),
                    None)
        rows.append(peer_row(seen, now) if seen is not None else silent_row(name))
        if note:
            warnings.append(f"{name}: {note}")
        if seen is not None:
            warnings += [f"{name}: {w}" for w in seen.get("warnings") or []]
    return Screen(tuple(rows), tuple(dict.fromkeys(warnings)))


def render_text(view: Screen) -> str:
    """The plain table: columns as wide as their widest cell, then WARNING lines."""
    cells = [[title for _, title in COLUMNS]]
    cells += [[getattr(row, key) for key, _ in COLUMNS] for row in view.rows]
    widths = [max(len(line[i]) for line in cells) for i in range(len(COLUMNS))]
    lines = ["  ".join(c.ljust(w) for c, w in zip(line, widths)).rstrip() for line in cells]
    lines += [f"WARNING: {w}" for w in view.warnings]
    return "\n".join(lines) + "\n"


ROLE_STYLE = {"active": "bold green", "backup": "cyan", "stale": "yellow"}


def render_rich_parts(view: Screen) -> list[Any]:
    """The table and the warning lines as rich renderables (for print and the live view)."""
    from rich import box
    from rich.table import Table
    from rich.text import Text

    table = Table(box=box.SIMPLE_HEAD, header_style="bold", pad_edge=False)
    for _, title in COLUMNS:
        table.add_column(title, no_wrap=True)
    for row in view.rows:
        style = "red" if row.state in ("no answer", "Error") else ROLE_STYLE.get(row.role)
        table.add_row(*(getattr(row, key) for key, _ in COLUMNS), style=style)
    warnings = [Text.assemble(("WARNING:", "yellow"), f" {w}") for w in view.warnings]
    return [table, *warnings]


def render_rich(view: Screen, console: Any) -> None:
    """The same table drawn by rich (colour, box lines) on a terminal that has them."""
    for part in render_rich_parts(view):
        console.print(part)
