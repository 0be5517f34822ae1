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
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import orjson

from switchover.client import EXIT_UNREACHABLE, CommandFailed
from switchover.commands.common import Session, add_config, add_json, session
from switchover.status_view import Screen, render_rich, render_text, screen

NAME = "status"
HELP = "show both servers' roles and states, connections, mode and replication health"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    add_config(parser)
    add_json(parser)
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


def collect(connection: Session) -> tuple[dict[str, Any] | None, Screen,
                                          list[CommandFailed]]:
    """(the asked server's document or None, the screen, the failures in asking)."""
    sessions = [connection] + ([peer] if (peer := connection.peer()) else [])
    with ThreadPoolExecutor(len(sessions)) as pool:
        answers = list(pool.map(_ask, sessions))
    docs: dict[str, dict[str, Any] | None] = {}
    notes: dict[str, str] = {}
    for each, (doc, failed) in zip(sessions, answers):
        name = str(doc.get("server") or each.name) if doc else each.name
        docs[name] = doc
        if failed is not None:
            notes[name] = _note(name, failed)
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


def execute(args: argparse.Namespace) -> int:
    connection = session(args)
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
