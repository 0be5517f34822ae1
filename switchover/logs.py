"""The two logs an operator reads: the switchover log and the event log.

The switchover log is human-readable, one line per message with the reference's topics
(NotifierLib, ModuleMonitor, PrimaryMonitor, SwitchoverStates, ...) as logger names. The
event log is JSON lines holding what "Why did a switchover occur?" tells operators to look
for: the reason, then "Switchover Service: Switch Initiated". Status messages are the last
few event-log entries kept in memory for `switchover status` (the Control Panel's
"Status Messages" window).
"""
from __future__ import annotations

import collections
import datetime as _dt
import logging
import sys
import threading
from pathlib import Path
from typing import Any

import orjson

from switchover.private import private_file

LINE_FORMAT = "%(asctime)s.%(msecs)03d %(levelname)-7s %(name)-16s %(message)s"
DATE_FORMAT = "%H:%M:%S"


def configure_logging(log_file: Path | None, level: str = "INFO", server: str = "") -> None:
    """Send every topic to stderr and, when given, to the host's log file."""
    root = logging.getLogger()
    for handler in list(root.handlers):
        root.removeHandler(handler)
        handler.close()
    prefix = f"[{server}] " if server else ""
    formatter = logging.Formatter(prefix + LINE_FORMAT, DATE_FORMAT)
    stream = logging.StreamHandler(sys.stderr)
    stream.setFormatter(formatter)
    root.addHandler(stream)
    if log_file is not None:
        log_file.parent.mkdir(parents=True, exist_ok=True)
        private_file(log_file)
        file_handler = logging.FileHandler(log_file, encoding="utf-8")
        file_handler.setFormatter(logging.Formatter(LINE_FORMAT, DATE_FORMAT))
        root.addHandler(file_handler)
    root.setLevel(level)


class EventLog:
    """Append-only JSON-lines event log plus the recent status messages.

    Thread-safe: actors on different threads record into it. Each entry is flushed at once
    so that an entry written just before a SIGKILL is still there for the post-mortem.
    """

    def __init__(self, path: Path | None, server: str, keep: int = 50) -> None:
        self._path = path
        self._server = server
        self._lock = threading.Lock()
        self._recent: collections.deque[dict[str, Any]] = collections.deque(maxlen=keep)
        self._file = None
        if path is not None:
            path.parent.mkdir(parents=True, exist_ok=True)
            self._file = open(private_file(path), "ab")
        self._log = logging.getLogger("EventLog")

    def record(self, level: str, message: str, **fields: Any) -> dict[str, Any]:
        entry = {
            "time": _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="milliseconds"),
            "server": self._server,
            "level": level,
            "message": message,
            **fields,
        }
        getattr(self._log, "warning" if level == "warning" else level, self._log.info)(message)
        with self._lock:
            self._recent.append(entry)
            if self._file is not None:
                self._file.write(orjson.dumps(entry) + b"\n")
                self._file.flush()
        return entry

    def recent(self) -> list[dict[str, Any]]:
        with self._lock:
            return list(self._recent)

    def close(self) -> None:
        with self._lock:
            if self._file is not None:
                self._file.close()
                self._file = None


def read_events(path: Path) -> list[dict[str, Any]]:
    """Parse an event log; a torn last line (killed mid-write) is skipped, not fatal."""
    entries = []
    if not path.exists():
        return entries
    for line in path.read_bytes().splitlines():
        try:
            entries.append(orjson.loads(line))
        except orjson.JSONDecodeError:
            continue
    return entries
