"""WAL checkpoints on a thread of their own, so that no commit of the stream pays for one.

With SQLite's automatic checkpoint, the commit that takes the WAL past its threshold
copies the WAL into the database and syncs both before returning: on the active that
commit's applications wait for it, and on the backup every change queued behind it waits
too (the shadow lag's spikes). The store's connection therefore turns the automatic
checkpoint off, and this thread runs a PASSIVE checkpoint on its own connection a few
times a second, which copies what it can without blocking the writer (WAL mode lets a
checkpoint run beside a writer) and costs next to nothing when nothing was written. A crash at any moment is covered by the WAL itself, as it
is with the automatic checkpoint.
"""
from __future__ import annotations

import logging
import sqlite3
import threading

log = logging.getLogger("InteractionRecovery")

#: Seconds between checkpoints: at 10,000 changes/s the WAL then stays near 2,000 changes.
INTERVAL = 0.2


class Checkpointer:
    """Checkpoints `path`'s WAL from a daemon thread until `stop`."""

    def __init__(self, path: str, interval: float = INTERVAL) -> None:
        self._path = path
        self._interval = interval
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="checkpoint", daemon=True)
        self.checkpoints = 0

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        """Stops the thread and runs a last checkpoint, so a clean stop leaves a small WAL."""
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join()

    def _run(self) -> None:
        db = sqlite3.connect(self._path, isolation_level=None, check_same_thread=False)
        try:
            db.execute("PRAGMA busy_timeout=5000")
            while not self._stop.wait(self._interval):
                self._checkpoint(db)
            self._checkpoint(db)
        finally:
            db.close()

    def _checkpoint(self, db: sqlite3.Connection) -> None:
        try:
            db.execute("PRAGMA wal_checkpoint(PASSIVE)").fetchone()
            self.checkpoints += 1
        except sqlite3.Error as exc:  # a busy database: the next round tries again
            log.debug("InteractionRecovery: WAL checkpoint deferred: %s", exc)
