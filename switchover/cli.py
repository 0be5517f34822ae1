"""`switchover`: one command, one module per subcommand (see switchover/commands/).

Every failure an operator can cause or meet (bad option, bad config, missing key, a
host that does not answer, a refusal) ends with one line on stderr and a distinct exit
code, never a traceback (switchover.client lists the codes).
"""
from __future__ import annotations

import argparse
import sys
from importlib import metadata
from typing import Sequence

from switchover.client import EXIT_REFUSED, EXIT_UNREACHABLE, EXIT_USAGE, CommandFailed
from switchover.commands import REGISTRY

#: The reference's Windows-style flags, accepted case-insensitively ("Command-line
#: parameters are not case-sensitive").
REFERENCE_FLAGS = {
    "/forcebackup": "--force-backup",
    "/manualswitchonly": "--manual-switch-only",
    "/immediate": "--immediate",
    "/notifier": "--notifier",
}
EPILOG = (f"exit codes: 0 ok, {EXIT_REFUSED} refused or false, {EXIT_USAGE} usage, config "
          f"or key error, {EXIT_UNREACHABLE} host unreachable")


def translate_reference_flags(argv: Sequence[str]) -> list[str]:
    return [REFERENCE_FLAGS.get(arg.lower(), arg) for arg in argv]


def version() -> str:
    try:
        return metadata.version("switchover")
    except metadata.PackageNotFoundError:
        return "unknown (not installed)"


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="switchover",
        description="Automated active/backup switchover for a pair of servers.",
        epilog=EPILOG,
    )
    parser.add_argument("--version", action="version", version=f"switchover {version()}",
                        help="print the version and exit")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for command in REGISTRY:
        child = sub.add_parser(command.NAME, help=command.HELP, description=command.HELP,
                               epilog=EPILOG)
        command.add_arguments(child)
        child.set_defaults(execute=command.execute)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(translate_reference_flags(sys.argv[1:] if argv is None
                                                               else argv))
    try:
        return int(args.execute(args) or 0)
    except CommandFailed as exc:
        print(f"switchover: {exc}", file=sys.stderr)
        return exc.code
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":
    sys.exit(main())
