"""Where a host's sockets and files are, for the host and for the CLI alike.

Kept out of `actors.host` so that an operator command is a small client: it needs these
names, not pykka and the replication services the host process loads.
"""
from __future__ import annotations

from pathlib import Path


def tcp(address: str, port: int) -> str:
    """A ZeroMQ TCP endpoint."""
    return f"tcp://{address}:{port}"


def operator_key_path(data_dir: Path) -> Path:
    """Where the host leaves the local operator's key for the CLI (0600)."""
    return data_dir / "operator.key_secret"


def notifier_ipc(data_dir: Path) -> str:
    """The host's local Notifier endpoint that modules on the same machine attach to."""
    return f"ipc://{data_dir / 'notifier.ipc'}"
