"""The server an InteractionClient last used, remembered in a small state file: the
reference's client-side caching, so that a restarted application goes to the active
first instead of waiting out a timeout on the backup.
"""
from __future__ import annotations

import json
import logging
from pathlib import Path

log = logging.getLogger("InteractionClient")


class LastServer:
    def __init__(self, path: str | Path | None, client: str) -> None:
        self._path = Path(path) if path else None
        self._client = client
        self._saved: str | None = None

    def load(self) -> str | None:
        """The remembered endpoint; None without a file or with an unreadable one."""
        if self._path is None or not self._path.exists():
            return None
        try:
            return json.loads(self._path.read_text()).get("last")
        except (OSError, ValueError):
            return None

    def save(self, endpoint: str) -> None:
        """Remember `endpoint` (written once per change, replaced whole)."""
        if self._path is None or self._saved == endpoint:
            return
        self._saved = endpoint
        try:
            tmp = self._path.with_suffix(".tmp")
            tmp.write_text(json.dumps({"last": endpoint}))
            tmp.replace(self._path)
        except OSError as exc:
            log.warning("%s: cannot remember the server in %s: %s", self._client,
                        self._path, exc)
