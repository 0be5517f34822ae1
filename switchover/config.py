"""A host's TOML configuration, validated in full before anything starts.

A pair fails in the worst way when its two halves disagree (two "A"s, a port used twice,
a timeout the reference forbids), so every rule is checked at load time and refused with
one message naming the file, the table, the key, the value and what is allowed.
"""
from __future__ import annotations

import os
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
from switchover.hookconfig import HOOK_KEYS, HookCommand, Hooks, parse_hooks
from switchover.params import ParamError, ServerParameters, valid_address
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


class _Missing:
    """Marks an absent key, distinct from every value a caller can pass (None included)."""

    def __repr__(self) -> str:
        return "<missing>"


_MISSING: Any = _Missing()
_RELEASE = re.compile(r"\d+(\.\d+)*")
_PORT_KEYS = ("switch_port", "main_port", "aux_port", "admin_port")
_ALLOWED: dict[str, tuple[str, ...]] = {
    "": ("server", "servers", "security", "hooks", "server_parameters", "witness", "log",
         "metrics"),
    "server": ("name", "data_dir", "root", "release", "time_scale"),
    "servers.*": ("address", "aux_address") + _PORT_KEYS,
    "security": ("server_group_key", "admin_keys"),
    "hooks": HOOK_KEYS,
    "log": LOG_KEYS,
    "metrics": METRICS_KEYS,
}


#: Unix domain socket paths are limited to 107 bytes on Linux.
MAX_IPC_PATH = 107


class ConfigError(ValueError):
    """A configuration the host refuses to start with; the message says how to fix it."""


@dataclass(frozen=True)
class HostEntry:
    """One of the pair's hosts: where its four sockets listen (see docs/internals.md)."""

    name: str
    address: str
    aux_address: str
    switch_port: int = 3633
    main_port: int = 3634
    aux_port: int = 3635
    admin_port: int = 3636


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
    return _Parser(Path(path).absolute()).parse(data)


class _Parser:
    """Carries the file name so every refusal can say where it came from."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.base = path.parent

    # --- refusals -------------------------------------------------------------------

    def fail(self, table: str, key: str | None, value: object, problem: str) -> ConfigError:
        where = f"[{table}]" if table else "(top level)"
        if key is not None:
            where += f" {key}"
            if value is not _MISSING:
                where += f" = {show_value(value)}"
        return ConfigError(f"{self.path}: {where}: {problem}")

    def table(self, data: Mapping[str, Any], name: str, required: bool) -> dict:
        value = data.get(name, _MISSING)
        if value is _MISSING:
            if required:
                raise self.fail(name, None, _MISSING, "this table is required")
            value = {}
        if not isinstance(value, Mapping):
            raise self.fail("", name, value, "must be a table")
        return self.known_keys(name, name, value)

    def known_keys(self, table: str, rule: str, value: Mapping[str, Any]) -> dict:
        for key in value:
            if key not in _ALLOWED[rule]:
                allowed = ", ".join(_ALLOWED[rule])
                raise self.fail(table, key, _MISSING, f"unknown key; allowed keys: {allowed}")
        return dict(value)

    # --- values ---------------------------------------------------------------------

    def text(self, table: str, data: Mapping, key: str, default: object = _MISSING) -> str:
        value = data.get(key, default)
        if value is _MISSING:
            raise self.fail(table, key, _MISSING, "is required")
        if not isinstance(value, str) or not value.strip():
            raise self.fail(table, key, value, "allowed a non-empty string")
        return value.strip()

    def resolve(self, text: str) -> Path:
        return Path(os.path.normpath(self.base / Path(text).expanduser()))

    def port(self, table: str, data: Mapping, key: str, default: int) -> int:
        value = data.get(key, default)
        if isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= 65535:
            raise self.fail(table, key, value, "allowed a TCP port number 1..65535")
        return value

    def address(self, table: str, data: Mapping, key: str, default: object) -> str:
        value = self.text(table, data, key, default)
        if not valid_address(value):
            raise self.fail(table, key, value, "allowed a host name or an IPv4/IPv6 address")
        return value

    # --- tables ---------------------------------------------------------------------

    def host(self, name: str, data: Mapping) -> HostEntry:
        table = f"servers.{name}"
        entry = self.known_keys(table, "servers.*", data)
        address = self.address(table, entry, "address", _MISSING)
        host = HostEntry(
            name=name,
            address=address,
            aux_address=self.address(table, entry, "aux_address", address),
            **{key: self.port(table, entry, key, HostEntry.__dataclass_fields__[key].default)
               for key in _PORT_KEYS},
        )
        ports = [getattr(host, key) for key in _PORT_KEYS]
        for i, key in enumerate(_PORT_KEYS):
            for other in _PORT_KEYS[:i]:
                if getattr(host, key) == getattr(host, other):
                    raise self.fail(
                        table, key, getattr(host, key),
                        f"the same port as {other}; the four ports of one host must differ "
                        f"(now {', '.join(map(str, ports))})",
                    )
        return host

    def servers(self, data: Mapping) -> dict[str, HostEntry]:
        raw = data.get("servers", _MISSING)
        if raw is _MISSING:
            raise self.fail("servers", None, _MISSING, "this table is required")
        if not isinstance(raw, Mapping):
            raise self.fail("", "servers", raw, "must be a table of two [servers.NAME] tables")
        if len(raw) != 2:
            names = ", ".join(f'"{n}"' for n in raw) or "none"
            raise self.fail(
                "servers", None, _MISSING,
                f"must hold exactly two hosts, SwitchoverServer A and B; found {len(raw)} "
                f"({names})",
            )
        hosts = {}
        for name, entry in raw.items():
            if not isinstance(entry, Mapping):
                raise self.fail("servers", name, entry, "must be a table [servers.NAME]")
            hosts[name] = self.host(name, entry)
        self.check_endpoints(list(hosts.values()))
        return hosts

    def check_endpoints(self, hosts: list[HostEntry]) -> None:
        """Two hosts sharing one machine (tests) must not bind the same address and port."""
        first, second = hosts
        for a_key in _PORT_KEYS:
            for b_key in _PORT_KEYS:
                a_addr = first.aux_address if a_key == "aux_port" else first.address
                b_addr = second.aux_address if b_key == "aux_port" else second.address
                if a_addr == b_addr and getattr(first, a_key) == getattr(second, b_key):
                    raise self.fail(
                        f"servers.{second.name}", b_key, getattr(second, b_key),
                        f"{b_addr}:{getattr(second, b_key)} is also "
                        f"[servers.{first.name}] {a_key}; each endpoint may be used once",
                    )

    def parameters(self, data: Mapping) -> ServerParameters:
        raw = data.get("server_parameters", _MISSING)
        if raw is _MISSING:
            raise self.fail(
                "server_parameters", None, _MISSING,
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
                    "server_parameters", f'"SwitchoverServer {letter}"', _MISSING,
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
                "servers", None, _MISSING,
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
            "witness", key, _MISSING if value is None else value, problem), self.resolve)

    # --- the whole file ---------------------------------------------------------------

    def parse(self, data: Mapping[str, Any]) -> Config:
        for key in data:
            if key not in _ALLOWED[""]:
                allowed = ", ".join(f"[{k}]" for k in _ALLOWED[""])
                raise self.fail("", key, _MISSING, f"unknown table; allowed tables: {allowed}")
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
        hosts = self.servers(data)
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

