"""The application client's failover rules with fake servers (no sockets).

"All chat responses typed during the switchover are maintained": a call is resent until a
server acknowledges it, and the request id makes a resend harmless. The client tries the
server it last used first ("Win32 CIC client programs outside the LAN cannot re-connect").
"""
from __future__ import annotations

import json
import threading
import time
from concurrent.futures import Future
from pathlib import Path
from typing import Any, Mapping, Sequence

import pytest

from switchover.transport.envelope import Envelope
from switchover.transport.interaction_client import InteractionClient, InteractionError
from switchover.transport.outcome import OK, REJECTED, TIMEOUT, Outcome


class FakeServer:
    """One host: 'active' answers, 'silent' applies but never answers (killed after the
    commit), 'dead' applies nothing, 'backup' refuses as not active."""

    def __init__(self, mode: str, shared: dict[str, list[str]]) -> None:
        self.mode = mode
        self.applied = shared  # rid -> applied (shared: replication to the peer)
        self.lines: list[str] = []
        self.batches: list[int] = []  # calls per batch received
        self.refuse_batches: tuple[str, dict[str, Any]] | None = None
        self.refused = 0

    def handle(self, eid: str, body: Mapping[str, Any]) -> Outcome:
        env = Envelope("request", "app", "InteractionRecovery", eid, 1, body=dict(body))
        if self.mode == "dead":
            return Outcome(TIMEOUT, detail="no response")
        if self.mode == "backup":
            return Outcome(REJECTED, env.reply("rejected", {"code": "not-active"}))
        if eid == "batch" and self.refuse_batches:  # refused whole, nothing applied
            self.refused += 1
            status, answer = self.refuse_batches
            return Outcome(REJECTED, env.reply(status, answer))
        if eid == "batch":  # the calls in order, answered together
            self.batches.append(len(body["calls"]))
            answers = [self.apply(e, b) for e, b in body["calls"]]
            status, answer = "ok", {"results": [list(a) for a in answers]}
        else:
            status, answer = self.apply(eid, body)
        if self.mode == "silent":
            return Outcome(TIMEOUT, detail="no response")
        return Outcome(OK if status == "ok" else REJECTED, env.reply(status, answer))

    def apply(self, eid: str, body: Mapping[str, Any]) -> tuple[str, dict[str, Any]]:
        if eid == "update_state" and body["key"] == "nope":
            return "rejected", {"code": "invalid", "reason": "nope: no such"}
        duplicate = body["rid"] in self.applied
        if not duplicate:
            self.applied[body["rid"]] = [eid]
            if eid == "append_message":
                self.lines.append(body["line"]["line_id"])
        return "ok", {"duplicate": duplicate}


class FakeLink:
    def __init__(self, server: FakeServer, log: list[str], endpoint: str) -> None:
        self.server, self.log, self.endpoint = server, log, endpoint

    def request(self, target: str, eid: str, body: Mapping[str, Any] | None = None, *,
                timeout: float, bulk: Sequence[bytes] = ()) -> Future[Outcome]:
        self.log.append(self.endpoint)
        future: Future[Outcome] = Future()
        outcome = self.server.handle(eid, dict(body or {}))
        # answers arrive on another thread, as a Channel's do
        threading.Timer(0.001, future.set_result, args=(outcome,)).start()
        return future

    def stop(self) -> None:
        pass


@pytest.fixture
def servers() -> dict[str, FakeServer]:
    shared: dict[str, list[str]] = {}
    return {"A": FakeServer("active", shared), "B": FakeServer("backup", shared)}


def make(servers: dict[str, FakeServer], tmp_path: Path, order=("A", "B")) -> tuple[
        InteractionClient, list[str]]:
    log: list[str] = []
    app = InteractionClient(list(order), None, None, "app", state_path=tmp_path / "last.json",
                            timeout=0.05, give_up=5.0,
                            connect=lambda ep: FakeLink(servers[ep], log, ep))
    return app, log


def test_lines_typed_during_a_switchover_land_exactly_once(servers, tmp_path) -> None:
    app, _ = make(servers, tmp_path)
    app.append_message("chat1", "m0", "before")
    servers["A"].mode = "silent"  # applies, then dies before acknowledging
    futures = [app.append_message("chat1", f"m{i}", "during", wait=False) for i in (1, 2)]
    # both reach A (the client sends on its own thread) before A dies
    deadline = time.monotonic() + 5
    while servers["A"].lines[-2:] != ["m1", "m2"] and time.monotonic() < deadline:
        time.sleep(0.001)
    servers["A"].mode = "dead"
    threading.Timer(0.3, lambda: setattr(servers["B"], "mode", "active")).start()
    futures += [app.append_message("chat1", "m3", "after", wait=False)]
    results = [f.result(timeout=5) for f in futures]
    assert app.endpoint == "B"
    # m1 and m2 reached A before it died: B knows their ids (replicated), so the resends
    # are acknowledged as duplicates and nothing lands twice
    assert [r["duplicate"] for r in results] == [True, True, False]
    assert servers["A"].lines + servers["B"].lines == ["m0", "m1", "m2", "m3"]
    assert app.pending() == 0
    assert app.failovers >= 1


