"""What travels together between an InteractionClient and the active: one call, the
batches several calls share, and how a batch's answer is split back per call. The limits
here are the server's (replication/interactions); both sides must agree on them.
"""
from __future__ import annotations

import hashlib
import logging
from concurrent.futures import Future
from dataclasses import dataclass, field
from typing import Any, Mapping

from .envelope import MAX_ENVELOPE_BYTES

log = logging.getLogger("InteractionClient")

SERVICE = "InteractionRecovery"
#: Several change calls in one message; the server answers them together, in order.
BATCH = "batch"
#: Messages in flight at most. While they are out, new calls wait and leave together in
#: the next message: an idle client sends each call at once, a busy one sends batches, so
#: the active parses and answers one envelope per batch rather than one per call.
MESSAGES_IN_FLIGHT = 4
#: A batch holds at most this many calls (the server's limit) and this many body bytes
#: (an envelope carries 64 KiB).
BATCH_CALLS = 128
BATCH_BYTES = 32 * 1024
#: The server also refuses a batch whose answer could outgrow an envelope: it counts each
#: call's key plus `ANSWER_BYTES` against `BATCH_ANSWER_BYTES` (its own limits).
BATCH_ANSWER_BYTES = 60_000
ANSWER_BYTES = 350
#: The calls a batch may carry (the server's change requests); anything else goes alone,
#: reads among them (their answers ride in bulk frames).
_BATCHABLE = ("create", "update_state", "assign", "requeue", "append_message", "close",
              "save_draft")
#: A call body above this many bytes can never travel (an envelope carries 64 KiB, its
#: header included): the call fails in the caller; large content goes as files.
MAX_CALL_BYTES = MAX_ENVELOPE_BYTES - 1024


@dataclass
class Call:
    rid: str
    eid: str
    body: dict[str, Any]
    bulk: tuple[bytes, ...]
    size: int = 0  # bytes of the JSON body
    result: Future = field(default_factory=Future)
    sent_gen: int = -1
    solo: bool = False  # a batch holding it was refused whole: it goes alone from now on

    @property
    def alone(self) -> bool:
        """Calls with files, reads and anything but a change travel in a message of their
        own."""
        return self.solo or bool(self.bulk) or self.eid not in _BATCHABLE


def attachment(name: str, data: bytes) -> tuple[dict[str, Any], bytes]:
    """An attachment's description for a request, and the bytes that travel beside it."""
    return {"name": name, "sha256": hashlib.sha256(data).hexdigest(), "size": len(data)}, data


def batch_answers(body: Mapping[str, Any], count: int) -> list[tuple[Any, dict[str, Any], tuple]]:
    """(status, body, bulk) per call of a batch's answer; a malformed answer counts as a
    failure of the server, so that every call in it is resent (their ids make that safe)."""
    results = body.get("results")
    if isinstance(results, list) and len(results) == count and all(
            isinstance(r, list) and len(r) == 2 and isinstance(r[1], (dict, type(None)))
            for r in results):
        return [(r[0], dict(r[1] or {}), ()) for r in results]
    log.warning("InteractionClient: malformed batch answer: %.200r", body)
    return [(None, {}, ())] * count
