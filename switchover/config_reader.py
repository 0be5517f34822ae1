"""How the config loader reads a table and refuses a value.

Every refusal names the file, the table, the key, the value and what is allowed, so an
operator can fix a configuration from the one line alone; the value readers here (text,
paths, ports, addresses) all refuse that way. Apart from config.py so the loader of
each table (`config_servers`, config.py's own) reads and refuses alike.
"""
from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from switchover.params import valid_address
from switchover.params_errors import show_value


class ConfigError(ValueError):
    """A configuration the host refuses to start with; the message says how to fix it."""


class _Missing:
    """Marks an absent key, distinct from every value a caller can pass (None included)."""

    def __repr__(self) -> str:
        return "<missing>"


MISSING: Any = _Missing()


class TableReader:
    """Carries the file name so every refusal can say where it came from; `allowed`
    names the keys each table may hold."""

    def __init__(self, path: Path, allowed: Mapping[str, tuple[str, ...]]) -> None:
        self.path = path
        self.base = path.parent
        self.allowed = allowed

    # --- refusals -------------------------------------------------------------------

    def fail(self, table: str, key: str | None, value: object, problem: str) -> ConfigError:
        where = f"[{table}]" if table else "(top level)"
        if key is not None:
            where += f" {key}"
            if value is not MISSING:
                where += f" = {show_value(value)}"
        return ConfigError(f"{self.path}: {where}: {problem}")

    def table(self, data: Mapping[str, Any], name: str, required: bool) -> dict:
        value = data.get(name, MISSING)
        if value is MISSING:
            if required:
                raise self.fail(name, None, MISSING, "this table is required")
            value = {}
        if not isinstance(value, Mapping):
            raise self.fail("", name, value, "must be a table")
        return self.known_keys(name, name, value)

    def known_keys(self, table: str, rule: str, value: Mapping[str, Any]) -> dict:
        for key in value:
            if key not in self.allowed[rule]:
                allowed = ", ".join(self.allowed[rule])
                raise self.fail(table, key, MISSING, f"unknown key; allowed keys: {allowed}")
        return dict(value)

    # --- values ---------------------------------------------------------------------

    def text(self, table: str, data: Mapping, key: str, default: object = MISSING) -> str:
        value = data.get(key, default)
        if value is MISSING:
            raise self.fail(table, key, MISSING, "is required")
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
