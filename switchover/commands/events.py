"""`switchover events`: the pair's history, both servers' event logs merged by time.

"Why did a switchover occur? ... Be sure to check the event log on both computers."
Each host answers for its own `events.jsonl`; this command asks the server it talks to
and its peer (with the same key), and merges them. A host that does not answer is named
on stderr; if it is this machine's own host and its data dir is readable, its file is
read directly, so the history is there even while the host process is down.
"""
from __future__ import annotations

import argparse
import sys
import time
from typing import Any

import orjson

from switchover.client import EXIT_UNREACHABLE, EXIT_USAGE, CommandFailed
from switchover.commands.common import Session, add_config, add_json, session
from switchover.events import entry_time, format_entry, merge, parse_since, select
from switchover.logs import KINDS, read_events

NAME = "events"
HELP = "the switch history of both servers: switches, hooks, parameter and operator changes"
FOLLOW_SECONDS = 1.0


def add_arguments(parser: argparse.ArgumentParser) -> None:
    add_config(parser)
    parser.add_argument("--since", metavar="TIME",
                        help="only entries after TIME: ISO-8601 (2026-12-02T08:59) or an age "
                             "(90s, 30m, 2h, 1d)")
    parser.add_argument("--kind", action="append", choices=KINDS, default=[],
                        help="only entries of this kind (repeatable)")
    parser.add_argument("--follow", action="store_true",
                        help="keep printing new entries until Ctrl-C")
    add_json(parser)


def _local_file(connection: Session) -> list[dict[str, Any]] | None:
    config = connection.config
    if config is None or connection.name != config.server_name:
        return None
    try:
        return read_events(config.data_dir / "events.jsonl")
    except OSError:
        return None


def fetch(connection: Session, since: str | None, kinds: list[str],
          quiet: bool = False) -> tuple[list[dict[str, Any]], int]:
    """Both servers' entries, merged; and how many servers answered."""
    histories, answered = [], 0
    sessions = [connection] + ([peer] if (peer := connection.peer()) else [])
    for each in sessions:
        try:
            histories.append(each.call("events", {"since": since, "kinds": kinds})["events"])
            answered += 1
        except CommandFailed as exc:
            local = _local_file(each) if exc.code == EXIT_UNREACHABLE else None
            if local is not None:
                histories.append(select(local, parse_since(since) if since else None, kinds))
                answered += 1
                note = f"{each.name} does not answer; its event log file is shown"
            else:
                note = f"{each.name}'s history is not shown: {exc}"
                if "(403)" in str(exc):
                    note += " (give --key an operator key listed in admin_keys on both servers)"
            if not quiet:
                print(f"switchover: {note}", file=sys.stderr)
    return merge(*histories), answered


def _print(entries: list[dict[str, Any]], as_json: bool) -> None:
    for entry in entries:
        print(orjson.dumps(entry).decode() if as_json else format_entry(entry), flush=True)


def execute(args: argparse.Namespace) -> int:
    try:
        if args.since:
            parse_since(args.since)
    except ValueError as exc:
        raise CommandFailed(str(exc), EXIT_USAGE) from None
    connection = session(args)
    entries, answered = fetch(connection, args.since, args.kind)
    if not answered:
        raise CommandFailed("no server answered, and no event log file is readable here",
                            EXIT_UNREACHABLE)
    _print(entries, args.json)
    if not args.follow:
        return 0
    last = entries[-1]["time"] if entries else (args.since or None)
    shown = {(e["time"], e.get("server"), e.get("message")) for e in entries}
    try:
        while True:
            time.sleep(FOLLOW_SECONDS)
            fresh, _ = fetch(connection, last, args.kind, quiet=True)
            fresh = [e for e in fresh if (e["time"], e.get("server"), e.get("message"))
                     not in shown]
            _print(fresh, args.json)
            for entry in fresh:
                shown.add((entry["time"], entry.get("server"), entry.get("message")))
            if fresh:
                last = max((e["time"] for e in fresh), key=lambda t: entry_time({"time": t}))
    except KeyboardInterrupt:
        return 0
