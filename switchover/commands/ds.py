"""`switchover ds`: read and change the DS configuration tree on the active server.

The reference's Interaction Administrator, on the command line. Changes are made on the
active; against the backup they are refused with the active's name unless
`--local-override` is given (that server alone, until its next resync).
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

import orjson

from switchover.client import EXIT_USAGE
from switchover.commands.common import (
    LONG_TIMEOUT,
    CommandFailed,
    actions_of,
    session,
)

NAME = "ds"
HELP = "read and change the DS configuration tree (get, set, delete, tree, export, import)"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    action = actions_of(parser)

    get = action("get", "show one entry")
    get.add_argument("path", help="e.g. '${CONFIG}/Users/alice' or /Config/Users/alice")
    put = action("set", "create or change an entry", write=True)
    put.add_argument("path", help="the entry to create or change")
    put.add_argument("--class", dest="ds_class", help="DS class (default: kept, or Container)")
    put.add_argument("--attr", action="append", default=[], metavar="NAME=VALUE",
                     help="set an attribute; repeat NAME for several values")
    put.add_argument("--unset-attr", action="append", default=[], metavar="NAME",
                     help="remove an attribute (repeatable)")
    put.add_argument("--replace", action="store_true",
                     help="drop the attributes not given (default: keep them)")
    delete = action("delete", "delete an entry and everything below it", write=True)
    delete.add_argument("path", help="the entry to delete with its subtree")
    tree = action("tree", "list a subtree")
    tree.add_argument("path", nargs="?", default="/", help="the subtree (default /)")
    tree.add_argument("--depth", type=int, help="levels below PATH (default: all)")
    tree.add_argument("--limit", type=int, default=1000, help="at most this many entries")
    export = action("export", "write the tree as JSON lines (to FILE or stdout)")
    export.add_argument("file", nargs="?", help="write here (default: stdout)")
    imp = action("import", "replace the whole tree with an export (on the active)", write=True)
    imp.add_argument("file", help="a file written by `ds export`")


def _attributes(pairs: list[str], unset: list[str]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for pair in pairs:
        name, sep, value = pair.partition("=")
        if not sep or not name.strip():
            raise CommandFailed(f"--attr {pair!r}: expected NAME=VALUE", EXIT_USAGE)
        out.setdefault(name.strip(), []).append(value)
    for name in unset:
        out[name] = None
    return out


def _request(args: argparse.Namespace) -> tuple[str, dict[str, Any]]:
    override = {"local_override": True} if getattr(args, "local_override", False) else {}
    if args.action == "get":
        return "ds.get", {"path": args.path}
    if args.action == "set":
        return "ds.set", {"path": args.path, "class": args.ds_class,
                          "attributes": _attributes(args.attr, args.unset_attr),
                          "merge": not args.replace, **override}
    if args.action == "delete":
        return "ds.delete", {"path": args.path, **override}
    if args.action == "tree":
        return "ds.tree", {"path": args.path, "depth": args.depth, "limit": args.limit}
    if args.action == "export":
        return "ds.export", {}
    return "ds.import", {"file": str(Path(args.file).resolve()), **override}


def _entry_lines(e: dict[str, Any]) -> list[str]:
    lines = [f"{e['path']}  [{e['class']}]" + (f" flags {','.join(e['flags'])}"
                                               if e.get("flags") else "")]
    for name, values in e.get("attributes", {}).items():
        lines.append(f"    {name} = {'; '.join(values)}")
    return lines


def _render(action: str, result: dict[str, Any]) -> str:
    if action == "get":
        return "\n".join(_entry_lines(result))
    if action == "tree":
        lines = [line for e in result["entries"] for line in _entry_lines(e)]
        if result.get("truncated"):
            lines.append(f"... truncated (use --limit); subtree hash {result['hash']}")
        return "\n".join(lines) if lines else f"{result['path']}: no entries"
    if action == "import":
        return (f"imported: {result['entries']} entries in {result['changes']} change(s), "
                f"now at change {result['seq']}; replicated {result.get('replicated', '-')}")
    return (f"{result['change']} on {result['server']} (change {result['seq']}); "
            f"replicated {result['replicated']}")


def execute(args: argparse.Namespace) -> int:
    command, payload = _request(args)
    result = session(args).call(command, payload, timeout=LONG_TIMEOUT)
    if args.action == "export":
        text = result["text"]
        if args.file:
            Path(args.file).write_text(text)
            if not args.json:
                print(f"exported {result['entries']} entries (change {result['seq']}) "
                      f"to {args.file}")
        elif not args.json:
            sys.stdout.write(text)
        if args.json:
            print(orjson.dumps({k: v for k, v in result.items() if k != "text"}).decode())
        return 0
    if args.json:
        print(orjson.dumps(result).decode())
    else:
        print(_render(args.action, result))
    return 0
