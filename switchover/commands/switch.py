"""`switchover switch`: a manual switchover, on either server, acting on the backup.

"Manually start a switchover on the backup server" and "... from the command line"
(`SwitchoverCtrlU.exe /Immediate /Notifier`). The warnings status shows (file replication
not current, upgrade state, ...) are printed first and need a second confirmation, as the
reference's "File replication warnings" do; `--yes` answers both for scripts.
"""
from __future__ import annotations

import argparse
import sys

from switchover.commands.common import CommandFailed, add_config, admin_call, config_or_exit

NAME = "switch"
HELP = "switch the backup to active now (manual switchover)"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    add_config(parser)
    parser.add_argument("--immediate", action="store_true",
                        help="the reference's /Immediate: needs the master right")
    parser.add_argument("--notifier", action="store_true",
                        help="accepted for the reference's /Notifier; switching always goes "
                             "through the running host")
    parser.add_argument("--yes", action="store_true", help="do not ask for confirmation")


def _confirm(question: str) -> bool:
    try:
        answer = input(f"{question} [y/N] ")
    except EOFError:
        return False
    return answer.strip().lower() in ("y", "yes")


def execute(args: argparse.Namespace) -> int:
    config = config_or_exit(args.config)
    try:
        status = admin_call(config, "status")
        backup = status["server"] if status["role"] == "backup" else status["peer"]["name"]
        lone = [w for w in status.get("warnings", [])
                if w.startswith(("no backup", "peer unreachable"))]
        if status["role"] == "active" and lone:
            print(f"switchover: refused: {lone[0]}", file=sys.stderr)
            return 1
        for warning in status.get("warnings", []):
            print(f"WARNING: {warning}")
        if not args.yes:
            if not _confirm(f"Switch {backup} to active now?"):
                print("switch cancelled")
                return 1
            if status.get("warnings") and not _confirm(
                "There are warnings above; data may be lost. Switch anyway?"
            ):
                print("switch cancelled")
                return 1
        result = admin_call(config, "switch", {"immediate": args.immediate})
    except CommandFailed as exc:
        print(f"switchover: {exc}", file=sys.stderr)
        return 1
    print(result["message"])
    return 0
