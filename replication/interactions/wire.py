"""What crosses the network for interaction recovery: application requests, change
batches, snapshot chunks. Pure, no sockets.

Applications speak plain JSON dicts (transport/interaction_client.py imports nothing of
ours), so the mapping from a request to an `Op` lives here, on the server side, where the
defaults (creation time, queue kinds) are filled in once. Changes and snapshots carry many
items per message: each item is a list of frames (JSON first, file bytes after), packed
into one bulk frame with length prefixes, because an envelope carries at most 16 bulk
frames and a burst of 10,000 changes must not cost 10,000 messages.
"""
from __future__ import annotations

import hashlib
import struct
import threading
import time
from typing import Any, Callable, Iterable, Iterator, Mapping

import orjson

from .model import (
    AppendMessage,
    Assign,
    Close,
    Create,
    Interaction,
    InteractionType,
    InvalidOperation,
    Op,
    QueueKind,
    Requeue,
    SaveDraft,
    State,
    UpdateState,
    dumps,
    interaction_from_dict,
    line_from_dict,
)

#: The Notifier service applications and the backup address on each host.
SERVICE = "InteractionRecovery"
#: The active's event carrying a batch of numbered changes to the backup.
CHANGE_EID = "Interaction Change"
#: Application requests that change an interaction (each carries a client request id).
CHANGES = ("create", "update_state", "assign", "requeue", "append_message", "close",
           "save_draft")
#: Application requests that only read.
READS = ("get", "list", "stats")
#: Several change requests in one message (see `calls_of`).
BATCH = "batch"
#: At most this many calls in one batch, so that its answer fits in one envelope.
BATCH_CALLS = 128
#: A refusal's reason is cut to this many characters inside a batch's answer.
BATCH_REASON = 200
#: What a batch's answer may hold: an envelope carries 64 KiB, its header included.
BATCH_ANSWER_BYTES = 60_000
#: The bytes one call's answer takes at most besides its key (the reason cut above, the
#: type, the numbers and the JSON around them).
_ANSWER_BYTES = BATCH_REASON + 150
#: Requests between the hosts.
SNAPSHOT_OPEN, SNAPSHOT_NEXT, SHADOW_ACK = "Snapshot Open", "Snapshot Next", "Shadow Ack"

#: Packed items stop growing past this many bytes (one bulk frame, well under 8 MiB).
CHUNK_BYTES = 1 << 20

_LEN = struct.Struct("<I")


def pack(items: Iterable[list[bytes]]) -> bytes:
    """Items (each a list of frames) as one buffer: count, then length-prefixed frames."""
    out = bytearray()
    for frames in items:
        out += _LEN.pack(len(frames))
        for frame in frames:
            out += _LEN.pack(len(frame))
            out += frame
    return bytes(out)


def unpack(data: bytes) -> Iterator[list[bytes]]:
    """The items `pack` wrote; ValueError on a truncated buffer."""
    view = memoryview(data)
    pos, end = 0, len(data)
    while pos < end:
        if pos + 4 > end:
            raise ValueError("packed items: truncated count")
        (count,) = _LEN.unpack_from(view, pos)
        pos += 4
        frames = []
        for _ in range(count):
            if pos + 4 > end:
                raise ValueError("packed items: truncated length")
            (size,) = _LEN.unpack_from(view, pos)
            pos += 4
            if pos + size > end:
                raise ValueError("packed items: truncated frame")
            frames.append(bytes(view[pos:pos + size]))
            pos += size
        yield frames


def chunked(items: Iterable[list[bytes]], limit: int = CHUNK_BYTES) -> Iterator[bytes]:
    """`pack`ed buffers of about `limit` bytes each (an item is never split)."""
    batch: list[list[bytes]] = []
    size = 0
    for frames in items:
        batch.append(frames)
        size += sum(len(f) + 4 for f in frames) + 4
        if size >= limit:
            yield pack(batch)
            batch, size = [], 0
    if batch:
        yield pack(batch)


# --- changes: active -> backup --------------------------------------------------------


