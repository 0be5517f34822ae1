"""The outcome of one request, as the reference's primary monitor distinguishes them.

"Non-Successful Ping Responses": a ping either succeeds or times out, is rejected, is lost
with its connection, or is cancelled because the sender is stopping. Monitors decide on
`status` alone; `response` and `bulk` carry the answer when there is one.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

OK = "ok"
TIMEOUT = "timeout"
REJECTED = "rejected"
CONNECTION_LOST = "connection-lost"
CANCELLED = "cancelled"
STATUSES = (OK, TIMEOUT, REJECTED, CONNECTION_LOST, CANCELLED)


@dataclass(frozen=True)
class Outcome:
    status: str
    response: Any = None  # transport.envelope.Envelope when status is "ok" or "rejected"
    bulk: tuple[bytes, ...] = field(default=())
    detail: str = ""

    @property
    def ok(self) -> bool:
        return self.status == OK
