"""`switchover params`: the server parameters held in the DS tree (list, get, set, unset).

Values are checked against the catalogue (name, kind, range) before anything is stored;
the parameters the reference monitors dynamically take effect on both servers at once.
"""
from __future__ import annotations

import argparse
from typing import Any

import orjson

from switchover.commands.common import (
    LONG_TIMEOUT,
    actions_of,
    session,
)

NAME = "params"
HELP = "list, show and change the server parameters (stored in the DS tree)"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    action = actions_of(parser)

    listing = action("list", "the parameters in force and where each comes from")
    listing.add_argument("--all", action="store_true", help="include catalogue defaults")
    get = action("get", "one parameter with its kind, range and description")
    get.add_argument("name", help='e.g. "Switchover TS Timeout"')
    put = action("set", "change a parameter (on the active)", write=True)
    put.add_argument("name", help="the parameter's exact name")
    put.add_argument("value", help="the new value (checked against the catalogue)")
    unset = action("unset", "remove a parameter from the DS (back to the config or default)",
                   write=True)
    unset.add_argument("name", help="the parameter's exact name")


def _request(args: argparse.Namespace) -> tuple[str, dict[str, Any]]:
    override = {"local_override": True} if getattr(args, "local_override", False) else {}
    if args.action == "list":
        return "params.list", {"all": args.all}
    if args.action == "get":
        return "params.get", {"name": args.name}
    if args.action == "set":
        return "params.set", {"name": args.name, "value": args.value, **override}
    return "params.unset", {"name": args.name, **override}


def _render(action: str, result: dict[str, Any]) -> str:
    if action == "list":
        width = max((len(r["name"]) for r in result["parameters"]), default=10)
        lines = [f"server parameters of {result['server']}"]
        lines += [f"  {r['name']:<{width}}  {r['value']}  ({r['source']}"
                  + (", dynamic)" if r["dynamic"] else ")") for r in result["parameters"]]
        return "\n".join(lines)
    if action == "get":
        rng = ""
        if result.get("minimum") is not None or result.get("maximum") is not None:
            rng = f", range {result.get('minimum')}..{result.get('maximum')}"
        return (f"{result['name']} = {result['value']} ({result['source']}; {result['kind']}"
                f"{rng}{', dynamic' if result['dynamic'] else ''})\n"
                f"  {result['description']}")
    text = (f"{result['change']} on {result['server']} (change {result['seq']}); "
            f"replicated {result['replicated']}")
    return text + (f"\nwarning: {result['warning']}" if result.get("warning") else "")


def execute(args: argparse.Namespace) -> int:
    command, payload = _request(args)
    result = session(args).call(command, payload, timeout=LONG_TIMEOUT)
    print(orjson.dumps(result).decode() if args.json else _render(args.action, result))
    return 0
