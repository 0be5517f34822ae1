"""Interactions and the operations that change them, pure.

The backup keeps a shadow of every live interaction of an enabled type ("Recovery of ACD
email, chat, and callback interactions during switchover"). A shadow is built only from
what the active tells it, so the shape of an interaction and of every change to it lives
here, with no storage and no I/O: the store, the replication stream and the tests all
agree on one `apply(interaction, op)`.

Interactions keep what the reference says a switchover loses (HTML bodies, attachments,
chat files and status lines, the original creation time), so everything an agent or a
customer saw is here; attachment bytes travel and are stored apart from the JSON, named
by their SHA-256.
"""
from __future__ import annotations

import hashlib
from dataclasses import dataclass, replace
from enum import StrEnum
from typing import Any

import orjson


class InteractionType(StrEnum):
    """One per "... Interaction Recovery Enabled" server parameter."""

    EMAIL = "email"
    CHAT = "chat"
    CALLBACK = "callback"
    SMS = "sms"
    SOCIAL_CONVERSATION = "socialconversation"
    DIRECT_MESSAGE = "directmessage"


#: Types whose content is a transcript of lines exchanged with the customer.
TRANSCRIPT_TYPES = frozenset(
    {
        InteractionType.CHAT,
        InteractionType.SMS,
        InteractionType.SOCIAL_CONVERSATION,
        InteractionType.DIRECT_MESSAGE,
    }
)


class State(StrEnum):
    OFFERING = "offering"
    QUEUED = "queued"
    CONNECTED = "connected"
    HELD = "held"
    DISCONNECTED = "disconnected-awaiting-deallocation"
    CLOSED = "closed"


class QueueKind(StrEnum):
    USER = "user"  # an agent's own queue
    WORKGROUP = "workgroup"  # an ACD queue that routes to agents


class LineKind(StrEnum):
    TEXT = "text"
    STATUS = "status"  # generated ("agent joined"): the reference loses these, we keep them
    FILE = "file"  # a file sent during the session: kept, bytes in the blob store


class InvalidOperation(ValueError):
    """An operation that cannot apply to this interaction (wrong type, closed, absent)."""


@dataclass(frozen=True, slots=True)
class Attachment:
    """A file named by content, so both hosts store and verify the same bytes once."""

    name: str
    sha256: str
    size: int

    @classmethod
    def of(cls, name: str, data: bytes) -> Attachment:
        return cls(name=name, sha256=hashlib.sha256(data).hexdigest(), size=len(data))


@dataclass(frozen=True, slots=True)
class EmailDraft:
    """The agent's reply in progress: the reference loses its attachments, we keep them."""

    body_html: str = ""
    body_text: str = ""
    attachments: tuple[Attachment, ...] = ()


@dataclass(frozen=True, slots=True)
class EmailContent:
    subject: str
    body_html: str = ""
    body_text: str = ""
    attachments: tuple[Attachment, ...] = ()
    draft: EmailDraft | None = None


@dataclass(frozen=True, slots=True)
class CallbackDetails:
    number: str
    requested_at: float  # when the customer asked to be called, epoch seconds
    notes: str = ""


@dataclass(frozen=True, slots=True)
class TranscriptLine:
    """One line of a chat, SMS or social session; `line_id` is the sender's message id."""

    line_id: str
    author: str
    text: str
    kind: LineKind = LineKind.TEXT
    timestamp: float = 0.0
    file: Attachment | None = None


@dataclass(frozen=True, slots=True)
class Interaction:
    """A live interaction as both hosts see it.

    `created_at` is set once, on the host that first saw the interaction, and copied to
    every shadow, so its duration survives any number of switchovers. `seqno` counts the
    switchovers that recovered it (the reference's database seqno). `assigned_once`
    records that it has been on an agent's queue, which keeps a filtered email shadowed.
    `workgroup` is the last workgroup queue it waited in, where promotion sends it back.
    """

    key: str
    type: InteractionType
    state: State
    queue_kind: QueueKind
    queue: str
    created_at: float
    queued_at: float
    agent: str | None = None
    workgroup: str | None = None
    seqno: int = 0
    assigned_once: bool = False
    email: EmailContent | None = None
    callback: CallbackDetails | None = None
    transcript: tuple[TranscriptLine, ...] = ()

    def __post_init__(self) -> None:
        if not self.key:
            raise InvalidOperation("an interaction needs an InteractionIdKey")
        if (self.email is not None) != (self.type is InteractionType.EMAIL):
            raise InvalidOperation(f"{self.key}: email content belongs to email interactions")
        if (self.callback is not None) != (self.type is InteractionType.CALLBACK):
            raise InvalidOperation(f"{self.key}: callback details belong to callbacks")
        if self.transcript and self.type not in TRANSCRIPT_TYPES:
            raise InvalidOperation(f"{self.key}: a {self.type} has no transcript")

    def attachments(self) -> tuple[Attachment, ...]:
        """Every blob this interaction refers to (email, draft and transcript files)."""
        found: list[Attachment] = []
        if self.email is not None:
            found.extend(self.email.attachments)
            if self.email.draft is not None:
                found.extend(self.email.draft.attachments)
        found.extend(line.file for line in self.transcript if line.file is not None)
        return tuple(found)


