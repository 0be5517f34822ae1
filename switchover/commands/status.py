"""`switchover status`: both servers at a glance, as the Switchover Control Panel shows.

The server the options name and its peer are asked at once (each within --timeout), so
the table shows both from either side; a server that does not answer, or does not
accept the key, is shown from what its peer last saw of it. The exit code is 0 when
the asked server answered, 3 when it did not (the table still shows its peer).
`--json` prints the asked server's own document (the operator contract's keys) with the
table's rows under `servers` and both servers' warnings under `pair_warnings`.
"""
from __future__ import annotations

import argparse
import datetime as _dt
import os
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import orjson

from switchover.client import EXIT_UNREACHABLE, EXIT_USAGE, CommandFailed
from switchover.commands.common import Session, add_config, add_json, session
from switchover.status_view import (
    Screen,
    render_rich,
    render_rich_parts,
    render_text,
    screen,
)

NAME = "status"
HELP = "show both servers' roles and states, connections, mode and replication health"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    add_config(parser)
    add_json(parser)
    parser.add_argument("--watch", action="store_true",
                        help="redraw every --interval seconds until Ctrl-C; a server that "
                             "stops answering keeps its last values, with their age")
    parser.add_argument("--interval", type=float, default=1.0, metavar="SECONDS",
                        help="the --watch redraw interval (default 1)")
    parser.add_argument("--plain", action="store_true",
                        help="plain text even on a terminal (no colour, no rich layout)")


def _ask(each: Session) -> tuple[dict[str, Any] | None, CommandFailed | None]:
    try:
        return each.call("status"), None
    except CommandFailed as exc:
        return None, exc


def _note(name: str, exc: CommandFailed) -> str:
    if "(403)" in str(exc):
        return (f"shown as its peer sees it: {name} does not accept this key "
                "(an operator key listed in admin_keys on both servers shows both)")
    return str(exc)


def collect(connection: Session, last: dict[str, dict[str, Any]] | None = None,
            ) -> tuple[dict[str, Any] | None, Screen, list[CommandFailed]]:
    """(the asked server's document or None, the screen, the failures in asking).

    With `last` (the live view's memory, updated here) a server that does not answer
    is shown with the values it last answered, their age in its ANSWERED column."""
    sessions = [connection] + ([peer] if (peer := connection.peer()) else [])
    with ThreadPoolExecutor(len(sessions)) as pool:
        answers = list(pool.map(_ask, sessions))
    docs: dict[str, dict[str, Any] | None] = {}
    notes: dict[str, str] = {}
    for each, (doc, failed) in zip(sessions, answers):
        name = str(doc.get("server") or each.name) if doc else each.name
        if doc is not None and last is not None:
            last[name] = doc
        docs[name] = doc if doc is not None or last is None else last.get(name)
        if failed is not None:
            notes[name] = _note(name, failed)
            if docs[name] is not None:
                notes[name] = f"does not answer, last known values shown: {failed}"
    own = answers[0][0]
    if connection.config is not None:
        order = list(connection.config.servers)
    else:  # --connect from a workstation: the names come from the answer
        order = [str(own.get("server")), str((own.get("peer") or {}).get("name"))] if own \
            else [connection.name]
    failures = [failed for _, failed in answers if failed is not None]
    return own, screen(docs, order, _dt.datetime.now(_dt.timezone.utc), notes), failures


def use_rich(args: argparse.Namespace) -> bool:
    return (not args.plain and sys.stdout.isatty() and os.environ.get("TERM") != "dumb"
            and "NO_COLOR" not in os.environ)


def watch(connection: Session, args: argparse.Namespace) -> int:
    """The live view: redraw until Ctrl-C, which ends it with exit code 0."""
    last: dict[str, dict[str, Any]] = {}
    rich = use_rich(args)
    try:
        if rich:
            from rich.console import Console, Group
            from rich.live import Live
            from rich.text import Text

            console = Console()
            with Live(console=console, auto_refresh=False, screen=False) as live:
                while True:
                    _, view, _ = collect(connection, last)
                    live.update(Group(Text(_title(connection)), *render_rich_parts(view)),
                                refresh=True)
                    time.sleep(args.interval)
        while True:
            _, view, _ = collect(connection, last)
            sys.stdout.write("\x1b[H\x1b[2J" + _title(connection) + "\n" + render_text(view))
            sys.stdout.flush()
            time.sleep(args.interval)
    except KeyboardInterrupt:
        sys.stdout.write("\n")
        return 0


def _title(connection: Session) -> str:
    now = _dt.datetime.now().astimezone().strftime("%Y-%m-%d %H:%M:%S")
    return f"switchover status via {connection.name}, {now} (Ctrl-C to end)"


def execute(args: argparse.Namespace) -> int:
    connection = session(args)
    if args.watch:
        if not args.interval > 0:
            raise CommandFailed(f"--interval {args.interval:g}: must be more than 0 seconds",
                                EXIT_USAGE)
        return watch(connection, args)
    own, view, failures = collect(connection)
    if own is None and len(failures) == len(view.rows):
        raise failures[0]
    if args.json:
        rows = view.as_dict()
        out = {**(own or {}), "servers": rows["servers"], "pair_warnings": rows["warnings"]}
        sys.stdout.write(orjson.dumps(out, option=orjson.OPT_INDENT_2).decode() + "\n")
    elif use_rich(args):
        from rich.console import Console

        render_rich(view, Console())
    else:
        sys.stdout.write(render_text(view))
    return 0 if own is not None else EXIT_UNREACHABLE
