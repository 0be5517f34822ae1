"""The SQLite interaction store: exactly-once, synchronisation, statistics, promotion."""
from __future__ import annotations

import time
from datetime import datetime, timezone
from pathlib import Path
from typing import Iterator

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
    Op,
    QueueKind,
    Requeue,
    SaveDraft,
    State,
    TranscriptLine,
    UpdateState,
)
from switchover.replication.interactions.recovery import (
    EnabledTypes,
    PromotionAction,
    duration,
    outbound,
)
from switchover.replication.interactions.rows import (
    SnapshotHeader,
    SnapshotRecord,
    StatKey,
    snapshot_frames,
    snapshot_item,
)
from switchover.replication.interactions.store import InteractionStore

E, C, CB = InteractionType.EMAIL, InteractionType.CHAT, InteractionType.CALLBACK
PDF, PNG, DRAFT = b"%PDF report", b"\x89PNG shot", b"draft attachment"


def at(hour: int) -> float:
    return datetime(2024, 3, 4, hour, 0, tzinfo=timezone.utc).timestamp()


@pytest.fixture
def stores(tmp_path: Path) -> Iterator[tuple[InteractionStore, InteractionStore]]:
    a, b = InteractionStore(tmp_path / "a.db"), InteractionStore(tmp_path / "b.db")
    yield a, b
    a.close()
    b.close()


def email(key: str = "e1") -> Interaction:
    return Interaction(key=key, type=E, state=State.QUEUED, queue_kind=QueueKind.WORKGROUP,
                       queue="Support", workgroup="Support", created_at=at(5), queued_at=at(5),
                       email=EmailContent(subject="Invoice", body_html="<p><b>Hi</b></p>",
                                          body_text="Hi",
                                          attachments=(Attachment.of("r.pdf", PDF),)))


def chat(key: str = "c1") -> Interaction:
    return Interaction(key=key, type=C, state=State.QUEUED, queue_kind=QueueKind.WORKGROUP,
                       queue="Web", workgroup="Web", created_at=at(5), queued_at=at(5))


def callback(key: str = "k1") -> Interaction:
    return Interaction(key=key, type=CB, state=State.QUEUED, queue_kind=QueueKind.WORKGROUP,
                       queue="Support", workgroup="Support", created_at=at(5), queued_at=at(5),
                       callback=CallbackDetails(number="+15551234", requested_at=at(6)))


def say(key: str, mid: str, text: str = "hi", kind: LineKind = LineKind.TEXT,
        file: Attachment | None = None) -> AppendMessage:
    return AppendMessage(type=C, key=key, at=at(5), line=TranscriptLine(
        line_id=mid, author="web user", text=text, kind=kind, timestamp=at(5), file=file))


def workload() -> list[tuple[Op, dict[str, bytes]]]:
    """A morning's traffic on three queues, with files, drafts and a closed chat."""
    return [
        (Create.of(email("e1")), {Attachment.of("", PDF).sha256: PDF}),
        (Create.of(email("e2")), {Attachment.of("", PDF).sha256: PDF}),
        (Create.of(chat("c1")), {}),
        (Create.of(chat("c2")), {}),
        (Create.of(callback("k1")), {}),
        (Assign(type=E, key="e1", agent="alice"), {}),
        (UpdateState(type=E, key="e1", state=State.CONNECTED), {}),
        (SaveDraft(type=E, key="e1", draft=EmailDraft(
            body_html="<p>Dear customer</p>", attachments=(Attachment.of("d", DRAFT),))),
         {Attachment.of("", DRAFT).sha256: DRAFT}),
        (Assign(type=C, key="c1", agent="bob"), {}),
        (UpdateState(type=C, key="c1", state=State.CONNECTED), {}),
        (say("c1", "m1", "I need help"), {}),
        (say("c1", "m2", "Bob joined the conversation", LineKind.STATUS), {}),
        (say("c1", "m3", "photo.png", LineKind.FILE, Attachment.of("photo.png", PNG)),
         {Attachment.of("", PNG).sha256: PNG}),
        (say("c2", "m1", "anyone?"), {}),
        (Close(type=C, key="c2"), {}),
        (Requeue(type=CB, key="k1", queue_kind=QueueKind.WORKGROUP, queue="Callbacks",
                 state=State.OFFERING), {}),
    ]


