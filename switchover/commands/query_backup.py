"""`switchover query-backup`: the reference's Query Backup tool, for scripts and hooks.

Exit status 0 when this server is running as the backup, 1 when it is not (active,
stale, starting), 2 when its host process does not answer.
"""
from __future__ import annotations

import argparse
import sys

from switchover.commands.common import CommandFailed, add_config, admin_call, config_or_exit

NAME = "query-backup"
HELP = "exit 0 if this server is the backup, 1 if not (the reference's Query Backup tool)"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    add_config(parser)
    parser.add_argument("--quiet", action="store_true")


def execute(args: argparse.Namespace) -> int:
    config = config_or_exit(args.config)
    try:
        status = admin_call(config, "status")
    except CommandFailed as exc:
        print(f"switchover: {exc}", file=sys.stderr)
        return 2
    backup = status["role"] == "backup"
    if not args.quiet:
        print("True" if backup else "False")
    return 0 if backup else 1
