"""The active's side of interaction recovery without sockets: batches of application calls,
bursts with refused calls in them, and acknowledgements that wait for the backup.

"All chat responses typed during the switchover are maintained" needs every call
acknowledged only once it is a shadow; a busy application sends its calls in batches, and
each call in a batch is still answered on its own terms.
"""
from __future__ import annotations

import itertools
from pathlib import Path
from typing import Any, Iterator

import pytest

from switchover.replication.interactions.active import ActiveSide, Request
from switchover.replication.interactions.model import InteractionType, State
from switchover.replication.interactions.recovery import EnabledTypes
from switchover.replication.interactions.store import InteractionStore
from switchover.replication.interactions.sync import SnapshotSessions
from switchover.replication.interactions.wire import (
    BATCH_CALLS,
    BATCH_REASON,
    Gather,
    calls_of,
    change_of,
    unpack,
)
from switchover.clock import FakeClock

ALL = (EnabledTypes(frozenset(InteractionType)), False)
_rids = itertools.count(1)


class Side:
    """An ActiveSide on a real store, with what it published and answered."""

    def __init__(self, tmp_path: Path) -> None:
        self.clock = FakeClock()
        self.store = InteractionStore(tmp_path / "active.db", checkpoint_thread=True)
        self.published: list[Any] = []
        self.side = ActiveSide(self.store, lambda body, bulk: self.published.extend(bulk),
                               SnapshotSessions(60), ack_wait=1.0, now=self.clock.now)
        self.answers: list[tuple[str, Any]] = []

    def batch(self, *calls: tuple[str, dict[str, Any]]) -> None:
        body = {"calls": [[eid, {**b, "rid": f"r{next(_rids)}"}] for eid, b in calls]}
        gather = Gather(len(calls), lambda status, answer: self.answers.append((status, answer)))
        self.side.handle([Request(e, b, (), gather.part(n))
                          for n, (e, b) in enumerate(calls_of(body))], ALL)

    def changes(self) -> list[Any]:
        return [change_of(frames)[0] for chunk in self.published for frames in unpack(chunk)]


@pytest.fixture
def side(tmp_path: Path) -> Iterator[Side]:
    s = Side(tmp_path)
    yield s
    s.store.close()


def create(key: str, type_: str = "chat", state: str = "queued") -> tuple[str, dict[str, Any]]:
    return "create", {"interaction": {"key": key, "type": type_, "queue": "WG1",
                                      "state": state}}


def test_a_batch_is_answered_once_in_the_order_of_its_calls(side: Side) -> None:
    side.batch(create("K1"), create("K2"), ("update_state", {"key": "K1", "state": "connected"}))
    assert len(side.answers) == 1
    status, answer = side.answers[0]
    assert status == "ok"
    assert [(s, a["key"], a["seq"]) for s, a in answer["results"]] == [
        ("ok", "K1", 1), ("ok", "K2", 2), ("ok", "K1", 3)]
    assert side.store.get("K1").state is State.CONNECTED


def test_a_refused_call_in_a_burst_leaves_the_others_and_the_numbering_whole(side: Side) -> None:
    side.batch(create("K1"), create("K2"))
    side.batch(("update_state", {"key": "K1", "state": "held"}),
               ("update_state", {"key": "nope", "state": "held"}),  # no such interaction
               ("update_state", {"key": "K2", "state": "closed"}),  # closing needs Close
               ("update_state", {"key": "K2", "state": "connected"}))
    results = side.answers[-1][1]["results"]
    assert [s for s, _ in results] == ["ok", "rejected", "rejected", "ok"]
    assert "nope: no such interaction" in results[1][1]["reason"]
    assert [r[1]["seq"] for r in results if r[0] == "ok"] == [3, 4]
    # what the backup is sent is numbered without a gap, and the statistics agree
    assert [op.seq for op in side.changes()] == [1, 2, 3, 4]
    assert side.store.seq(InteractionType.CHAT) == 4
    gauges = {k.metric: n for k, n in side.store.stats().items() if n}
    assert gauges["held"] == 1 and gauges["connected"] == 1 and "queued" not in gauges


def test_a_batch_waits_for_the_backup_like_single_calls(side: Side) -> None:
    side.side.subscription, side.side.backup_ok = ALL, True
    side.batch(create("K1"), create("K2", type_="sms"))
    assert side.answers == []  # neither is a shadow yet
    side.side.acked({"chat": 1})
    assert side.answers == []  # one of two
    side.side.acked({"sms": 1})
    assert [s for s, _ in side.answers[0][1]["results"]] == ["ok", "ok"]


def test_a_key_closed_and_created_again_with_another_type(side: Side) -> None:
    side.batch(create("K1"), ("update_state", {"key": "K1", "state": "connected"}))
    side.batch(("close", {"key": "K1"}))
    side.batch(create("K1", type_="sms"), ("update_state", {"key": "K1", "state": "held"}))
    results = side.answers[-1][1]["results"]
    assert [(s, a["type"]) for s, a in results] == [("ok", "sms"), ("ok", "sms")]
    assert side.store.type_of("K1") is InteractionType.SMS