def originate_all(store: InteractionStore, traffic) -> list[tuple[Op, dict[str, bytes]]]:
    sent = []
    for op, blobs in traffic:
        stamped = store.originate(op, blobs)
        assert stamped is not None
        sent.append((stamped, blobs))
    return sent


def same(a: InteractionStore, b: InteractionStore) -> None:
    assert a.list() == b.list()
    assert a.stats() == b.stats()
    assert {t: a.seq(t) for t in InteractionType} == {t: b.seq(t) for t in InteractionType}
    for i in a.list():
        for att in i.attachments():
            assert a.blob(att.sha256) == b.blob(att.sha256) is not None


def test_stream_makes_an_identical_store_with_equal_statistics(stores) -> None:
    active, backup = stores
    for op, blobs in originate_all(active, workload()):
        assert backup.apply(op, blobs)
    same(active, backup)
    stats = backup.stats()
    assert stats[StatKey("user", "alice", "email", "connected")] == 1
    assert stats[StatKey("workgroup", "Web", "chat", "total:closed")] == 1
    assert stats[StatKey("workgroup", "Callbacks", "callback", "offering")] == 1
    assert stats[StatKey("workgroup", "Support", "email", "total:entered")] == 2
    assert StatKey("workgroup", "Web", "chat", "queued") not in stats  # c1 left, c2 closed
    c1 = backup.get("c1")
    assert [ln.kind for ln in c1.transcript] == [LineKind.TEXT, LineKind.STATUS, LineKind.FILE]
    assert backup.blob(c1.transcript[2].file.sha256) == PNG
    e1 = backup.get("e1")
    assert e1.email.body_html == "<p><b>Hi</b></p>" and e1.email.draft.body_html
    assert backup.get("c2") is None and backup.missing_blobs() == []


def test_a_burst_applies_in_one_transaction(stores) -> None:
    active, backup = stores
    sent = originate_all(active, workload())
    blobs = {sha: data for _, b in sent for sha, data in b.items()}
    assert backup.apply_many([op for op, _ in sent], blobs) == len(sent)
    assert backup.apply_many([op for op, _ in sent], blobs) == 0  # replayed: all dropped
    same(active, backup)
    bad = UpdateState(type=E, key="e2", seq=99, state=State.CLOSED)
    good = UpdateState(type=E, key="e2", seq=98, state=State.HELD)
    with pytest.raises(InvalidOperation):
        backup.apply_many([good, bad])
    assert backup.get("e2").state is State.QUEUED and backup.seq(E) == active.seq(E)


def test_a_resent_chat_line_lands_exactly_once(stores) -> None:
    active, backup = stores
    originate_all(active, [(Create.of(chat()), {})])
    first = active.originate(say("c1", "m1", "hello"))
    assert first is not None and first.seq == 2
    assert active.originate(say("c1", "m1", "hello")) is None  # resent after a reconnect
    assert active.seq(C) == 2  # the duplicate took no sequence number
    assert backup.apply(Create.of(chat(), seq=1)) and backup.apply(first)
    assert not backup.apply(first)  # the same op twice
    resent = AppendMessage(type=C, key="c1", seq=3, line=first.line)
    assert not backup.apply(resent)  # same message id under a new number
    assert [ln.line_id for ln in backup.get("c1").transcript] == ["m1"]


