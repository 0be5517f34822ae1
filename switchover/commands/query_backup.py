"""`switchover query-backup`: the reference's Query Backup tool, for scripts and hooks.

Exit status 0 when this server is running as the backup, 1 when it is not (active,
stale, starting), 3 when its host process does not answer (2: bad config or key).
"""
from __future__ import annotations

import argparse

from switchover.commands.common import add_config, session

NAME = "query-backup"
HELP = "exit 0 if this server is the backup, 1 if not (the reference's Query Backup tool)"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    add_config(parser)
    parser.add_argument("--quiet", action="store_true", help="print nothing; the exit code says it")


def execute(args: argparse.Namespace) -> int:
    status = session(args).call("status")
    backup = status["role"] == "backup"
    if not args.quiet:
        print("True" if backup else "False")
    return 0 if backup else 1
