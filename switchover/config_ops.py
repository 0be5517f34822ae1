"""The operations tables of a host's config: `[log]` and `[metrics]`.

Apart from config.py because they concern how a host is watched, not how the pair
behaves; each refusal names the key and what is allowed, as config.py's do.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable, Mapping

from switchover.params import valid_address

LOG_KEYS = ("format", "destination", "level")
METRICS_KEYS = ("listen",)
LOG_FORMATS = ("text", "json")
#: auto: stderr with syslog priorities under systemd (JOURNAL_STREAM set), else the file.
LOG_DESTINATIONS = ("auto", "file", "stderr", "both")
LOG_LEVELS = ("DEBUG", "INFO", "NOTICE", "WARNING", "ERROR")
METRICS_DEFAULT_BIND = "127.0.0.1"

Fail = Callable[[str, str, object, str], Exception]


@dataclass(frozen=True)
class LogConfig:
    format: str = "text"
    destination: str = "auto"
    level: str = "INFO"


@dataclass(frozen=True)
class MetricsConfig:
    """Where the Prometheus endpoint listens; None: no endpoint (the default)."""

    address: str | None = None
    port: int | None = None


def _choice(table: Mapping[str, Any], key: str, allowed: tuple[str, ...], default: str,
            fail: Fail, upper: bool = False) -> str:
    value = table.get(key, default)
    text = value.upper() if upper and isinstance(value, str) else value
    if text not in allowed:
        raise fail("log", key, value, f"allowed {', '.join(allowed)}")
    return text


def parse_log(table: Mapping[str, Any], fail: Fail) -> LogConfig:
    return LogConfig(
        format=_choice(table, "format", LOG_FORMATS, "text", fail),
        destination=_choice(table, "destination", LOG_DESTINATIONS, "auto", fail),
        level=_choice(table, "level", LOG_LEVELS, "INFO", fail, upper=True),
    )


def parse_metrics(table: Mapping[str, Any], fail: Fail) -> MetricsConfig:
    """`listen = "PORT"`, `"ADDRESS:PORT"` or an integer port (bound to 127.0.0.1)."""
    if "listen" not in table:
        return MetricsConfig()
    value = table["listen"]
    text = str(value) if isinstance(value, int) and not isinstance(value, bool) else value
    if not isinstance(text, str):
        raise fail("metrics", "listen", value, 'allowed "PORT" or "ADDRESS:PORT"')
    address, _, port = text.rpartition(":")
    address = address.strip("[]") or METRICS_DEFAULT_BIND
    if not port.isdigit() or not 1 <= int(port) <= 65535 or not valid_address(address):
        raise fail("metrics", "listen", value,
                   'allowed "PORT" or "ADDRESS:PORT" with a TCP port 1..65535')
    return MetricsConfig(address, int(port))
