"""What the operator commands share: loading the config, calling the host's admin socket."""
from __future__ import annotations

import argparse
import sys
from typing import Any, Callable, Mapping

import zmq

from switchover.config import Config, ConfigError, load_config

ADMIN_TIMEOUT = 10.0
#: For commands that move a whole tree (DS export/import) or write through to the backup.
LONG_TIMEOUT = 120.0


class CommandFailed(Exception):
    """A command's clear, one-line failure; printed without a traceback."""


def add_config(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--config", required=True, help="the host's TOML configuration")


def actions_of(parser: argparse.ArgumentParser) -> Callable[..., argparse.ArgumentParser]:
    """Subcommands (ACTION) that each take --config and --json, and --local-override when
    they write (the DS and parameter commands)."""
    actions = parser.add_subparsers(dest="action", required=True, metavar="ACTION")

    def action(name: str, help_text: str, write: bool = False) -> argparse.ArgumentParser:
        child = actions.add_parser(name, help=help_text, description=help_text)
        add_config(child)
        child.add_argument("--json", action="store_true", help="machine-readable output")
        if write:
            child.add_argument("--local-override", action="store_true",
                               help="on the backup: change this server only (overwritten "
                                    "at its next resync)")
        return child

    return action


def config_or_exit(path: str) -> Config:
    try:
        return load_config(path)
    except ConfigError as exc:
        print(f"switchover: {exc}", file=sys.stderr)
        raise SystemExit(2) from None


def admin_call(config: Config, command: str, args: Mapping[str, Any] | None = None,
               timeout: float = ADMIN_TIMEOUT) -> Any:
    """Run one admin command on this host's process with the local operator key."""
    from switchover.endpoints import operator_key_path, tcp
    from transport.admin import AdminUnavailable, admin_request
    from transport.security import load_keypair

    key_path = operator_key_path(config.data_dir)
    if not key_path.exists():
        raise CommandFailed(
            f"no operator key at {key_path}: is the host process for {config.server_name} "
            "running (it writes the key at start)?"
        )
    server = load_keypair(config.security.server_group_key)
    endpoint = tcp(config.this.address, config.this.admin_port)
    ctx = zmq.Context()
    try:
        reply = admin_request(
            ctx, endpoint, command, dict(args or {}), client_keys=load_keypair(key_path),
            server_public=server.public, timeout=timeout,
        )
    except AdminUnavailable as exc:
        raise CommandFailed(f"no answer from {config.server_name} at {endpoint}: {exc}") from None
    finally:
        ctx.destroy(linger=0)
    if reply.get("status") != "ok":
        raise CommandFailed(f"{command} refused ({reply.get('errno')}): {reply.get('reason')}")
    return reply.get("result")


def call_or_exit(config: Config, command: str, args: Mapping[str, Any] | None = None,
                 exit_code: int = 1, timeout: float = ADMIN_TIMEOUT) -> Any:
    """`admin_call` for a command's main request: a failure ends the command clearly."""
    try:
        return admin_call(config, command, args, timeout=timeout)
    except CommandFailed as exc:
        print(f"switchover: {exc}", file=sys.stderr)
        raise SystemExit(exit_code) from None
