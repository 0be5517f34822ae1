"""A host's TOML configuration, validated in full before anything starts.

A pair fails in the worst way when its two halves disagree (two "A"s, a port used twice,
a timeout the reference forbids), so every rule is checked at load time and refused with
one message naming the file, the table, the key, the value and what is allowed. The
tables with rules of their own are read in modules of their own: `[servers.NAME]`
(`config_servers`), `[hooks]` (`hookconfig`), `[witness]` (`witness_config`), `[log]`
and `[metrics]` (`config_ops`); the reading and refusing is `config_reader`'s.
"""
from __future__ import annotations

import re
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from types import MappingProxyType
from typing import Any

from switchover.config_ops import (
    LOG_KEYS,
    METRICS_KEYS,
    LogConfig,
    MetricsConfig,
    parse_log,
    parse_metrics,
)
from switchover.config_reader import MISSING, ConfigError, TableReader
from switchover.config_servers import SERVER_KEYS, HostEntry, parse_servers
from switchover.hookconfig import HOOK_KEYS, HookCommand, Hooks, parse_hooks
from switchover.params import ParamError, ServerParameters
from switchover.params_errors import show_value
from switchover.witness_config import WitnessConfig, parse_witness

__all__ = [
    "Config",
    "ConfigError",
    "HookCommand",
    "HostEntry",
    "Hooks",
    "SecurityConfig",
    "load_config",
    "parse_config",
    "release_key",
]

_RELEASE = re.compile(r"\d+(\.\d+)*")
_ALLOWED: dict[str, tuple[str, ...]] = {
    "": ("server", "servers", "security", "hooks", "server_parameters", "witness", "log",
         "metrics"),
    "server": ("name", "data_dir", "root", "release", "time_scale"),
    "servers.*": SERVER_KEYS,
    "security": ("server_group_key", "admin_keys"),
    "hooks": HOOK_KEYS,
    "log": LOG_KEYS,
    "metrics": METRICS_KEYS,
}


#: Unix domain socket paths are limited to 107 bytes on Linux.
MAX_IPC_PATH = 107


@dataclass(frozen=True)
class SecurityConfig:
    """Key material locations; existence is checked by whoever opens them, with context."""

    server_group_key: Path
    admin_keys: Path | None = None


@dataclass(frozen=True)
class Config:
    """Everything one host needs to know about itself, its peer and the pair's parameters."""

    path: Path
    server_name: str
    data_dir: Path
    root: Path
    release: str
    time_scale: float
    servers: Mapping[str, HostEntry]
    this: HostEntry
    peer: HostEntry
    letter: str
    security: SecurityConfig
    hooks: Hooks
    parameters: ServerParameters = field(repr=False)
    witness: WitnessConfig | None = None  # `[witness]`, absent: no witness (docs/witness.md)
    log: LogConfig = LogConfig()
    metrics: MetricsConfig = MetricsConfig()

    @property
    def peer_letter(self) -> str:
        """The peer's role letter, "B" when this host is "A" and vice versa."""
        return "B" if self.letter == "A" else "A"


def release_key(release: str) -> tuple[int, ...]:
    """A sortable key for a dotted release; trailing zeros are ignored (2026.1 == 2026.1.0)."""
    if not isinstance(release, str) or not _RELEASE.fullmatch(release.strip()):
        raise ValueError(
            f"release {show_value(release)}: allowed a dotted version of digits, e.g. 2026.1.0"
        )
    parts = [int(p) for p in release.strip().split(".")]
    while len(parts) > 1 and parts[-1] == 0:
        parts.pop()
    return tuple(parts)


def load_config(path: str | Path) -> Config:
    """Read and validate a host's TOML file; every problem is a `ConfigError` naming the file."""
    file = Path(path).absolute()
    try:
        text = file.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"{file}: cannot read the configuration: {exc}") from exc
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{file}: not valid TOML: {exc}") from exc
    return parse_config(data, file)


def parse_config(data: Mapping[str, Any], path: Path) -> Config:
    """Validate already-parsed TOML; relative paths resolve against `path`'s directory."""
    return _Parser(Path(path).absolute(), _ALLOWED).parse(data)


