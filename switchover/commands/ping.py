"""`switchover ping`: one "TS Diagnostic Ping" from the backup over main or aux."""
from __future__ import annotations

import argparse

import orjson

from switchover.commands.common import add_config, add_json, session

NAME = "ping"
HELP = "from the backup, ping the active server's monitored module over one channel"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    add_config(parser)
    parser.add_argument("--channel", choices=("main", "aux"), default="main",
                        help="the Notifier connection to ping over (default main)")
    parser.add_argument("--target", help="module name (default: Switchover Monitoring)")
    add_json(parser)


def execute(args: argparse.Namespace) -> int:
    result = session(args).call("ping",
                          {"channel": args.channel, "target": args.target})
    if args.json:
        print(orjson.dumps(result).decode())
    else:
        print(f"{result['target']} over {result['channel']}: {result['outcome']}"
              + (f", pid {result['body'].get('pid')}" if result["body"].get("pid") else "")
              + (f" ({result['detail']})" if result.get("detail") else ""))
    return 0 if result["outcome"] == "ok" else 1
