"""The optional `[witness]` table: where the pair's etcd is and how to log in to it.

Its own module beside `switchover.config`, which calls :func:`parse_witness` with its
refusal and path helpers, so the witness's rules stay in one place and a refusal reads
like every other one: the file, `[witness]`, the key, the value and what is allowed.
Both servers of a pair must name the same prefix; one etcd serves many pairs, each
under a prefix of its own.
"""
from __future__ import annotations

import unicodedata
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Mapping
from urllib.parse import urlsplit

from switchover.params import valid_address

__all__ = ["FORCE_RISK", "WITNESS_KEYS", "WitnessConfig", "parse_witness"]

WITNESS_KEYS = ("endpoints", "prefix", "ca_file", "cert_file", "key_file", "user", "password")
DEFAULT_ETCD_PORT = 2379
#: What `switchover switch --force` risks, in the words the operator confirms and the
#: event log records (docs/witness.md).
FORCE_RISK = ("the witness cannot confirm the active is gone; if it is alive, "
              "both servers may be active")

#: `fail(key, value, problem)` -> the ConfigError to raise (key None: the table itself;
#: value None: none to show).
Fail = Callable[[str | None, object, str], Exception]


@dataclass(frozen=True)
class WitnessConfig:
    """A validated `[witness]`: endpoints as `scheme://host:port`, prefix without a final /."""

    endpoints: tuple[str, ...]
    prefix: str
    ca_file: Path | None = None
    cert_file: Path | None = None
    key_file: Path | None = None
    user: str | None = None
    password: str | None = field(default=None, repr=False)


def parse_witness(table: object, fail: Fail,
                  resolve: Callable[[str], Path]) -> WitnessConfig | None:
    """Validate `[witness]` (None when absent: no witness); refusals name the key."""
    if table is None:
        return None
    if not isinstance(table, Mapping):
        raise fail(None, None, "must be a table")
    for key in table:
        if key not in WITNESS_KEYS:
            raise fail(key, None, f"unknown key; allowed keys: {', '.join(WITNESS_KEYS)}")
    endpoints = _endpoints(table.get("endpoints", _NOTHING), fail)
    files = {key: _text(table, key, fail) for key in ("ca_file", "cert_file", "key_file")}
    if (files["cert_file"] is None) != (files["key_file"] is None):
        given = "cert_file" if files["cert_file"] is not None else "key_file"
        raise fail(given, files[given], "cert_file and key_file go together: set both or none")
    tls = [key for key, value in files.items() if value is not None]
    plain = [url for url in endpoints if url.startswith("http://")]
    if tls and plain:
        raise fail(tls[0], files[tls[0]],
                   f"a TLS file needs https:// endpoints, but {plain[0]} is http://")
    user, password = _text(table, "user", fail), _text(table, "password", fail)
    if (user is None) != (password is None):
        raise fail("user" if user is not None else "password", None,
                   "user and password go together: set both or none")
    return WitnessConfig(
        endpoints=endpoints,
        prefix=_prefix(table.get("prefix", _NOTHING), fail),
        **{key: None if value is None else resolve(value) for key, value in files.items()},
        user=user,
        password=password,
    )


class _Nothing:
    def __repr__(self) -> str:
        return "<missing>"


_NOTHING: Any = _Nothing()


def _text(table: Mapping[str, Any], key: str, fail: Fail) -> str | None:
    value = table.get(key)
    if value is None:
        return None
    if not isinstance(value, str) or not value.strip() or _invisible(value):
        raise fail(key, value, "allowed a non-empty string without control characters")
    return value if key == "password" else value.strip()


def _invisible(text: str) -> bool:
    return any(unicodedata.category(ch) in ("Cc", "Cf") for ch in text)


def _endpoints(value: object, fail: Fail) -> tuple[str, ...]:
    if value is _NOTHING:
        raise fail("endpoints", None,
                   'is required: the etcd members, e.g. ["http://10.60.0.9:2379"]')
    if isinstance(value, str):
        value = [value]
    if not isinstance(value, list) or not value:
        raise fail("endpoints", value, "allowed a non-empty list of http(s)://host:port URLs")
    urls = []
    for item in value:
        url = _endpoint(item)
        if url is None:
            raise fail("endpoints", item,
                       "allowed http://host:port or https://host:port (port 1..65535, "
                       "default 2379), with no path")
        if url in urls:
            raise fail("endpoints", item, "listed twice; each etcd member once")
        urls.append(url)
    if len({url.split(":", 1)[0] for url in urls}) > 1:
        raise fail("endpoints", value, "mixes http:// and https://; use one for all members")
    return tuple(urls)


def _endpoint(item: object) -> str | None:
    """`scheme://host:port` for a valid etcd client URL, else None."""
    if not isinstance(item, str):
        return None
    try:
        parts = urlsplit(item.strip())
        port = parts.port or DEFAULT_ETCD_PORT
    except ValueError:
        return None
    host = parts.hostname or ""
    if (parts.scheme not in ("http", "https") or not valid_address(host) or parts.username
            or parts.password or parts.path not in ("", "/") or parts.query or parts.fragment):
        return None
    shown = f"[{host}]" if ":" in host else host
    return f"{parts.scheme}://{shown}:{port}"


def _prefix(value: object, fail: Fail) -> str:
    if value is _NOTHING:
        raise fail("prefix", None,
                   'is required: this pair\'s own key prefix in etcd, e.g. "/switchover/pair1"')
    if (not isinstance(value, str) or not value.startswith("/") or value.strip("/") == ""
            or any(ch.isspace() for ch in value) or _invisible(value) or "//" in value):
        raise fail("prefix", value,
                   'allowed a key path such as "/switchover/pair1": starting with /, '
                   "no spaces, no empty segment")
    return value.rstrip("/")
