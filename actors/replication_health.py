"""The replication services' health as the switchover core needs it: the warnings this
server reports to its peer and to status, and what a starting backup still waits for.
"""
from __future__ import annotations

import logging
from typing import Sequence

from switchover.replication.service import ReplicationService

log = logging.getLogger("SwitchoverMain")


def service_warnings(services: Sequence[ReplicationService]) -> list[str]:
    """The replication warnings this server reports to its peer and to status."""
    out: list[str] = []
    for service in services:
        try:
            out += service.warnings()
        except Exception:
            log.exception("SwitchoverMain: %s replication warnings failed", service.name)
    return out


def startup_progress(services: Sequence[ReplicationService]) -> str | None:
    """What a starting backup still waits for: its first DS compare-and-update ("in
    sync") and its InitialMirrorDir copy; None when both are done."""
    waiting: list[str] = []
    for service in services:
        try:
            health = service.health()
        except Exception:
            log.exception("SwitchoverMain: %s health failed", service.name)
            continue
        state = str(health.get("state", ""))
        if service.name == "ds" and state != "in sync" and \
                not state.startswith(("lagging", "not running: ")):
            progress = health.get("progress") or {}
            waiting.append(f"DS {state or 'starting'}" + (
                f" ({progress.get('compared', 0)} compared, "
                f"{progress.get('fetched', 0)} fetched)" if progress else ""))
        elif service.name == "files" and state.startswith("initial mirror"):
            waiting.append(state)
    return ", ".join(waiting) or None