def test_duplicate_create_and_stale_numbers_change_nothing(stores) -> None:
    _, backup = stores
    assert backup.apply(Create.of(email(), seq=1))
    assert not backup.apply(Create.of(email(), seq=2))
    assert not backup.apply(UpdateState(type=E, key="e1", seq=2, state=State.HELD))
    assert backup.get("e1").state is State.QUEUED and backup.count() == 1
    assert not backup.apply(UpdateState(type=E, key="nobody", seq=3, state=State.HELD))
    assert backup.seq(E) == 3
    with pytest.raises(InvalidOperation):
        backup.apply(UpdateState(type=E, key="e1", seq=0, state=State.HELD))
    with pytest.raises(InvalidOperation):
        backup.originate(UpdateState(type=E, key="nobody", state=State.HELD))
    with pytest.raises(InvalidOperation):
        backup.apply(Create.of(email("e9"), seq=9),
                     {Attachment.of("", PDF).sha256: b"wrong bytes"})
    assert backup.seq(E) == 3 and backup.get("e9") is None  # refused whole


def test_snapshot_then_stream_gives_an_identical_store(stores) -> None:
    active, backup = stores
    sent = originate_all(active, workload())
    snapshot = list(active.snapshot(InteractionType))
    assert isinstance(snapshot[0], SnapshotHeader) and snapshot[0].seqs[C] == 9
    later = originate_all(active, [(UpdateState(type=E, key="e1", state=State.HELD), {}),
                                   (say("c1", "m4", "thanks"), {})])
    wire = [snapshot_item(snapshot_frames(item)) for item in snapshot]  # as sent
    assert wire == snapshot
    assert backup.load_snapshot(wire) == 4
    for op, blobs in sent[-3:] + later:  # overlapping updates are dropped by number
        backup.apply(op, blobs)
    same(active, backup)


def test_snapshot_is_consistent_while_the_store_goes_on(stores) -> None:
    active, backup = stores
    originate_all(active, workload())
    items = active.snapshot([C])
    header = next(items)
    active.originate(say("c1", "m9", "typed during the sync"))
    rest = list(items)
    assert header.seqs[C] == 9 and len(rest[0].interaction.transcript) == 3
    assert backup.load_snapshot([header, *rest]) == 1
    assert backup.seq(C) == 9


def test_filter_drops_and_resyncs_email_shadows_without_touching_the_active(stores) -> None:
    active, backup = stores
    sent = originate_all(active, workload())
    for op, blobs in sent:
        backup.apply(op, blobs)
    before = (active.list(), active.stats(), {t: active.seq(t) for t in InteractionType})
    enabled = EnabledTypes.all()
    assert backup.resync_filtered(active.snapshot([E]), enabled, mail_filter=True) == 1
    assert [i.key for i in backup.list(E)] == ["e1"]  # e2 never reached an agent
    assert [i.key for i in backup.list(C)] == ["c1"]  # other types untouched
    assert backup.get("e1") == active.get("e1") and backup.blob(Attachment.of("", DRAFT)
                                                                .sha256) == DRAFT
    assert backup.stats()[StatKey("workgroup", "Support", "email", "total:entered")] == 2
    assert StatKey("workgroup", "Support", "email", "queued") not in backup.stats()
    assert (active.list(), active.stats(),
            {t: active.seq(t) for t in InteractionType}) == before
    assert backup.drop_type(E) == 1 and backup.list(E) == [] and backup.seq(E) == 0
    assert backup.blob(Attachment.of("", PDF).sha256) is None  # files go with them


def test_filtered_stream_skips_numbers_and_shadows_on_assignment(stores) -> None:
    active, backup = stores
    enabled = EnabledTypes.of(E)
    for op in (Create.of(email("e1")), Create.of(email("e2")),
               Assign(type=E, key="e2", agent="alice"),
               UpdateState(type=E, key="e2", state=State.CONNECTED)):
        before = active.get(op.key)
        stamped = active.originate(op, {Attachment.of("", PDF).sha256: PDF})
        send = outbound(before, active.get(op.key), stamped, enabled, mail_filter=True)
        if send is not None:
            assert backup.apply(send, {Attachment.of("", PDF).sha256: PDF})
    assert [i.key for i in backup.list()] == ["e2"]
    assert backup.get("e2") == active.get("e2") and backup.seq(E) == 4


