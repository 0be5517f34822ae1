"""`switchover rejoin`: make this stale (inactive) server a backup again without a restart.

After a switch the old active is stale; the reference has it restarted to rejoin as
backup. `rejoin` does the same in place: a full resynchronisation from the active
(DS, files, interaction shadows), then Backup. Refused, with the reason, when this server
is not stale or its peer is not a healthy active. "Switchover Auto Rejoin" = Yes makes
a stale server do this by itself.
"""
from __future__ import annotations

import argparse

from switchover.commands.common import add_config, session

NAME = "rejoin"
HELP = "make this stale server a backup again (full resynchronisation, no restart)"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    add_config(parser)


def execute(args: argparse.Namespace) -> int:
    result = session(args).call("rejoin")
    print(result["message"])
    return 0
