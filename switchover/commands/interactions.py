"""`switchover interactions list|get|stats`: the live interactions or the shadows of a host.

On the active they are the live interactions; on the backup, the shadows it would promote
at a switchover. Read through the admin socket (right "status") on a connection of the
store's own, so the answer never waits for a synchronisation in progress.
"""
from __future__ import annotations

import argparse
import sys
from typing import Any

import orjson

from switchover.commands.common import add_config, add_json, session

NAME = "interactions"
HELP = "list, show or count the interactions (shadows on the backup) of this server"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    actions = parser.add_subparsers(dest="action", required=True)
    listing = actions.add_parser("list", help="interactions, one line each")
    listing.add_argument("--type", choices=["email", "chat", "callback", "sms",
                                            "socialconversation", "directmessage"],
                         help="only this interaction type")
    listing.add_argument("--limit", type=int, default=100, help="at most this many lines")
    get = actions.add_parser("get", help="one interaction in full")
    get.add_argument("key", help="the InteractionIdKey")
    actions.add_parser("stats", help="recovery health and per-queue statistics")
    for sub in actions.choices.values():
        add_config(sub)
        add_json(sub)


def execute(args: argparse.Namespace) -> int:
    connection = session(args)
    if args.action == "list":
        result = connection.call("interactions.list",
                                 {"type": args.type, "limit": args.limit})
    elif args.action == "get":
        result = connection.call("interactions.get", {"key": args.key})
        if result.get("interaction") is None:
            print(f"switchover: no interaction {args.key!r} on {connection.name}",
                  file=sys.stderr)
            return 1
    else:
        result = connection.call("interactions.stats")
    if args.json:
        sys.stdout.write(orjson.dumps(result, option=orjson.OPT_INDENT_2).decode() + "\n")
    else:
        sys.stdout.write(render(args.action, result))
    return 0


def render(action: str, result: dict[str, Any]) -> str:
    if action == "list":
        lines = [f"{'key':<24} {'type':<12} {'state':<36} {'queue':<28} seqno"]
        for i in result["interactions"]:
            queue = f"{i['queue_kind']}:{i['queue']}"
            lines.append(f"{i['key']:<24} {i['type']:<12} {i['state']:<36} {queue:<28} "
                         f"{i['seqno']}")
        lines.append(f"{len(result['interactions'])} of {result['total']} shown")
        return "\n".join(lines) + "\n"
    if action == "get":
        return orjson.dumps(result["interaction"], option=orjson.OPT_INDENT_2).decode() + "\n"
    health = result["health"]
    lines = [f"recovery    {health.get('state')} (types: "
             f"{', '.join(health.get('types', [])) or 'none'})"]
    lines += [f"{s['queue_kind']}:{s['queue']:<24} {s['type']:<12} {s['metric']:<36} {s['n']}"
              for s in result["stats"]]
    return "\n".join(lines) + "\n"