def change_item(op: Op, rid: str | None, blobs: Mapping[str, bytes], prev: int = 0) -> list[bytes]:
    """One numbered change: its header (request id, file names, the number of the change
    sent before it on its stream), the op, the file bytes.

    `prev` is what lets the backup see a change lost on the way: numbers may skip (the
    mail filter does not send every email's changes), so the number alone cannot.
    """
    shas = list(blobs)
    return [orjson.dumps({"rid": rid, "blobs": shas, "prev": prev}), dumps(op),
            *(blobs[s] for s in shas)]


def change_of(frames: list[bytes]) -> tuple[Op, str | None, dict[str, bytes], int]:
    """(op, request id, file bytes by SHA-256, previous number) of one change;
    InvalidOperation if bad. A change from an active that sends no previous number says 0:
    it follows whatever came before."""
    from .model import op_loads

    try:
        head = orjson.loads(frames[0])
        shas = list(head["blobs"])
        if len(frames) != 2 + len(shas):
            raise InvalidOperation("change: file frames do not match their names")
        return (op_loads(frames[1]), head.get("rid"), dict(zip(shas, frames[2:])),
                int(head.get("prev") or 0))
    except (KeyError, TypeError, ValueError, IndexError) as exc:
        if isinstance(exc, InvalidOperation):
            raise
        raise InvalidOperation(f"malformed change: {exc!r}") from exc


# --- batches of application requests ---------------------------------------------------


def calls_of(body: Mapping[str, Any]) -> list[tuple[str, Mapping[str, Any]]]:
    """The (eid, body) pairs of a batch: `{"calls": [[eid, body], ...]}`.

    A client under load sends the calls waiting in its queue as one message, so that the
    active parses, routes and answers one envelope rather than one per call. Only
    changes go in a batch (reads and calls with files go alone), and only as many as
    their answer can be sent back in one envelope; ValueError otherwise, before anything
    is applied.
    """
    calls = body.get("calls")
    if not isinstance(calls, list) or not calls:
        raise ValueError("batch: 'calls' must be a non-empty list of [eid, body] pairs")
    if len(calls) > BATCH_CALLS:
        raise ValueError(f"batch: {len(calls)} calls (at most {BATCH_CALLS})")
    out = []
    answer = 0
    for n, call in enumerate(calls):
        if not (isinstance(call, list) and len(call) == 2 and call[0] in CHANGES
                and isinstance(call[1], dict)):
            raise ValueError(f"batch: call {n} is not [eid, body] with eid one of "
                             f"{', '.join(CHANGES)}")
        out.append((call[0], call[1]))
        answer += len(str(call[1].get("key", ""))) + _ANSWER_BYTES
    if answer > BATCH_ANSWER_BYTES:  # refused before anything is applied
        raise ValueError(f"batch: its answer could exceed {BATCH_ANSWER_BYTES} bytes; "
                         "send fewer calls or shorter keys")
    return out


class Gather:
    """The replies of a batch's calls, answered together once the last one is in.

    Each call is acknowledged on its own terms (after the backup's confirmation, or
    refused), in any order; the batch's answer lists them in the calls' order.
    """

    def __init__(self, count: int, reply: Callable[..., None]) -> None:
        self._results: list[Any] = [None] * count
        self._left = count
        self._reply = reply
        self._lock = threading.Lock()

    def part(self, index: int) -> Callable[..., None]:
        """The reply callable of call `index`."""
        def reply(status: str = "ok", body: Mapping[str, Any] | None = None, *_: Any) -> None:
            if status != "ok" and body and len(str(body.get("reason", ""))) > BATCH_REASON:
                body = {**body, "reason": str(body["reason"])[:BATCH_REASON] + "..."}
            with self._lock:
                if self._results[index] is not None:
                    return
                self._results[index] = [status, body]
                self._left -= 1
                done = self._left == 0
            if done:
                self._reply("ok", {"results": self._results})
        return reply


# --- application requests -> operations ------------------------------------------------


def blobs_of(bulk: Iterable[bytes]) -> dict[str, bytes]:
    """File bytes sent with a request, named by their SHA-256 as the JSON names them."""
    return {hashlib.sha256(b).hexdigest(): bytes(b) for b in bulk}