class _Parser(TableReader):
    """The whole file, table by table (the reading and refusing: `TableReader`)."""

    # --- tables ---------------------------------------------------------------------

    def parameters(self, data: Mapping) -> ServerParameters:
        raw = data.get("server_parameters", MISSING)
        if raw is MISSING:
            raise self.fail(
                "server_parameters", None, MISSING,
                'this table is required (it must name "SwitchoverServer A" and '
                '"SwitchoverServer B")',
            )
        if not isinstance(raw, Mapping):
            raise self.fail("", "server_parameters", raw, "must be a table")
        try:
            return ServerParameters.from_mapping(raw)
        except ParamError as exc:
            raise ConfigError(f"{self.path}: [server_parameters] {exc}") from exc

    def pair(self, params: ServerParameters, hosts: Mapping[str, HostEntry]) -> tuple[str, str]:
        a, b = params["SwitchoverServer A"], params["SwitchoverServer B"]
        for letter, name in (("A", a), ("B", b)):
            if name is None:
                raise self.fail(
                    "server_parameters", f'"SwitchoverServer {letter}"', MISSING,
                    "is required: the name of the initial "
                    + ("active" if letter == "A" else "backup") + " server",
                )
        if a == b:
            raise self.fail(
                "server_parameters", '"SwitchoverServer B"', b,
                f'must differ from "SwitchoverServer A" ({show_value(a)})',
            )
        if {a, b} != set(hosts):
            names = ", ".join(f"[servers.{n}]" for n in hosts)
            raise self.fail(
                "servers", None, MISSING,
                f"the two hosts ({names}) must be exactly SwitchoverServer A "
                f"({show_value(a)}) and SwitchoverServer B ({show_value(b)})",
            )
        return a, b

    def check_addresses(self, params: ServerParameters, a: HostEntry, b: HostEntry) -> None:
        """"Server A/B Address" and `[servers.*] address` must not silently disagree."""
        for letter, host in (("A", a), ("B", b)):
            value = params[f"Server {letter} Address"]
            if value is not None and value != host.address:
                raise self.fail(
                    "server_parameters", f'"Server {letter} Address"', value,
                    f"differs from [servers.{host.name}] address ({show_value(host.address)}); "
                    "set them equal or leave the parameter out",
                )

    def time_scale(self, server: Mapping) -> float:
        value = server.get("time_scale", 1.0)
        if isinstance(value, bool) or not isinstance(value, (int, float)) or not 0 < value <= 1:
            raise self.fail(
                "server", "time_scale", value,
                "allowed a number greater than 0 and at most 1 (1.0 = real time)",
            )
        return float(value)

    def release(self, server: Mapping) -> str:
        value = self.text("server", server, "release")
        if not _RELEASE.fullmatch(value):
            raise self.fail(
                "server", "release", value, "allowed a dotted version of digits, e.g. 2026.1.0"
            )
        return value

    def hooks(self, data: Mapping) -> Hooks:
        table = self.table(data, "hooks", required=False)
        return parse_hooks(table, self.base, lambda key, value, problem: self.fail(
            "hooks", key, value, problem))

    def security(self, data: Mapping) -> SecurityConfig:
        table = self.table(data, "security", required=True)
        key = self.text("security", table, "server_group_key")
        if not key.endswith(".key_secret"):
            raise self.fail(
                "security", "server_group_key", key,
                "allowed the server group's secret certificate file (*.key_secret)",
            )
        admin = table.get("admin_keys")
        if admin is not None:
            admin = self.resolve(self.text("security", table, "admin_keys"))
        return SecurityConfig(server_group_key=self.resolve(key), admin_keys=admin)

    def witness(self, data: Mapping) -> WitnessConfig | None:
        return parse_witness(data.get("witness"), lambda key, value, problem: self.fail(
            "witness", key, MISSING if value is None else value, problem), self.resolve)

    # --- the whole file ---------------------------------------------------------------

    def parse(self, data: Mapping[str, Any]) -> Config:
        for key in data:
            if key not in _ALLOWED[""]:
                allowed = ", ".join(f"[{k}]" for k in _ALLOWED[""])
                raise self.fail("", key, MISSING, f"unknown table; allowed tables: {allowed}")
        server = self.table(data, "server", required=True)
        name = self.text("server", server, "name")
        data_dir = self.resolve(self.text("server", server, "data_dir"))
        if len(str(data_dir / "notifier.ipc")) > MAX_IPC_PATH:
            raise self.fail("server", "data_dir", str(data_dir),
                            f"too long: the Notifier's socket {data_dir}/notifier.ipc must stay "
                            f"under {MAX_IPC_PATH} characters (a Unix socket path limit)")
        root = self.resolve(self.text("server", server, "root", "/"))
        release = self.release(server)
        time_scale = self.time_scale(server)
        hosts = parse_servers(self, data)
        params = self.parameters(data)
        a, b = self.pair(params, hosts)
        if name not in (a, b):
            raise self.fail(
                "server", "name", name,
                f'host "{name}" is neither SwitchoverServer A ("{a}") nor '
                f'SwitchoverServer B ("{b}")',
            )
        self.check_addresses(params, hosts[a], hosts[b])
        letter = "A" if name == a else "B"
        return Config(
            path=self.path,
            server_name=name,
            data_dir=data_dir,
            root=root,
            release=release,
            time_scale=time_scale,
            servers=MappingProxyType(hosts),
            this=hosts[name],
            peer=hosts[b if letter == "A" else a],
            letter=letter,
            security=self.security(data),
            hooks=self.hooks(data),
            parameters=params,
            witness=self.witness(data),
            log=parse_log(self.table(data, "log", required=False), self.fail),
            metrics=parse_metrics(self.table(data, "metrics", required=False), self.fail),
        )

