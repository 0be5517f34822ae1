"""What `status` shows of interaction recovery, readable from any thread without the actor.

The actor may be busy for seconds loading a snapshot; `switchover status` must still
answer at once, so the actor publishes its figures here and the host reads them.
"""
from __future__ import annotations

import logging
import threading
from typing import Any, Mapping

from .recovery import EnabledTypes, RecoveryParamError, mail_filter_from_params

log = logging.getLogger("InteractionRecovery")

#: Changes received but not applied beyond which the backup reports itself lagging.
LAGGING_AT = 500


def read_settings(params: Mapping[str, Any],
                  fallback: tuple[EnabledTypes, bool]) -> tuple[EnabledTypes, bool]:
    """(enabled types, mail filter) from the parameters; a bad value keeps `fallback`."""
    try:
        return EnabledTypes.from_params(_raw(params)), mail_filter_from_params(_raw(params))
    except RecoveryParamError as exc:
        log.error("InteractionRecovery: %s; keeping the previous settings", exc)
        return fallback


def _raw(params: Mapping[str, Any]) -> Mapping[str, Any]:
    """ServerParameters iterate over the whole catalogue; a plain mapping is used as is."""
    return params


class Status:
    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._values: dict[str, Any] = {"role": "none", "types": [], "shadows": 0,
                                        "held": 0, "received": 0, "processed": 0}

    def update(self, **values: Any) -> None:
        with self._lock:
            self._values.update(values)

    def add_received(self, n: int) -> None:
        with self._lock:
            self._values["received"] += n

    def get(self, name: str, default: Any = None) -> Any:
        with self._lock:
            return self._values.get(name, default)

    def health(self) -> dict[str, Any]:
        with self._lock:
            v = dict(self._values)
        role, types = v["role"], v["types"]
        out: dict[str, Any] = {"types": types, "shadows": v["shadows"]}
        if v.get("mail_filter"):
            out["mail_filter"] = True
        fetch = v.get("sync")
        pending = max(0, v["received"] - v["processed"]) + v["held"]
        if role == "active":
            out["state"] = ("serving (backup confirms every change)" if v.get("backup_ok")
                            else "serving (no backup confirming changes)")
            out["live"] = out.pop("shadows")
            if v.get("promoted") is not None:
                out["promoted"] = v["promoted"]
                out["promotion_seconds"] = v.get("promotion_seconds")
        elif not types:
            out["state"] = "off (no type enabled)"
        elif fetch is not None:
            out["state"] = f"syncing {fetch.received}/{fetch.total}"
        elif role != "backup":
            out["state"] = f"idle ({role})"
        elif pending >= LAGGING_AT:
            out["state"] = f"lagging by {pending}"
        elif v["held"]:
            out["state"] = "syncing (waiting for the active)"
        else:
            out["state"] = "in sync"
        if v.get("lag_ms"):
            out["lag_ms"] = v["lag_ms"]
        return out

    def warnings(self) -> list[str]:
        h = self.health()
        state = h["state"]
        if state.startswith("syncing"):
            return [f"interaction recovery is {state}: a switchover now keeps only the "
                    "shadows loaded before this synchronisation"]
        if state.startswith("lagging"):
            return [f"interaction recovery is {state} changes: a switchover now loses them"]
        return []
