"""The operator's side of the admin socket: which host, which key, how long to wait.

A command reaches this server's host by default, the peer with `--server NAME`, or any
address with `--connect HOST[:PORT]`, authenticated with `--key FILE` (an operator's own
CURVE key from `keys generate --rights`) or, on a host itself, the local operator key the
host process writes into its data dir. The server's public key is read from the public
half of the server-group certificate (`server-group.key` beside the configured
`*.key_secret`) or from `--server-key`, so no operator ever needs the pair's secret.
Every failure is a `CommandFailed` with one line and an exit code (see `EXIT_*`).
"""
from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Mapping

from switchover.config import Config, ConfigError, load_config
from switchover.endpoints import operator_key_path, tcp

#: Exit codes every command uses (docs/operations.md lists them).
EXIT_OK = 0
EXIT_REFUSED = 1      # the host refused (rights, role, bad value) or the answer is "no"
EXIT_USAGE = 2        # bad command line, config or key file
EXIT_UNREACHABLE = 3  # no answer within --timeout

DEFAULT_CONFIG = "/etc/switchover/switchover.toml"
CONFIG_ENV = "SWITCHOVER_CONFIG"
#: Seconds to wait for a host's answer: a host that is down is reported this fast.
DEFAULT_TIMEOUT = 3.0
#: For commands that move a whole tree (DS export/import) or write through to the backup.
LONG_TIMEOUT = 120.0
DEFAULT_ADMIN_PORT = 3636


class CommandFailed(Exception):
    """A command's clear, one-line failure; printed without a traceback."""

    def __init__(self, message: str, code: int = EXIT_REFUSED) -> None:
        super().__init__(message)
        self.code = code


def default_config_path() -> str:
    """`$SWITCHOVER_CONFIG`, else the packaged location."""
    return os.environ.get(CONFIG_ENV) or DEFAULT_CONFIG


def load(path: str | Path | None) -> Config:
    """The config, or a usage failure naming the file and the problem."""
    try:
        return load_config(path or default_config_path())
    except ConfigError as exc:
        raise CommandFailed(str(exc), EXIT_USAGE) from None


def public_key_file(config: Config) -> Path:
    """The server-group certificate's public half when it is there, else the secret file."""
    secret = config.security.server_group_key
    public = secret.with_name(secret.name.removesuffix("_secret"))
    return public if public.exists() else secret


@dataclass(frozen=True)
class Target:
    """One host's admin socket and the keys to talk to it."""

    name: str
    endpoint: str
    key_file: Path
    server_key_file: Path


def _read_keys(path: Path, what: str, secret: bool) -> Any:
    from switchover.transport.security import load_keypair, load_public

    try:
        with open(path, "rb"):
            pass
        return load_keypair(path) if secret else load_public(path)
    except FileNotFoundError:
        raise CommandFailed(f"{what} {path}: no such file", EXIT_USAGE) from None
    except PermissionError:
        raise CommandFailed(f"{what} {path}: permission denied (run as the host's user, "
                            "or give your own key with --key)", EXIT_USAGE) from None
    except (OSError, ValueError) as exc:
        raise CommandFailed(f"{what} {path}: not a CURVE certificate ({exc})",
                            EXIT_USAGE) from None


def host_port(connect: str) -> tuple[str, int | None]:
    """HOST, HOST:PORT or [IPv6]:PORT."""
    if connect.startswith("["):
        host, _, rest = connect[1:].partition("]")
        port = rest.removeprefix(":")
    elif connect.count(":") == 1:
        host, port = connect.split(":")
    else:
        host, port = connect, ""
    if not host:
        raise CommandFailed(f"--connect {connect!r}: expected HOST[:PORT]", EXIT_USAGE)
    if not port:
        return host, None
    if not port.isdigit() or not 1 <= int(port) <= 65535:
        raise CommandFailed(f"--connect {connect!r}: the port must be 1..65535", EXIT_USAGE)
    return host, int(port)


def resolve_target(config: Config, *, server: str | None = None, connect: str | None = None,
                   key: str | Path | None = None,
                   server_key: str | Path | None = None) -> Target:
    """Where a command goes: this host, `server` of the pair, or `connect` HOST[:PORT]."""
    if server is not None and server not in config.servers:
        known = ", ".join(sorted(config.servers))
        raise CommandFailed(f"--server {server!r}: not a server of this pair ({known})",
                            EXIT_USAGE)
    entry = config.servers[server] if server else config.this
    name, endpoint = entry.name, tcp(entry.address, entry.admin_port)
    if connect:
        host, port = host_port(connect)
        known = [e for e in config.servers.values() if e.address == host]
        if port is None:
            port = known[0].admin_port if known else DEFAULT_ADMIN_PORT
        name = known[0].name if known else connect
        endpoint = tcp(host, port)
    if key is not None:
        key_file = Path(key)
    elif (server and server != config.server_name) or connect:
        raise CommandFailed(f"{name}: give your operator key with --key (the local key is "
                            f"accepted by {config.server_name} only)", EXIT_USAGE)
    else:
        key_file = operator_key_path(config.data_dir)
        if not key_file.exists():
            raise CommandFailed(
                f"no operator key at {key_file}: is the host process for "
                f"{config.server_name} running (it writes the key at start)? "
                "Or give your own key with --key", EXIT_USAGE)
    return Target(name, endpoint, key_file,
                  Path(server_key) if server_key else public_key_file(config))


def call(target: Target, command: str, args: Mapping[str, Any] | None = None,
         timeout: float = DEFAULT_TIMEOUT) -> Any:
    """Run one admin command; its result, or CommandFailed (refused or unreachable)."""
    import zmq

    from switchover.transport.admin import AdminUnavailable, admin_request

    client = _read_keys(target.key_file, "operator key", secret=True)
    server_public = _read_keys(target.server_key_file, "server-group key", secret=False)
    ctx = zmq.Context()
    try:
        reply = admin_request(ctx, target.endpoint, command, dict(args or {}),
                              client_keys=client, server_public=server_public,
                              timeout=timeout)
    except AdminUnavailable as exc:
        raise CommandFailed(f"no answer from {target.name} at {target.endpoint} "
                            f"({exc}): is its host process running?",
                            EXIT_UNREACHABLE) from None
    finally:
        ctx.destroy(linger=0)
    if reply.get("status") != "ok":
        raise CommandFailed(f"{command} refused ({reply.get('errno')}): {reply.get('reason')}")
    return reply.get("result")


def admin_call(config: Config, command: str, args: Mapping[str, Any] | None = None,
               timeout: float = DEFAULT_TIMEOUT) -> Any:
    """One admin command on this host with the local operator key (tests, benchmarks)."""
    return call(resolve_target(config), command, args, timeout)
