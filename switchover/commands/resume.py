"""`switchover resume`: end the pair's maintenance mode (`switchover pause`)."""
from __future__ import annotations

import argparse

from switchover.commands import pause

NAME = "resume"
HELP = "resume automatic switching for the pair after a pause"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    pause.add_arguments(parser)


def execute(args: argparse.Namespace) -> int:
    return pause.run(args, "resume")
