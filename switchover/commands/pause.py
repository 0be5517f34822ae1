"""`switchover pause`: maintenance mode for the pair (`patronictl pause`, Pacemaker's
maintenance-mode).

The backup keeps mirroring and can still be switched by an operator, but it never
switches by itself, and a graceful stop of the active does not hand over, until
`switchover resume`. Run on either server; both show "paused" in status, and the pause
survives a restart of either host.
"""
from __future__ import annotations

import argparse

from switchover.commands.common import add_config, session

NAME = "pause"
HELP = "pause automatic switching for the pair (maintenance mode) until resume"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    add_config(parser)


def run(args: argparse.Namespace, command: str) -> int:
    """Pause or resume; shared with `switchover resume`."""
    result = session(args).call(command)
    state = "paused: no automatic switch until resumed" if result["paused"] else \
        "resumed: automatic switching is on"
    print(f"the pair is {state}" + ("" if result["changed"] else " (it already was)"))
    return 0


def execute(args: argparse.Namespace) -> int:
    return run(args, "pause")