def _email(d: Mapping[str, Any]) -> dict[str, Any]:
    return {"subject": d.get("subject", ""), "body_html": d.get("body_html", ""),
            "body_text": d.get("body_text", ""), "attachments": list(d.get("attachments", ())),
            "draft": _draft(d["draft"]) if d.get("draft") else None}


def _draft(d: Mapping[str, Any]) -> dict[str, Any]:
    return {"body_html": d.get("body_html", ""), "body_text": d.get("body_text", ""),
            "attachments": list(d.get("attachments", ()))}


def _line(d: Mapping[str, Any], now: float) -> dict[str, Any]:
    return {"line_id": d["line_id"], "author": d.get("author", ""), "text": d.get("text", ""),
            "kind": d.get("kind", "text"), "timestamp": d.get("timestamp", now),
            "file": d.get("file")}


def interaction_of(d: Mapping[str, Any], now: float) -> Interaction:
    """A new interaction from an application's dict, with the defaults filled in.

    `created_at` is the application's when given (an interaction that entered elsewhere
    first), else now; it is never changed afterwards.
    """
    kind = QueueKind(d.get("queue_kind", "workgroup"))
    queue = d["queue"]
    created = float(d.get("created_at", now))
    user = kind is QueueKind.USER
    doc = {
        "key": d["key"], "type": d["type"], "state": d.get("state", "queued"),
        "queue_kind": kind.value, "queue": queue, "created_at": created,
        "queued_at": float(d.get("queued_at", created)),
        "agent": queue if user else None,
        "workgroup": d.get("workgroup", None if user else queue),
        "assigned_once": user,
        "email": _email(d.get("email") or {}) if d["type"] == "email" else None,
        "callback": ({"number": d.get("callback", {}).get("number", ""),
                      "requested_at": d.get("callback", {}).get("requested_at", now),
                      "notes": d.get("callback", {}).get("notes", "")}
                     if d["type"] == "callback" else None),
        "transcript": [_line(x, now) for x in d.get("transcript", ())],
    }
    return interaction_from_dict(doc)


def op_of(eid: str, body: Mapping[str, Any], type_of: Callable[[str], InteractionType | None],
          now: float | None = None) -> Op:
    """The operation an application request asks for; InvalidOperation if it cannot be."""
    now = time.time() if now is None else now
    try:
        if eid == "create":
            interaction = interaction_of(body["interaction"], now)
            return Create.of(interaction, at=now)
        key = body["key"]
        if not isinstance(key, str):
            raise InvalidOperation(f"key must be a string, not {key!r}")
        t = type_of(key)
        if t is None:
            raise InvalidOperation(f"{key}: no such interaction")
        common = {"type": t, "key": key, "at": now}
        if eid == "update_state":
            return UpdateState(**common, state=State(body["state"]))
        if eid == "assign":
            return Assign(**common, agent=body["agent"],
                          state=State(body.get("state", "offering")))
        if eid == "requeue":
            return Requeue(**common, queue_kind=QueueKind(body["queue_kind"]),
                           queue=body["queue"], state=State(body.get("state", "queued")))
        if eid == "append_message":
            return AppendMessage(**common, line=line_from_dict(_line(body["line"], now)))
        if eid == "save_draft":
            from .model import _draft as draft_of  # the model's own reader

            return SaveDraft(**common, draft=draft_of(_draft(body["draft"])))
        if eid == "close":
            return Close(**common)
    except InvalidOperation:
        raise
    except (KeyError, TypeError, ValueError) as exc:
        raise InvalidOperation(f"{eid}: malformed request: {exc!r}") from exc
    raise InvalidOperation(f"unknown request {eid!r}")


def as_dict(interaction: Interaction) -> dict[str, Any]:
    """An interaction as plain JSON data for applications and operators."""
    return orjson.loads(orjson.dumps(interaction))


def summary(interaction: Interaction) -> dict[str, Any]:
    """One line of `list`: everything but the content."""
    i = interaction
    return {"key": i.key, "type": i.type.value, "state": i.state.value,
            "queue_kind": i.queue_kind.value, "queue": i.queue, "agent": i.agent,
            "created_at": i.created_at, "seqno": i.seqno, "lines": len(i.transcript)}
