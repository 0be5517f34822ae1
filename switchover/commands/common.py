"""What the operator commands share: the connection options and one admin call.

Every command that talks to a host takes the same options (`--config`, `--server`,
`--connect`, `--key`, `--server-key`, `--timeout`); `session(args)` turns them into a
`Session` whose `call` runs one admin command and raises `CommandFailed` with the exit
code the command then returns (switchover.client lists them).
"""
from __future__ import annotations

import argparse
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Mapping

from switchover.client import (
    CONFIG_ENV,
    DEFAULT_ADMIN_PORT,
    DEFAULT_CONFIG,
    DEFAULT_TIMEOUT,
    EXIT_USAGE,
    LONG_TIMEOUT,
    CommandFailed,
    Target,
    call,
    default_config_path,
    host_port,
    load,
    resolve_target,
)
from switchover.config import Config
from switchover.endpoints import tcp

__all__ = ["LONG_TIMEOUT", "CommandFailed", "Session", "actions_of", "add_config",
           "add_json", "session"]


def add_config(parser: argparse.ArgumentParser, client: bool = True) -> None:
    """`--config`, and for a command that talks to a host the connection options."""
    parser.add_argument(
        "--config", default=None, metavar="FILE",
        help=f"the pair's TOML configuration (default: ${CONFIG_ENV}, else {DEFAULT_CONFIG})")
    if not client:
        return
    where = parser.add_mutually_exclusive_group()
    where.add_argument("--server", metavar="NAME",
                       help="ask this server of the pair (default: the one the config is for)")
    where.add_argument("--connect", metavar="HOST[:PORT]",
                       help="ask the admin socket at HOST (port: the config's admin_port "
                            "for that address, else 3636)")
    parser.add_argument("--key", metavar="FILE",
                        help="your operator key (*.key_secret from `keys generate --rights`; "
                             "default on a host: the local operator key in its data dir)")
    parser.add_argument("--server-key", metavar="FILE",
                        help="the server group's public certificate (default: "
                             "server-group.key beside the config's server_group_key)")
    parser.add_argument("--timeout", type=float, default=DEFAULT_TIMEOUT, metavar="SECONDS",
                        help=f"how long to wait for a host's answer (default "
                             f"{DEFAULT_TIMEOUT:g})")


def add_json(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--json", action="store_true", help="machine-readable output (JSON)")


def actions_of(parser: argparse.ArgumentParser) -> Callable[..., argparse.ArgumentParser]:
    """Subcommands (ACTION) that each take the connection options and --json, and
    --local-override when they write (the DS and parameter commands)."""
    actions = parser.add_subparsers(dest="action", required=True, metavar="ACTION")

    def action(name: str, help_text: str, write: bool = False) -> argparse.ArgumentParser:
        child = actions.add_parser(name, help=help_text, description=help_text)
        add_config(child)
        add_json(child)
        if write:
            child.add_argument("--local-override", action="store_true",
                               help="on the backup: change this server only (overwritten "
                                    "at its next resync)")
        return child

    return action


@dataclass(frozen=True)
class Session:
    """The host a command talks to, and how long it waits for each answer."""

    config: Config | None
    target: Target
    timeout: float

    @property
    def name(self) -> str:
        return self.target.name

    def call(self, command: str, args: Mapping[str, Any] | None = None,
             timeout: float | None = None) -> Any:
        """One admin command. A long one (`timeout` over --timeout) is preceded by a
        status request within --timeout, so a host that is down is reported at once."""
        if timeout is not None and timeout > self.timeout:
            call(self.target, "status", None, self.timeout)
        return call(self.target, command, args, timeout or self.timeout)

    def peer(self) -> "Session | None":
        """The other server of the pair with the same key; None without a config or when
        this session names no server of the pair."""
        config = self.config
        if config is None:
            return None
        names = [n for n in config.servers if n != self.target.name]
        if len(names) != 1 or self.target.name not in config.servers:
            return None
        entry = config.servers[names[0]]
        return Session(config, Target(entry.name, tcp(entry.address, entry.admin_port),
                                      self.target.key_file, self.target.server_key_file),
                       self.timeout)


def session(args: argparse.Namespace) -> Session:
    """The session the command-line options name (CommandFailed if they cannot work)."""
    timeout = getattr(args, "timeout", DEFAULT_TIMEOUT)
    if not timeout > 0:
        raise CommandFailed(f"--timeout {timeout:g}: must be more than 0 seconds", EXIT_USAGE)
    connect, key, server_key = (getattr(args, n, None) for n in ("connect", "key", "server_key"))
    path = args.config or default_config_path()
    if connect and key and server_key and args.config is None and not Path(path).exists():
        # A remote operator's workstation: no pair configuration needed.
        host, port = host_port(connect)
        return Session(None, Target(connect, tcp(host, port or DEFAULT_ADMIN_PORT), Path(key),
                                    Path(server_key)), timeout)
    config = load(path)
    return Session(config, resolve_target(config, server=getattr(args, "server", None),
                                          connect=connect, key=key, server_key=server_key),
                   timeout)
