"""`switchover run`: the host process a supervisor starts, one per server."""
from __future__ import annotations

import argparse
import sys
from typing import TextIO

from switchover.client import load
from switchover.commands.common import add_config

NAME = "run"
HELP = "run this server's host process (started by systemd or supervisord)"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    add_config(parser, client=False)
    parser.add_argument("--force-backup", action="store_true",
                        help="start as backup (the reference's /ForceBackup)")
    parser.add_argument("--manual-switch-only", action="store_true",
                        help="never switch automatically (the reference's /ManualSwitchOnly)")


def execute(args: argparse.Namespace) -> int:
    from switchover.actors.host import Host

    config = load(args.config)
    warn_no_effect(config.parameters.warnings())
    host = Host(config, force_backup=args.force_backup,
                manual_switch_only=args.manual_switch_only)
    return host.run()


def warn_no_effect(warnings: tuple[str, ...], out: TextIO | None = None) -> None:
    """One stderr line per parameter that loads but does nothing (the supervisor logs it)."""
    for warning in warnings:
        print(f"switchover: warning: {warning}", file=out or sys.stderr)