def test_the_server_used_last_is_tried_first(servers, tmp_path) -> None:
    (tmp_path / "last.json").write_text(json.dumps({"last": "B"}))
    servers["A"].mode, servers["B"].mode = "backup", "active"
    app, log = make(servers, tmp_path)
    app.update_state("k", "held")
    assert log == ["B"]
    servers["B"].mode, servers["A"].mode = "dead", "active"
    app.update_state("k", "connected")
    assert app.endpoint == "A"
    assert json.loads((tmp_path / "last.json").read_text()) == {"last": "A"}
    again, log2 = make(servers, tmp_path)
    again.update_state("k", "queued")
    assert log2 == ["A"]


def test_resends_keep_the_original_order_and_the_request_id(servers, tmp_path) -> None:
    app, log = make(servers, tmp_path)
    servers["A"].mode = "dead"
    servers["B"].mode = "active"
    futures = [app.append_message("c", f"m{i}", "x", wait=False) for i in range(20)]
    for f in futures:
        f.result(timeout=5)
    assert servers["B"].lines == [f"m{i}" for i in range(20)]
    assert len(servers["A"].applied) == 20  # one id per call, shared by every resend


def test_a_refused_call_fails_without_failover(servers, tmp_path) -> None:
    app, log = make(servers, tmp_path)
    with pytest.raises(InteractionError, match="no such"):
        app.update_state("nope", "held")
    assert set(log) == {"A"} and app.failovers == 0


def test_both_servers_down_fails_the_call_after_give_up(servers, tmp_path) -> None:
    servers["A"].mode = servers["B"].mode = "dead"
    log: list[str] = []
    app = InteractionClient(["A", "B"], None, None, "app", timeout=0.01, give_up=0.3,
                            connect=lambda ep: FakeLink(servers[ep], log, ep))
    from switchover.transport.interaction_client import Unavailable

    with pytest.raises(Unavailable):
        app.close("k")
    assert {"A", "B"} <= set(log)


class HeldLink(FakeLink):
    """Answers only when the test releases them, so calls pile up behind the window."""

    def __init__(self, server: FakeServer, log: list[str], endpoint: str,
                 held: list[tuple[Future, Outcome]]) -> None:
        super().__init__(server, log, endpoint)
        self.held = held

    def request(self, target: str, eid: str, body: Mapping[str, Any] | None = None, *,
                timeout: float, bulk: Sequence[bytes] = ()) -> Future[Outcome]:
        self.log.append(self.endpoint)
        future: Future[Outcome] = Future()
        self.held.append((future, self.server.handle(eid, dict(body or {}))))
        return future


def held_client(servers, tmp_path, log: list[str] | None = None) -> tuple[
        InteractionClient, list[tuple[Future, Outcome]]]:
    held: list[tuple[Future, Outcome]] = []
    app = InteractionClient(["A", "B"], None, None, "app", state_path=tmp_path / "last.json",
                            timeout=5.0, give_up=5.0,
                            connect=lambda ep: HeldLink(servers[ep], log if log is not None
                                                        else [], ep, held))
    return app, held


def answer_until_done(held: list[tuple[Future, Outcome]], futures: list[Future]) -> None:
    """Answer held messages in order until every call is settled (a failover connects on
    a thread of its own, so its resends arrive a moment later)."""
    deadline = time.monotonic() + 5
    while not all(f.done() for f in futures) and time.monotonic() < deadline:
        if held:
            future, outcome = held.pop(0)
            future.set_result(outcome)
        else:
            time.sleep(0.001)