# --- operations -----------------------------------------------------------------------


@dataclass(frozen=True, kw_only=True, slots=True)
class Op:
    """One change, numbered in its type's stream (`seq`), made at `at` (epoch seconds).

    Sequence numbers let the backup drop what it already has when a stream overlaps a
    snapshot (the Clone pattern); ids (`key`, a line's `line_id`) make replays harmless.
    """

    type: InteractionType
    key: str
    seq: int = 0
    at: float = 0.0


@dataclass(frozen=True, kw_only=True, slots=True)
class Create(Op):
    """A new interaction, or the first shadow of one that just became shadowable."""

    interaction: Interaction

    def __post_init__(self) -> None:
        if (self.interaction.key, self.interaction.type) != (self.key, self.type):
            raise InvalidOperation(f"{self.key}: Create names a different interaction")

    @classmethod
    def of(cls, interaction: Interaction, seq: int = 0, at: float | None = None) -> Create:
        when = interaction.created_at if at is None else at
        return cls(type=interaction.type, key=interaction.key, seq=seq, at=when,
                   interaction=interaction)


@dataclass(frozen=True, kw_only=True, slots=True)
class UpdateState(Op):
    state: State


@dataclass(frozen=True, kw_only=True, slots=True)
class Assign(Op):
    """ACD (or a transfer) puts the interaction on `agent`'s user queue."""

    agent: str
    state: State = State.OFFERING


@dataclass(frozen=True, kw_only=True, slots=True)
class Requeue(Op):
    """Moves the interaction to another queue (a transfer to a workgroup, or to a user)."""

    queue_kind: QueueKind
    queue: str
    state: State = State.QUEUED


@dataclass(frozen=True, kw_only=True, slots=True)
class AppendMessage(Op):
    """A transcript line; `line.line_id` is the client's message id (exactly once)."""

    line: TranscriptLine

    @property
    def message_id(self) -> str:
        return self.line.line_id


@dataclass(frozen=True, kw_only=True, slots=True)
class SaveDraft(Op):
    """The agent saved the reply to an email (HTML and attachments included)."""

    draft: EmailDraft


@dataclass(frozen=True, kw_only=True, slots=True)
class Close(Op):
    """The interaction is deallocated; the store forgets it and counts it as closed."""


OPS: dict[str, type[Op]] = {
    cls.__name__: cls
    for cls in (Create, UpdateState, Assign, Requeue, AppendMessage, SaveDraft, Close)
}


def apply(interaction: Interaction | None, op: Op) -> Interaction:
    """The interaction after `op`. A repeated line returns `interaction` itself.

    Raises InvalidOperation for anything a correct active would never send, so a bug shows
    at the edge instead of as a shadow that silently differs from its original.
    """
    if isinstance(op, Create):
        if interaction is not None:
            raise InvalidOperation(f"{op.key}: already exists")
        return op.interaction
    if interaction is None:
        raise InvalidOperation(f"{op.key}: no such interaction")
    if (interaction.key, interaction.type) != (op.key, op.type):
        raise InvalidOperation(f"{op.key}: operation names a different interaction")
    if interaction.state is State.CLOSED:
        raise InvalidOperation(f"{op.key}: closed")
    if isinstance(op, UpdateState):
        if op.state is State.CLOSED:
            raise InvalidOperation(f"{op.key}: use Close to close an interaction")
        return replace(interaction, state=op.state)
    if isinstance(op, Assign):
        return replace(interaction, state=op.state, queue_kind=QueueKind.USER, queue=op.agent,
                       agent=op.agent, assigned_once=True, queued_at=op.at)
    if isinstance(op, Requeue):
        user = op.queue_kind is QueueKind.USER
        return replace(
            interaction, state=op.state, queue_kind=op.queue_kind, queue=op.queue,
            agent=op.queue if user else None,
            workgroup=interaction.workgroup if user else op.queue,
            assigned_once=interaction.assigned_once or user, queued_at=op.at,
        )
    if isinstance(op, AppendMessage):
        if interaction.type not in TRANSCRIPT_TYPES:
            raise InvalidOperation(f"{op.key}: a {interaction.type} has no transcript")
        if any(line.line_id == op.message_id for line in interaction.transcript):
            return interaction
        return replace(interaction, transcript=interaction.transcript + (op.line,))
    if isinstance(op, SaveDraft):
        if interaction.email is None:
            raise InvalidOperation(f"{op.key}: drafts belong to emails")
        return replace(interaction, email=replace(interaction.email, draft=op.draft))
    if isinstance(op, Close):
        return replace(interaction, state=State.CLOSED)
    raise InvalidOperation(f"{op.key}: unknown operation {type(op).__name__}")


