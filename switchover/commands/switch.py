"""`switchover switch`: a manual switchover, on either server, acting on the backup.

"Manually start a switchover on the backup server" and "... from the command line"
(`SwitchoverCtrlU.exe /Immediate /Notifier`). The warnings status shows (file replication
not current, upgrade state, ...) are printed first and need a second confirmation, as the
reference's "File replication warnings" do; `--yes` answers both for scripts. `--wait`
returns only once the former backup reports itself active, and prints the new roles.
`--force` switches without the witness key when the witness cannot be reached
(docs/witness.md): it asks its own confirmation, naming the risk, unless `--yes`.
"""
from __future__ import annotations

import argparse
import sys
import time
from typing import Any

import orjson

from switchover.client import EXIT_REFUSED, EXIT_UNREACHABLE
from switchover.commands.common import CommandFailed, Session, add_config, add_json, session
from switchover.witness_config import FORCE_RISK

NAME = "switch"
HELP = "switch the backup to active now (manual switchover)"
#: How often --wait asks for the new roles.
POLL_SECONDS = 0.2


def add_arguments(parser: argparse.ArgumentParser) -> None:
    add_config(parser)
    parser.add_argument("--immediate", action="store_true",
                        help="the reference's /Immediate: needs the master right")
    parser.add_argument("--force", action="store_true",
                        help="with [witness]: switch without the witness key (when the "
                             "witness is unreachable); needs the master right; may make two "
                             "actives")
    parser.add_argument("--notifier", action="store_true",
                        help="accepted for the reference's /Notifier; switching always goes "
                             "through the running host")
    parser.add_argument("--yes", action="store_true", help="do not ask for confirmation")
    parser.add_argument("--wait", action="store_true",
                        help="return once the former backup is active, and print the roles")
    parser.add_argument("--wait-timeout", type=float, default=60.0, metavar="SECONDS",
                        help="how long --wait waits for the new roles (default 60)")
    add_json(parser)


def _confirm(question: str) -> bool:
    try:
        answer = input(f"{question} [y/N] ")
    except EOFError:
        return False
    return answer.strip().lower() in ("y", "yes")


def _backup_session(connection: Session, status: dict[str, Any]) -> Session:
    """A session on the backup (the server that is to become active)."""
    if status["role"] == "backup":
        return connection
    peer = connection.peer()
    if peer is None:
        raise CommandFailed("--wait needs the pair's configuration to find the backup")
    return peer


def wait_for_roles(backup: Session, deadline: float) -> dict[str, Any]:
    """Poll the former backup until it is active; its status then."""
    last = "no answer"
    while time.monotonic() < deadline:
        try:
            status = backup.call("status")
        except CommandFailed as exc:
            last = str(exc)
        else:
            if status.get("role") == "active":
                return status
            last = f"{status.get('server')} is {status.get('state')}"
        time.sleep(POLL_SECONDS)
    raise CommandFailed(f"the new roles are not in place yet: {last}", EXIT_UNREACHABLE)


def execute(args: argparse.Namespace) -> int:
    connection = session(args)
    status = connection.call("status")
    if args.force and not (status.get("witness") or {}).get("configured"):
        raise CommandFailed(f"--force refused: no [witness] is configured on "
                            f"{status['server']}, so there is no witness key to switch "
                            "without; `switchover switch` switches")
    backup = status["server"] if status["role"] == "backup" else status["peer"]["name"]
    lone = [w for w in status.get("warnings", [])
            if w.startswith(("no backup", "peer unreachable"))]
    if status["role"] == "active" and lone:
        raise CommandFailed(f"refused: {lone[0]}")
    for warning in status.get("warnings", []):  # stdout stays JSON with --json
        print(f"WARNING: {warning}", file=sys.stderr if args.json else sys.stdout)
    if not args.yes:
        question = (f"Force {backup} to active without the witness key? {FORCE_RISK}"
                    if args.force else f"Switch {backup} to active now?")
        if not _confirm(question):
            print("switch cancelled")
            return EXIT_REFUSED
        if status.get("warnings") and not _confirm(
            "There are warnings above; data may be lost. Switch anyway?"
        ):
            print("switch cancelled")
            return EXIT_REFUSED
    waiting = _backup_session(connection, status) if args.wait else None
    request = {"immediate": args.immediate, **({"force": True} if args.force else {})}
    result = connection.call("switch", request)
    if waiting is None:
        print(orjson.dumps(result).decode() if args.json else result["message"])
        return 0
    new = wait_for_roles(waiting, time.monotonic() + args.wait_timeout)
    peer = new.get("peer") or {}
    roles = {"active": new["server"], "reason": new.get("reason"),
             "peer": peer.get("name"), "peer_state": peer.get("state")}
    if args.json:
        print(orjson.dumps(roles).decode())
    else:
        print(f"{roles['active']} is active ({roles['reason']}); "
              f"{roles['peer']} is {roles['peer_state'] or 'not known yet'}")
    return 0
