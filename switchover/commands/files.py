"""`switchover files status|resync|publish`: the mirrored directories of this server.

`status` shows the file replication state and counters (on the backup: in sync, the
start-up copy's progress, not current or not running, and why). `resync` makes the
backup compare its mirrored directories with the active's again (and retries a failed
start-up copy). `publish`, on the active, publishes the handlers: the backup compares the
Handler Path directory once, as it does after the reference's handler publish.
"""
from __future__ import annotations

import argparse
import sys
from typing import Any

import orjson

from switchover.commands.common import actions_of, session

NAME = "files"
HELP = "file replication: status, compare again (resync), publish handlers (on the active)"

COMMANDS = {"status": "files.status", "resync": "files.resync", "publish": "files.publish"}
COUNTERS = ("files_copied", "bytes_copied", "deleted", "renamed", "failed", "notices",
            "resyncs", "publishes")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    action = actions_of(parser)
    action("status", "file replication state and counters of this server")
    action("resync", "on the backup: compare the mirrored directories with the active's")
    action("publish", "on the active: publish the handlers (the backup copies the Handler "
                      "Path directory once)")


def execute(args: argparse.Namespace) -> int:
    connection = session(args)
    result = connection.call(COMMANDS[args.action])
    if args.json:
        sys.stdout.write(orjson.dumps(result).decode() + "\n")
    else:
        sys.stdout.write(render(args.action, result, connection.name))
    return 0


def render(action: str, result: dict[str, Any], server: str) -> str:
    if action != "status":
        return f"{server}: {result.get('message', result)}\n"
    lines = [f"{server}: {result.get('state', 'unknown')}"]
    if result.get("upgrade"):
        lines.append(f"  upgrade state: {result['upgrade']}")
    for name in COUNTERS:
        if name in result:
            lines.append(f"  {name:<13} {result[name]}")
    return "\n".join(lines) + "\n"
