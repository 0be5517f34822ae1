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
import os
import sys
import threading
from pathlib import Path
from typing import Any, Callable, Mapping

import orjson

from switchover.private import private_file

LINE_FORMAT = "%(asctime)s.%(msecs)03d %(levelname)-7s %(name)-16s %(message)s"
DATE_FORMAT = "%Y-%m-%d %H:%M:%S"
#: Under systemd journald stamps each line itself: priority and message only.
JOURNAL_FORMAT = "%(name)s %(message)s"
#: Between INFO and WARNING: what an operator did on purpose (a manual switch).
NOTICE = 25
logging.addLevelName(NOTICE, "NOTICE")
#: syslog priorities (sd-daemon(3) `<N>` prefixes) by logging level.
_PRIORITIES = ((logging.CRITICAL, 2), (logging.ERROR, 3), (logging.WARNING, 4),
               (NOTICE, 5), (logging.INFO, 6))
#: The switch reason an operator's own request gives (the reference's "Manual Switchover").
MANUAL_REASON = "Manual Switchover"


def priority(levelno: int) -> int:
    """The syslog priority of a logging level (debug 7)."""
    return next((p for level, p in _PRIORITIES if levelno >= level), 7)


class JournalFormatter(logging.Formatter):
    """`<N>topic message`: journald takes N as the priority, so `journalctl -p warning`
    shows only what needs attention."""

    def format(self, record: logging.LogRecord) -> str:
        text = super().format(record)
        return "\n".join(f"<{priority(record.levelno)}>{line}" for line in text.splitlines())


class JsonFormatter(logging.Formatter):
    """One JSON object a line, for a log shipper (`[log] format = "json"`)."""

    def __init__(self, server: str) -> None:
        super().__init__()
        self.server = server

    def format(self, record: logging.LogRecord) -> str:
        entry = {"time": _dt.datetime.fromtimestamp(record.created, _dt.timezone.utc)
                 .isoformat(timespec="milliseconds"),
                 "server": self.server, "level": record.levelname.lower(),
                 "topic": record.name, "message": record.getMessage()}
        if record.exc_info:
            entry["exception"] = self.formatException(record.exc_info)
        return orjson.dumps(entry).decode()


def destinations(destination: str, log_file: Path | None,
                 env: Mapping[str, str]) -> tuple[bool, bool]:
    """(to the file, to stderr): one of them unless `both` is asked for.

    `auto` means stderr under systemd (JOURNAL_STREAM is set: journald keeps the log,
    a file as well would store every line twice), else the file.
    """
    if log_file is None:
        return False, True
    if destination == "auto":
        destination = "stderr" if env.get("JOURNAL_STREAM") else "file"
    return destination in ("file", "both"), destination in ("stderr", "both")


def configure_logging(log_file: Path | None, level: str = "INFO", server: str = "",
                      settings: Any = None, env: Mapping[str, str] | None = None) -> None:
    """Send every topic to one destination: the host's log file, or stderr (see
    `destinations`); `settings` is the config's `[log]` (format, destination, level)."""
    fmt = getattr(settings, "format", "text")
    level = getattr(settings, "level", level)
    env = os.environ if env is None else env
    to_file, to_stderr = destinations(getattr(settings, "destination", "auto"), log_file, env)
    root = logging.getLogger()
    for handler in list(root.handlers):
        root.removeHandler(handler)
        handler.close()
    prefix = f"[{server}] " if server else ""
    if to_stderr:
        stream = logging.StreamHandler(sys.stderr)
        if fmt == "json":
            stream.setFormatter(JsonFormatter(server))
        elif env.get("JOURNAL_STREAM"):
            stream.setFormatter(JournalFormatter(prefix + JOURNAL_FORMAT))
        else:
            stream.setFormatter(logging.Formatter(prefix + LINE_FORMAT, DATE_FORMAT))
        root.addHandler(stream)
    if to_file and log_file is not None:
        log_file.parent.mkdir(parents=True, exist_ok=True)
        private_file(log_file)
        file_handler = logging.FileHandler(log_file, encoding="utf-8")
        file_handler.setFormatter(JsonFormatter(server) if fmt == "json"
                                  else logging.Formatter(LINE_FORMAT, DATE_FORMAT))
        root.addHandler(file_handler)
    root.setLevel(level)


