"""Maintenance mode: the pair's pause, kept on disk by both servers.

`switchover pause` (the equivalent of `patronictl pause` and Pacemaker's
maintenance-mode) makes the backup behave as with /ManualSwitchOnly until `switchover
resume`: it mirrors and can be switched by an operator, but never switches by itself, and
a graceful stop of the active does not hand over. Each server keeps the pause in its
data dir so that it survives a restart; a numbered version lets a server that was down
while the pause changed take the newer one from its peer's report.
"""
from __future__ import annotations

from pathlib import Path

from switchover.durable import read_json, write_json


class PauseStore:
    def __init__(self, path: Path) -> None:
        self._path = path
        data = read_json(path) or {}
        paused, version = data.get("paused", False), data.get("version", 0)
        if not isinstance(paused, bool) or not isinstance(version, int) or version < 0:
            raise ValueError(f"{path}: 'paused' must be true or false and 'version' a "
                             "non-negative integer")
        self.paused, self.version = paused, version

    def set(self, paused: bool, version: int | None = None) -> bool:
        """Take a pause state (a new one, or the peer's newer `version`); True if changed."""
        version = self.version + 1 if version is None else version
        if version <= self.version:
            return False
        write_json(self._path, {"paused": paused, "version": version})
        changed = paused != self.paused
        self.paused, self.version = paused, version
        return changed
