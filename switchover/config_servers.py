"""The pair's two hosts: `[servers.NAME]`, and where each host's four sockets listen.

Two hosts that disagree about an endpoint, or that would bind the same address and
port on one machine, fail at once and in the worst way, so their tables are checked
together here, with the config loader's refusals (`config_reader`).
"""
from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from switchover.config_reader import MISSING, TableReader

PORT_KEYS = ("switch_port", "main_port", "aux_port", "admin_port")
#: The keys of a `[servers.NAME]` table.
SERVER_KEYS = ("address", "aux_address") + PORT_KEYS


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


def _host(reader: TableReader, name: str, data: Mapping) -> HostEntry:
    table = f"servers.{name}"
    entry = reader.known_keys(table, "servers.*", data)
    address = reader.address(table, entry, "address", MISSING)
    host = HostEntry(
        name=name,
        address=address,
        aux_address=reader.address(table, entry, "aux_address", address),
        **{key: reader.port(table, entry, key, HostEntry.__dataclass_fields__[key].default)
           for key in PORT_KEYS},
    )
    ports = [getattr(host, key) for key in PORT_KEYS]
    for i, key in enumerate(PORT_KEYS):
        for other in PORT_KEYS[:i]:
            if getattr(host, key) == getattr(host, other):
                raise reader.fail(
                    table, key, getattr(host, key),
                    f"the same port as {other}; the four ports of one host must differ "
                    f"(now {', '.join(map(str, ports))})",
                )
    return host


def parse_servers(reader: TableReader, data: Mapping) -> dict[str, HostEntry]:
    """The `[servers]` table: exactly two hosts, no endpoint used twice."""
    raw = data.get("servers", MISSING)
    if raw is MISSING:
        raise reader.fail("servers", None, MISSING, "this table is required")
    if not isinstance(raw, Mapping):
        raise reader.fail("", "servers", raw, "must be a table of two [servers.NAME] tables")
    if len(raw) != 2:
        names = ", ".join(f'"{n}"' for n in raw) or "none"
        raise reader.fail(
            "servers", None, MISSING,
            f"must hold exactly two hosts, SwitchoverServer A and B; found {len(raw)} "
            f"({names})",
        )
    hosts = {}
    for name, entry in raw.items():
        if not isinstance(entry, Mapping):
            raise reader.fail("servers", name, entry, "must be a table [servers.NAME]")
        hosts[name] = _host(reader, name, entry)
    _check_endpoints(reader, list(hosts.values()))
    return hosts


def _check_endpoints(reader: TableReader, hosts: list[HostEntry]) -> None:
    """Two hosts sharing one machine (tests) must not bind the same address and port."""
    first, second = hosts
    for a_key in PORT_KEYS:
        for b_key in PORT_KEYS:
            a_addr = first.aux_address if a_key == "aux_port" else first.address
            b_addr = second.aux_address if b_key == "aux_port" else second.address
            if a_addr == b_addr and getattr(first, a_key) == getattr(second, b_key):
                raise reader.fail(
                    f"servers.{second.name}", b_key, getattr(second, b_key),
                    f"{b_addr}:{getattr(second, b_key)} is also "
                    f"[servers.{first.name}] {a_key}; each endpoint may be used once",
                )