def reopen() -> None:
    """Reopen the log file (after logrotate moved it); the host calls this on SIGHUP.

    The next line opens the file by its name again, so nothing logged meanwhile is lost.
    """
    for handler in logging.getLogger().handlers:
        if isinstance(handler, logging.FileHandler):
            handler.acquire()
            try:
                if handler.stream is not None:
                    handler.stream.close()
                    handler.stream = None  # FileHandler.emit opens it again
                private_file(handler.baseFilename)  # a new file is private too
            finally:
                handler.release()


#: What `switchover events --kind` selects on.
KINDS = ("switch", "hook", "param", "operator", "replication", "state")
_LEVELS = {"debug": logging.DEBUG, "info": logging.INFO, "notice": NOTICE,
           "warning": logging.WARNING, "error": logging.ERROR, "critical": logging.CRITICAL}


def kind_of(message: str, fields: Mapping[str, Any]) -> str:
    """The kind of an event-log entry: its own `kind`, else read from its message."""
    kind = fields.get("kind")
    if isinstance(kind, str) and kind:
        return kind
    if "reason" in fields or message.startswith(("Switchover Service:", "Manual switchover")):
        return "switch"
    if message.startswith(("File replication", "File Monitor", "DS", "Interaction")):
        return "replication"
    if "hook" in message.split(":", 1)[0]:
        return "hook"
    return "state"


class EventLog:
    """Append-only JSON-lines event log plus the recent status messages.

    Thread-safe: actors on different threads record into it. Each entry is flushed at once
    so that an entry written just before a SIGKILL is still there for the post-mortem.
    Every entry carries a `kind` (KINDS). A manual switch (reason "Manual Switchover") is a notice, not an
    error: an operator asked for it.
    """

    def __init__(self, path: Path | None, server: str, keep: int = 50) -> None:
        self._path = path
        self._server = server
        self._lock = threading.Lock()
        self._recent: collections.deque[dict[str, Any]] = collections.deque(maxlen=keep)
        self._file = None
        self._listeners: list[Callable[[Mapping[str, Any]], Any]] = []
        if path is not None:
            path.parent.mkdir(parents=True, exist_ok=True)
            self._file = open(private_file(path), "ab")
        self._log = logging.getLogger("EventLog")

    @property
    def path(self) -> Path | None:
        return self._path

    def record(self, level: str, message: str, **fields: Any) -> dict[str, Any]:
        """Log `message` and append it to the event log."""
        if fields.get("reason") == MANUAL_REASON and level == "error":
            level = "notice"
        self._log.log(_LEVELS.get(level, logging.INFO), message)
        return self.append(level, message, **fields)

    def append(self, level: str, message: str, **fields: Any) -> dict[str, Any]:
        """Append to the event log only (the line is logged already)."""
        entry = {
            "time": _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="milliseconds"),
            "server": self._server,
            "level": level,
            "kind": kind_of(message, fields),
            "message": message,
            **{k: v for k, v in fields.items() if k != "kind"},
        }
        with self._lock:
            self._recent.append(entry)
            if self._file is not None:
                self._file.write(orjson.dumps(entry) + b"\n")
                self._file.flush()
            listeners = list(self._listeners)
        for listener in listeners:
            try:
                listener(entry)
            except Exception:
                logging.getLogger("EventLog").exception("event listener %r failed", listener)
        return entry

    def subscribe(self, listener: Callable[[Mapping[str, Any]], Any]) -> None:
        """Call `listener(entry)` after each new entry (the metrics count switches so)."""
        with self._lock:
            self._listeners.append(listener)

    def recent(self) -> list[dict[str, Any]]:
        with self._lock:
            return list(self._recent)

    def reopen(self) -> None:
        """Reopen the file by its name (after a rotation); for SIGHUP, beside `reopen()`."""
        with self._lock:
            if self._file is not None and self._path is not None:
                self._file.close()
                self._file = open(private_file(self._path), "ab")

    def close(self) -> None:
        with self._lock:
            if self._file is not None:
                self._file.close()
                self._file = None


def read_events(path: Path, tail_bytes: int | None = None) -> list[dict[str, Any]]:
    """Parse an event log, or only its last `tail_bytes`; a torn line (killed mid-write,
    or cut by the tail) is skipped, not fatal."""
    entries: list[dict[str, Any]] = []
    if not path.exists():
        return entries
    with open(path, "rb") as handle:
        if tail_bytes is not None:
            handle.seek(max(0, path.stat().st_size - tail_bytes))
        data = handle.read()
    for line in data.splitlines():
        try:
            entries.append(orjson.loads(line))
        except orjson.JSONDecodeError:
            continue
    return entries
