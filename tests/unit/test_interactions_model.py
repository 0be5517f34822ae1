"""The interaction model: validation, `apply`, and JSON round trips."""
from __future__ import annotations

import pytest

from switchover.replication.interactions.model import (
    AppendMessage,
    Assign,
    Attachment,
    CallbackDetails,
    Close,
    Create,
    EmailContent,
    EmailDraft,
    Interaction,
    InteractionType,
    InvalidOperation,
    LineKind,
    QueueKind,
    Requeue,
    SaveDraft,
    State,
    TranscriptLine,
    UpdateState,
    apply,
    dumps,
    interaction_loads,
    op_loads,
)

T0 = 1_700_000_000.0
PDF = b"%PDF-1.4 quarterly report"
PNG = b"\x89PNG screenshot"


def make(type_: InteractionType = InteractionType.CHAT, key: str = "1001", **kw) -> Interaction:
    content: dict = {}
    if type_ is InteractionType.EMAIL:
        content["email"] = EmailContent(
            subject="Invoice", body_html="<p>Hi <b>there</b></p>", body_text="Hi there",
            attachments=(Attachment.of("report.pdf", PDF),))
    if type_ is InteractionType.CALLBACK:
        content["callback"] = CallbackDetails(number="+15551234", requested_at=T0 + 600,
                                              notes="after 5pm")
    fields = dict(key=key, type=type_, state=State.QUEUED, queue_kind=QueueKind.WORKGROUP,
                  queue="Support", workgroup="Support", created_at=T0, queued_at=T0)
    fields.update(content)
    fields.update(kw)
    return Interaction(**fields)


def line(mid: str, text: str = "hello", kind: LineKind = LineKind.TEXT, file=None):
    return TranscriptLine(line_id=mid, author="customer", text=text, kind=kind,
                          timestamp=T0 + 1, file=file)


@pytest.mark.parametrize("type_", list(InteractionType))
def test_every_type_round_trips_through_json(type_: InteractionType) -> None:
    i = make(type_)
    if type_ not in (InteractionType.EMAIL, InteractionType.CALLBACK):
        i = apply(i, AppendMessage(type=type_, key=i.key, line=line("m1")))
        i = apply(i, AppendMessage(type=type_, key=i.key, line=line(
            "m2", "shot.png", LineKind.FILE, Attachment.of("shot.png", PNG))))
        i = apply(i, AppendMessage(type=type_, key=i.key,
                                   line=line("m3", "Agent joined", LineKind.STATUS)))
    assert interaction_loads(dumps(i)) == i


def test_every_operation_round_trips_through_json() -> None:
    email = make(InteractionType.EMAIL)
    ops = [
        Create.of(email, seq=1),
        UpdateState(type=email.type, key="1001", seq=2, at=T0, state=State.CONNECTED),
        Assign(type=email.type, key="1001", seq=3, at=T0, agent="alice"),
        Requeue(type=email.type, key="1001", seq=4, at=T0, queue_kind=QueueKind.WORKGROUP,
                queue="Billing"),
        AppendMessage(type=InteractionType.CHAT, key="2", seq=5, at=T0,
                      line=line("m1", file=Attachment.of("a", b"x"))),
        SaveDraft(type=email.type, key="1001", seq=6, at=T0, draft=EmailDraft(
            body_html="<i>draft</i>", attachments=(Attachment.of("a.txt", b"a"),))),
        Close(type=email.type, key="1001", seq=7, at=T0),
    ]
    for op in ops:
        assert op_loads(dumps(op)) == op


def test_malformed_operation_is_refused_clearly() -> None:
    for junk in (b"{}", b"not json", b'{"op": "Explode", "body": {}}',
                 b'{"op": "UpdateState", "body": {"type": "fax", "key": "1"}}'):
        with pytest.raises(InvalidOperation):
            op_loads(junk)


def test_content_must_match_the_type() -> None:
    with pytest.raises(InvalidOperation):
        make(InteractionType.CHAT, email=EmailContent(subject="x"))
    with pytest.raises(InvalidOperation):
        Interaction(key="1", type=InteractionType.EMAIL, state=State.QUEUED,
                    queue_kind=QueueKind.WORKGROUP, queue="S", created_at=T0, queued_at=T0)
    with pytest.raises(InvalidOperation):
        make(InteractionType.CALLBACK, transcript=(line("m1"),))
    with pytest.raises(InvalidOperation):
        Create(type=InteractionType.CHAT, key="other", interaction=make())


def test_assign_puts_it_on_the_agents_queue_and_remembers_it() -> None:
    i = apply(make(InteractionType.EMAIL), Assign(type=InteractionType.EMAIL, key="1001",
                                                  at=T0 + 60, agent="alice"))
    assert (i.queue_kind, i.queue, i.agent, i.state) == (
        QueueKind.USER, "alice", "alice", State.OFFERING)
    assert i.assigned_once and i.queued_at == T0 + 60 and i.created_at == T0
    moved = apply(i, Requeue(type=i.type, key=i.key, at=T0 + 90,
                             queue_kind=QueueKind.WORKGROUP, queue="Billing"))
    assert (moved.queue_kind, moved.queue, moved.agent, moved.workgroup) == (
        QueueKind.WORKGROUP, "Billing", None, "Billing")
    assert moved.assigned_once and moved.state is State.QUEUED
    to_bob = apply(moved, Requeue(type=i.type, key=i.key, queue_kind=QueueKind.USER,
                                  queue="bob", state=State.OFFERING))
    assert (to_bob.agent, to_bob.workgroup) == ("bob", "Billing")


def test_a_repeated_line_is_kept_once() -> None:
    i = make()
    op = AppendMessage(type=i.type, key=i.key, line=line("m1"))
    once = apply(i, op)
    assert apply(once, op) is once
    assert [ln.line_id for ln in once.transcript] == ["m1"]


def test_impossible_operations_raise() -> None:
    chat, email = make(), make(InteractionType.EMAIL, key="2")
    with pytest.raises(InvalidOperation):
        apply(email, AppendMessage(type=email.type, key="2", line=line("m1")))
    with pytest.raises(InvalidOperation):
        apply(chat, SaveDraft(type=chat.type, key=chat.key, draft=EmailDraft()))
    with pytest.raises(InvalidOperation):
        apply(chat, Create.of(chat))
    with pytest.raises(InvalidOperation):
        apply(None, UpdateState(type=chat.type, key=chat.key, state=State.HELD))
    with pytest.raises(InvalidOperation):
        apply(chat, UpdateState(type=chat.type, key=chat.key, state=State.CLOSED))
    with pytest.raises(InvalidOperation):
        apply(chat, UpdateState(type=chat.type, key="other", state=State.HELD))
    closed = apply(chat, Close(type=chat.type, key=chat.key))
    assert closed.state is State.CLOSED
    with pytest.raises(InvalidOperation):
        apply(closed, UpdateState(type=chat.type, key=chat.key, state=State.CONNECTED))


def test_attachments_lists_email_draft_and_chat_files() -> None:
    email = apply(make(InteractionType.EMAIL), SaveDraft(
        type=InteractionType.EMAIL, key="1001",
        draft=EmailDraft(body_html="<p>reply</p>", attachments=(Attachment.of("r", b"r"),))))
    assert [a.name for a in email.attachments()] == ["report.pdf", "r"]
    chat = apply(make(), AppendMessage(type=InteractionType.CHAT, key="1001", line=line(
        "m1", "f", LineKind.FILE, Attachment.of("f.png", PNG))))
    assert [a.sha256 for a in chat.attachments()] == [Attachment.of("f", PNG).sha256]