def test_close_and_new_draft_release_files(stores) -> None:
    active, _ = stores
    originate_all(active, workload())
    old = Attachment.of("", DRAFT).sha256
    active.originate(SaveDraft(type=E, key="e1", draft=EmailDraft(body_text="plain")))
    assert active.blob(old) is None and active.blob(Attachment.of("", PDF).sha256) == PDF
    active.originate(Close(type=C, key="c1"))
    assert active.blob(Attachment.of("", PNG).sha256) is None


def test_promotion_applies_the_rules_in_one_go(stores) -> None:
    active, backup = stores
    for op, blobs in originate_all(active, workload() + [
        (Create.of(chat("c3")), {}),
        (Assign(type=C, key="c3", agent="carol"), {}),
        (UpdateState(type=C, key="c3", state=State.DISCONNECTED), {}),
    ]):
        backup.apply(op, blobs)
    results = {r.key: r for r in backup.promote(now=at(6))}
    assert {k: r.action for k, r in results.items()} == {
        "c1": PromotionAction.KEEP, "c3": PromotionAction.CLOSE,
        "e1": PromotionAction.KEEP, "e2": PromotionAction.REQUEUE,
        "k1": PromotionAction.REQUEUE,
    }
    assert all(r.seqno == 1 for r in results.values())
    assert backup.get("c3") is None and backup.get("c1").agent == "bob"
    k1 = backup.get("k1")
    assert (k1.state, k1.queue, k1.seqno) == (State.QUEUED, "Callbacks", 1)
    stats = backup.stats()
    assert stats[StatKey("user", "carol", "chat", "total:closed")] == 1
    assert stats[StatKey("workgroup", "Callbacks", "callback", "queued")] == 1
    assert StatKey("workgroup", "Callbacks", "callback", "offering") not in stats
    assert backup.promoted_at() == at(6)
    assert len(backup.get("c1").transcript) == 3  # status line and file line kept


def test_promoting_an_empty_store_twice(tmp_path: Path) -> None:
    store = InteractionStore(tmp_path / "empty.db")
    assert store.promote(now=at(6)) == [] and store.promote(now=at(7)) == []
    assert store.promoted_at() == at(7) and store.stats() == {}
    store.close()


def test_duration_and_seqno_across_two_switchovers(tmp_path: Path) -> None:
    """5 AM created on A; 6 AM switch to B; 7 AM A rejoins as backup; 8 AM switch to A."""
    a = InteractionStore(tmp_path / "a.db")
    b = InteractionStore(tmp_path / "b.db")
    for op, blobs in originate_all(a, [(Create.of(email()), {Attachment.of("", PDF).sha256:
                                                              PDF}),
                                       (Assign(type=E, key="e1", at=at(5), agent="alice"),
                                        {}),
                                       (UpdateState(type=E, key="e1", state=State.CONNECTED),
                                        {})]):
        b.apply(op, blobs)
    b.promote(now=at(6))
    a.close()
    (tmp_path / "a.db").unlink()
    a2 = InteractionStore(tmp_path / "a.db")  # restarted, rejoins as backup at 7 AM
    a2.load_snapshot(b.snapshot(InteractionType))
    a2.promote(now=at(8))
    e1 = a2.get("e1")
    assert duration(e1, now=at(8)) == 3 * 3600
    assert (e1.key, e1.seqno, e1.state, e1.agent) == ("e1", 2, State.CONNECTED, "alice")
    assert e1.email.attachments and a2.blob(Attachment.of("", PDF).sha256) == PDF
    a2.close()
    b.close()


