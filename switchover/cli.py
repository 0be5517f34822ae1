"""`switchover`: one command, one module per subcommand (see switchover/commands/)."""
from __future__ import annotations

import argparse
import sys
from typing import Sequence

from switchover.commands import REGISTRY

#: The reference's Windows-style flags, accepted case-insensitively ("Command-line
#: parameters are not case-sensitive").
REFERENCE_FLAGS = {
    "/forcebackup": "--force-backup",
    "/manualswitchonly": "--manual-switch-only",
    "/immediate": "--immediate",
    "/notifier": "--notifier",
}


def translate_reference_flags(argv: Sequence[str]) -> list[str]:
    return [REFERENCE_FLAGS.get(arg.lower(), arg) for arg in argv]


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="switchover",
        description="Automated active/backup switchover for a pair of servers.",
    )
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for command in REGISTRY:
        child = sub.add_parser(command.NAME, help=command.HELP, description=command.HELP)
        command.add_arguments(child)
        child.set_defaults(execute=command.execute)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(translate_reference_flags(sys.argv[1:] if argv is None
                                                               else argv))
    return int(args.execute(args) or 0)


if __name__ == "__main__":
    sys.exit(main())