# --- serialisation --------------------------------------------------------------------


def _attachment(d: dict[str, Any]) -> Attachment:
    return Attachment(name=d["name"], sha256=d["sha256"], size=int(d["size"]))


def _line(d: dict[str, Any]) -> TranscriptLine:
    file = d.get("file")
    return TranscriptLine(
        line_id=d["line_id"], author=d["author"], text=d["text"], kind=LineKind(d["kind"]),
        timestamp=float(d["timestamp"]), file=_attachment(file) if file else None,
    )


def _draft(d: dict[str, Any]) -> EmailDraft:
    return EmailDraft(body_html=d["body_html"], body_text=d["body_text"],
                      attachments=tuple(_attachment(a) for a in d["attachments"]))


def email_from_dict(d: dict[str, Any]) -> EmailContent:
    return EmailContent(
        subject=d["subject"], body_html=d["body_html"], body_text=d["body_text"],
        attachments=tuple(_attachment(a) for a in d["attachments"]),
        draft=_draft(d["draft"]) if d.get("draft") else None,
    )


def callback_from_dict(d: dict[str, Any]) -> CallbackDetails:
    return CallbackDetails(number=d["number"], requested_at=float(d["requested_at"]),
                           notes=d["notes"])


def line_from_dict(d: dict[str, Any]) -> TranscriptLine:
    return _line(d)


def interaction_from_dict(d: dict[str, Any]) -> Interaction:
    return Interaction(
        key=d["key"], type=InteractionType(d["type"]), state=State(d["state"]),
        queue_kind=QueueKind(d["queue_kind"]), queue=d["queue"],
        created_at=float(d["created_at"]), queued_at=float(d["queued_at"]),
        agent=d.get("agent"), workgroup=d.get("workgroup"), seqno=int(d.get("seqno", 0)),
        assigned_once=bool(d.get("assigned_once", False)),
        email=email_from_dict(d["email"]) if d.get("email") else None,
        callback=callback_from_dict(d["callback"]) if d.get("callback") else None,
        transcript=tuple(_line(x) for x in d.get("transcript", ())),
    )


def dumps(value: Interaction | Op) -> bytes:
    """JSON for an interaction or an operation (operations carry their class name)."""
    if isinstance(value, Op):
        return orjson.dumps({"op": type(value).__name__, "body": value})
    return orjson.dumps(value)


def interaction_loads(data: bytes | str) -> Interaction:
    return interaction_from_dict(orjson.loads(data))


def op_loads(data: bytes | str) -> Op:
    """The operation `dumps` wrote; raises InvalidOperation on anything else."""
    try:
        doc = orjson.loads(data)
        cls = OPS[doc["op"]]
        body = dict(doc["body"])
        body["type"] = InteractionType(body["type"])
        if cls is Create:
            body["interaction"] = interaction_from_dict(body["interaction"])
        elif cls is UpdateState:
            body["state"] = State(body["state"])
        elif cls is Assign:
            body["state"] = State(body["state"])
        elif cls is Requeue:
            body["state"] = State(body["state"])
            body["queue_kind"] = QueueKind(body["queue_kind"])
        elif cls is AppendMessage:
            body["line"] = _line(body["line"])
        elif cls is SaveDraft:
            body["draft"] = _draft(body["draft"])
        return cls(**body)
    except InvalidOperation:
        raise
    except (KeyError, TypeError, ValueError) as exc:
        raise InvalidOperation(f"malformed operation: {exc!r}") from exc