def test_promoting_150000_shadows(tmp_path: Path) -> None:
    """Timing is printed (run with -s), not asserted: machines differ."""
    store = InteractionStore(tmp_path / "big.db")
    states = [(State.CONNECTED, QueueKind.USER), (State.OFFERING, QueueKind.WORKGROUP),
              (State.QUEUED, QueueKind.WORKGROUP), (State.OFFERING, QueueKind.USER),
              (State.HELD, QueueKind.USER), (State.DISCONNECTED, QueueKind.USER)]

    def records():
        yield SnapshotHeader(types=(C,), seqs={C: 150_000}, totals=())
        for n in range(150_000):
            state, kind = states[n % len(states)]
            agent = f"agent{n % 500}" if kind is QueueKind.USER else None
            yield SnapshotRecord(Interaction(
                key=f"{n:08d}", type=C, state=state, queue_kind=kind,
                queue=agent or f"wg{n % 20}", agent=agent, workgroup=f"wg{n % 20}",
                created_at=at(5), queued_at=at(5)))

    t0 = time.perf_counter()
    assert store.load_snapshot(records()) == 150_000
    t1 = time.perf_counter()
    results = store.promote(now=at(6))
    t2 = time.perf_counter()
    print(f"\nload 150,000 shadows: {t1 - t0:.2f} s; promote: {t2 - t1:.2f} s")
    assert len(results) == 150_000
    assert store.count() == 125_000  # the disconnected sixth is closed
    assert sum(n for k, n in store.stats().items() if not k.metric.startswith("total:")) \
        == 125_000
    store.close()


def test_the_checkpoint_thread_copies_the_wal_into_the_database(tmp_path: Path) -> None:
    """The thread, not the commits of the stream, brings the WAL into the database: 2,000
    creates stay far below the writer's backstop, yet the database file alone holds them
    a moment later."""
    import shutil
    import sqlite3

    from switchover.replication.interactions import checkpoint

    store = InteractionStore(tmp_path / "live.db", checkpoint_thread=True)
    try:
        backstop = store._db.execute("PRAGMA wal_autocheckpoint").fetchone()[0]
        assert backstop == checkpoint.BACKSTOP_PAGES
        store.originate_many([(Create.of(chat(f"K{i}"), at=at(5)), None, None)
                              for i in range(2000)])
        assert (tmp_path / "live.db-wal").stat().st_size < backstop * 4096
        deadline = time.monotonic() + 10
        while True:  # the database file without its WAL, as a crash would find it
            shutil.copy(tmp_path / "live.db", tmp_path / "copy.db")
            copy = sqlite3.connect(tmp_path / "copy.db")
            try:
                n = copy.execute("SELECT count(*) FROM interactions").fetchone()[0]
            except sqlite3.DatabaseError:  # no schema in the file yet, or a torn copy
                n = 0
            finally:
                copy.close()
            if n == 2000 or time.monotonic() > deadline:
                break
            time.sleep(0.05)
        assert n == 2000
    finally:
        store.close()


def test_a_writer_that_never_pauses_keeps_the_wal_bounded(tmp_path: Path, monkeypatch) -> None:
    """A PASSIVE checkpoint beside a busy writer never lets the WAL start over; the
    writer's backstop does, and the file is cut back to the limit."""
    from switchover.replication.interactions import checkpoint

    monkeypatch.setattr(checkpoint, "BACKSTOP_PAGES", 100)
    monkeypatch.setattr(checkpoint, "WAL_LIMIT_BYTES", 1 << 20)
    store = InteractionStore(tmp_path / "busy.db", checkpoint_thread=True)
    wal = tmp_path / "busy.db-wal"
    try:
        store.originate_many([(Create.of(chat(f"K{i}"), at=at(5)), None, None)
                              for i in range(2000)])
        largest, n = 0, 0
        until = time.monotonic() + 1.5
        while time.monotonic() < until:  # several checkpoint rounds, never a pause
            store.originate_many([
                (UpdateState(type=C, key=f"K{(n + j) % 2000}", at=at(6),
                             state=(State.CONNECTED, State.HELD)[(n // 2000) % 2]), None, None)
                for j in range(50)])
            n += 50
            largest = max(largest, wal.stat().st_size)
        assert n > 20_000  # enough frames for a WAL of tens of MB without the backstop
        assert largest < 4 << 20
    finally:
        store.close()
