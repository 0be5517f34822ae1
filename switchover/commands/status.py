"""`switchover status`: what the reference's Switchover Control Panel shows."""
from __future__ import annotations

import argparse
import sys
from typing import Any

import orjson

from switchover.commands.common import add_config, add_json, session

NAME = "status"
HELP = "show both servers' roles and states, connections, mode and replication health"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    add_config(parser)
    add_json(parser)


def execute(args: argparse.Namespace) -> int:
    status = session(args).call("status")
    if args.json:
        sys.stdout.write(orjson.dumps(status, option=orjson.OPT_INDENT_2).decode() + "\n")
    else:
        sys.stdout.write(render(status))
    return 0


def _onoff(value: Any) -> str:
    return {True: "up", False: "down", None: "-"}.get(value, str(value))


def render(status: dict[str, Any]) -> str:
    peer = status.get("peer", {})
    conns = status.get("connections", {})
    lines = [
        f"server      {status['server']} (SwitchoverServer {status['letter']}), "
        f"{status['role']}, state {status['state']}, generation {status['generation']}",
        f"peer        {peer.get('name')}: {peer.get('role') or '-'}, "
        f"state {peer.get('state') or '-'}, "
        f"{'reachable' if peer.get('reachable') else 'not reachable'}",
        f"mode        {status['mode']}"
        + (f" (upgrade state {status['upgrade']})" if status.get("upgrade") else ""),
        f"connections main {_onoff(conns.get('main'))}, aux {_onoff(conns.get('aux'))}",
        f"reason      {status['reason']}",
    ]
    for name, info in sorted(status.get("modules", {}).items()):
        lines.append(f"module      {name} pid {info.get('pid')}")
    for kind, health in status.get("replication", {}).items():
        details = ", ".join(f"{k} {v}" for k, v in health.items() if k != "state")
        lines.append(f"replication {kind}: {health.get('state')}"
                     + (f" ({details})" if details else ""))
    lines += [f"WARNING     {w}" for w in status.get("warnings", [])]
    if status.get("messages"):
        lines.append("status messages:")
        lines += [f"  {m}" for m in status["messages"]]
    return "\n".join(lines) + "\n"
