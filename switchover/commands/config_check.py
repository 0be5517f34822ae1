"""`switchover config check FILE`: validate a configuration offline.

The same checks a host makes before it starts, without starting one: exit 0 with a
one-line summary, or 2 with the message naming the file, table, key and what is allowed.
Run it before restarting a host with an edited file.
"""
from __future__ import annotations

import argparse

from switchover.client import load

NAME = "config"
HELP = "check a configuration file offline (exit 0 valid, 2 invalid)"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    sub = parser.add_subparsers(dest="config_command", required=True, metavar="ACTION")
    check = sub.add_parser("check", help=HELP, description=HELP)
    check.add_argument("file", help="the TOML configuration to check")


def execute(args: argparse.Namespace) -> int:
    config = load(args.file)
    key = config.security.server_group_key
    notes = "" if key.exists() else f"; note: {key} does not exist on this machine"
    print(f"{config.path}: valid; this is {config.server_name} (SwitchoverServer "
          f"{config.letter}), peer {config.peer.name}{notes}")
    return 0
