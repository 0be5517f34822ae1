"""Committed mirror files made durable in the background (one syncfs, not one fsync each)."""
from __future__ import annotations

import logging
import threading
from typing import Callable

log = logging.getLogger("FileMonitor")

#: Committed files are made durable (syncfs) at most this often, in reference seconds.
FLUSH_EVERY = 1.0


class Flusher:
    """Makes committed files durable in the background, at most once per `interval`.

    Commits rename atomically without an fsync (a crash of the process never shows a
    partial file); a syncfs soon afterwards covers power loss. Doing it here instead of
    per file keeps the next change from waiting behind the disk (an fsync waits for
    whatever else is being written back).
    """

    def __init__(self, sync: Callable[[], None], interval: float) -> None:
        self._sync, self._interval = sync, interval
        self._wanted = threading.Event()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="FileMonitor-flush",
                                        daemon=True)
        self._thread.start()

    def request(self) -> None:
        self._wanted.set()

    def stop(self) -> None:
        """Ask for a last flush and return soon: a switch must not wait for the disk."""
        self._stop.set()
        self._wanted.set()
        self._thread.join(timeout=0.2)

    def _run(self) -> None:
        while not self._stop.is_set():
            self._wanted.wait()
            self._wanted.clear()
            try:
                self._sync()
            except OSError:
                log.exception("FileMonitor: syncfs failed")
            self._stop.wait(self._interval)
        self._sync()