def test_a_busy_client_sends_the_waiting_calls_together_in_order(servers, tmp_path) -> None:
    from switchover.transport.interaction_batch import BATCH_CALLS, MESSAGES_IN_FLIGHT

    messages: list[str] = []
    app, held = held_client(servers, tmp_path, messages)
    futures = [app.append_message("c", f"m{i}", "x", wait=False) for i in range(600)]
    # an idle client sends at once; then the calls wait for a message to come back
    assert len(held) == MESSAGES_IN_FLIGHT and servers["A"].batches == []
    most = 0
    while held:
        most = max(most, len(held))
        future, outcome = held.pop(0)
        future.set_result(outcome)
    assert [f.result(timeout=1) for f in futures] == [{"duplicate": False}] * 600
    assert servers["A"].lines == [f"m{i}" for i in range(600)]
    assert most <= MESSAGES_IN_FLIGHT
    assert max(servers["A"].batches) == BATCH_CALLS
    assert len(messages) < 20  # 600 calls in a few messages, not 600
    assert app.pending() == 0 and app.failovers == 0


def test_a_refused_call_in_a_batch_fails_alone(servers, tmp_path) -> None:
    app, held = held_client(servers, tmp_path)
    first = [app.update_state(f"k{i}", "held", wait=False) for i in range(4)]
    batch = [app.update_state(k, "held", wait=False) for k in ("k4", "nope", "k5")]
    while held:
        future, outcome = held.pop(0)
        future.set_result(outcome)
    assert servers["A"].batches == [3]
    for f in first + [batch[0], batch[2]]:
        assert f.result(timeout=1) == {"duplicate": False}
    with pytest.raises(InteractionError, match="no such"):
        batch[1].result(timeout=1)
    assert app.failovers == 0


def test_a_lost_batch_is_resent_whole_to_the_other_server(servers, tmp_path) -> None:
    app, held = held_client(servers, tmp_path)
    futures = [app.append_message("c", f"m{i}", "x", wait=False) for i in range(200)]
    servers["A"].mode = "dead"  # the first four were applied and answered; then A dies
    servers["B"].mode = "active"
    answer_until_done(held, futures)
    results = [f.result(timeout=1) for f in futures]
    assert app.endpoint == "B" and app.failovers >= 1
    assert [r["duplicate"] for r in results] == [False] * 200
    assert servers["A"].lines == [f"m{i}" for i in range(4)]
    assert servers["B"].lines == [f"m{i}" for i in range(4, 200)]


def test_a_batch_applied_but_unanswered_is_resent_and_lands_once(servers, tmp_path) -> None:
    """The active applies a batch and dies before answering: the new active knows every
    id (replicated), so the resent batch is acknowledged as duplicates, nothing twice."""
    app, held = held_client(servers, tmp_path)
    futures = [app.append_message("c", f"m{i}", "x", wait=False) for i in range(200)]
    servers["A"].mode = "silent"  # what reaches A now is applied, never answered
    servers["B"].mode = "active"
    answer_until_done(held, futures)
    results = [f.result(timeout=1) for f in futures]
    assert app.endpoint == "B" and servers["A"].batches  # batches reached A
    assert [r["duplicate"] for r in results] == [False] * 4 + [True] * 196
    assert servers["A"].lines == [f"m{i}" for i in range(200)]
    assert servers["B"].lines == []


@pytest.mark.parametrize("refusal, batches_again", [
    # an older server: nothing applied, and it gets single calls from then on
    (("rejected", {"code": "invalid", "reason": "unknown request 'batch'"}), False),
    # the answer could not be sent: batches go on being tried
    (("error", {"reason": "envelope too large"}), True),
])
def test_a_batch_refused_whole_is_sent_again_call_by_call(servers, tmp_path, refusal,
                                                          batches_again) -> None:
    servers["A"].refuse_batches = refusal
    app, held = held_client(servers, tmp_path)
    for round_ in range(2):
        futures = [app.append_message("c", f"m{round_}-{i}", "x", wait=False)
                   for i in range(10)]
        while held:
            future, outcome = held.pop(0)
            future.set_result(outcome)
        assert [f.result(timeout=1) for f in futures] == [{"duplicate": False}] * 10
        if round_ == 0:
            assert servers["A"].refused == 1
    assert servers["A"].refused == (2 if batches_again else 1)
    assert app.failovers == 0
    assert servers["A"].lines == [f"m{r}-{i}" for r in range(2) for i in range(10)]


def test_a_call_too_large_to_travel_fails_at_once_and_blocks_nothing(servers, tmp_path) -> None:
    app, held = held_client(servers, tmp_path)
    for _ in range(6):  # more than the messages in flight
        with pytest.raises(InteractionError, match="over the limit"):
            app.create({"key": "big", "type": "email", "queue": "q",
                        "email": {"body_html": "x" * 70_000}}, wait=False)
    f = app.update_state("k1", "held", wait=False)
    future, outcome = held.pop(0)
    future.set_result(outcome)
    assert f.result(timeout=1) == {"duplicate": False} and app.pending() == 0