@pytest.mark.parametrize("body, wrong", [
    ({}, "non-empty list"),
    ({"calls": []}, "non-empty list"),
    ({"calls": [["get", {"key": "K1"}]]}, "call 0 is not"),
    ({"calls": [["update_state", "K1"]]}, "call 0 is not"),
    ({"calls": [["update_state", {}]] * (BATCH_CALLS + 1)}, f"at most {BATCH_CALLS}"),
])
def test_a_malformed_batch_names_what_is_wrong(body: dict[str, Any], wrong: str) -> None:
    with pytest.raises(ValueError, match=wrong):
        calls_of(body)


def test_gather_cuts_long_reasons_and_ignores_a_second_reply() -> None:
    out: list[Any] = []
    gather = Gather(2, lambda status, body: out.append(body))
    second = gather.part(1)
    second("rejected", {"code": "invalid", "reason": "x" * 1000})
    second("ok", {})
    assert out == []
    gather.part(0)("ok", {"seq": 1})
    first, cut = out[0]["results"]
    assert first == ["ok", {"seq": 1}]
    assert cut[0] == "rejected" and len(cut[1]["reason"]) == BATCH_REASON + 3


def test_a_resend_is_acknowledged_only_with_its_original(side: Side) -> None:
    """A client that timed out resends; the active knows the id, but must not answer
    before the backup holds the change, or a SIGKILL right after would lose it."""
    side.side.subscription, side.side.backup_ok = ALL, True
    first = Gather(1, lambda status, answer: side.answers.append(("first", answer)))
    body = {"key": "K1", "type": "chat", "queue": "WG1", "state": "queued"}
    side.side.handle([Request("create", {"interaction": body, "rid": "same"}, (),
                              first.part(0))], ALL)
    again = Gather(1, lambda status, answer: side.answers.append(("again", answer)))
    side.side.handle([Request("create", {"interaction": body, "rid": "same"}, (),
                              again.part(0))], ALL)
    assert side.answers == []
    side.side.acked({"chat": 1})
    assert [(who, a["results"][0][1]["duplicate"]) for who, a in side.answers] == [
        ("first", False), ("again", True)]
    # once confirmed, a further resend is answered at once
    late = Gather(1, lambda status, answer: side.answers.append(("late", answer)))
    side.side.handle([Request("create", {"interaction": body, "rid": "same"}, (),
                              late.part(0))], ALL)
    assert side.answers[-1] == ("late", {"results": [["ok", {"duplicate": True}]]})


def test_closed_interactions_leave_no_cached_type(side: Side) -> None:
    """The key-to-type cache follows deletions, so it never outgrows the live set."""
    side.batch(*[create(f"K{i}") for i in range(50)])
    side.batch(*[("close", {"key": f"K{i}"}) for i in range(50)])
    assert all(s == "ok" for s, _ in side.answers[-1][1]["results"])
    assert side.store._types == {}


def test_a_request_repeated_across_commits_of_one_burst_applies_once(side: Side) -> None:
    """A read splits a burst into two commits; the id the first applied is known to the
    second, and a refused request's id stays free for its corrected resend."""
    body = {"key": "K1", "type": "chat", "queue": "WG1", "state": "queued"}
    out: list[Any] = []
    gather = Gather(6, lambda status, answer: out.append(answer["results"]))
    side.side.handle([
        Request("create", {"interaction": body, "rid": "x"}, (), gather.part(0)),
        Request("update_state", {"key": "K1", "state": "held", "rid": "y"}, (),
                gather.part(1)),
        Request("update_state", {"key": "K1", "state": "bogus", "rid": "z"}, (),
                gather.part(2)),
        Request("get", {"key": "K1"}, (), gather.part(3)),
        Request("update_state", {"key": "K1", "state": "held", "rid": "y"}, (),
                gather.part(4)),
        Request("update_state", {"key": "K1", "state": "connected", "rid": "z"}, (),
                gather.part(5)),
    ], ALL)
    results = out[0]
    assert [r[0] for r in results] == ["ok", "ok", "rejected", "ok", "ok", "ok"]
    assert results[4] == ["ok", {"duplicate": True}]
    assert results[5][1]["duplicate"] is False
    assert side.store.seq(InteractionType.CHAT) == 3  # create, held, connected
    assert side.store.get("K1").state is State.CONNECTED


def test_each_change_names_the_change_sent_before_it_on_its_stream(side: Side) -> None:
    """Numbers skip where the mail filter holds an email back, so the backup can only see
    a lost change by the number the active says it sent before."""
    filtered = (EnabledTypes(frozenset(InteractionType)), True)
    for key, queue_kind in (("E1", "workgroup"), ("E2", "user"), ("E3", "workgroup")):
        body = {"key": key, "type": "email", "queue": "WG1", "queue_kind": queue_kind}
        side.side.handle([Request("create", {"interaction": body}, (), lambda *a: None)],
                         filtered)
    side.side.handle([Request("update_state", {"key": "E2", "state": "connected"}, (),
                              lambda *a: None)], filtered)
    sent = [change_of(frames) for chunk in side.published for frames in unpack(chunk)]
    # E1 (#1) and E3 (#3) never reached an agent: not sent, and not named as sent
    assert [(op.key, op.seq, prev) for op, _, _, prev in sent] == [("E2", 2, 0), ("E2", 4, 2)]
