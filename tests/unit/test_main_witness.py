"""SwitchoverMain with a witness, and after a partition: what it does with the table's
decisions (docs/witness.md "Failure -> outcome"; issue 14, "never two actives").

The peer check of an active that lost the key (its deadline is a timer, not a query's
timeout), the re-run of the commence hooks when the peer answers again, and the order
of a hand-over: the key revoked before the peer is told it may take it.
"""
from __future__ import annotations

import concurrent.futures
import dataclasses
import threading
from pathlib import Path
from typing import Any

import pytest

from switchover.actors import main_actions
from switchover.actors.main_jobs import MainJobs
from switchover.actors.witness_messages import (
    AcquireWitness,
    Holder,
    ReleaseWitness,
    WitnessAcquired,
    WitnessLost,
)
from tests.unit.fake_witness import ManualExecutor
from tests.unit.test_main import Peer, peer_state, start, status

ME = Holder("ICServer1", 1)


class FakeWitness:
    """The Witness actor's ref: what it was told; asked, it answers with `revoke`."""

    def __init__(self, revoke: Any = None) -> None:
        self.told: list[object] = []
        self.revoke = revoke
        self.asked = threading.Event()

    def tell(self, message: object) -> None:
        self.told.append(message)

    def ask(self, message: object, timeout: float | None = None) -> Any:
        self.told.append(message)
        self.asked.set()
        return self.revoke

    def is_alive(self) -> bool:
        return True


def active_with_the_key(tmp_path: Path, executor: Any = None):
    witness = FakeWitness()
    ref, clock, _, deps = start(tmp_path, Peer(peer_state("Backup")), witness=witness,
                                executor=executor)
    assert status(ref)["state"] == "Init"  # waiting for the key (the right to be active)
    assert any(isinstance(m, AcquireWitness) for m in witness.told)
    ref.tell(WitnessAcquired(ME, 10.0))
    assert status(ref)["state"] == "Primary"
    return ref, clock, deps, witness


def test_an_active_that_lost_the_key_demotes_at_the_check_deadline(tmp_path: Path) -> None:
    """A cut off from B and etcd: its periodic query has not timed out yet, so nothing
    says the peer is unreachable when WitnessLost comes; the check's own deadline
    demotes it inside the margin."""
    executor = ManualExecutor()
    ref, clock, deps, witness = active_with_the_key(tmp_path, executor)
    executor.hold = True  # the peer's answers stop: A is cut off
    ref.tell(WitnessLost(ME, "no renewal of the lease confirmed for 6.7 s", 3.0))
    assert status(ref)["state"] == "Primary"
    clock.advance(0.9)
    assert status(ref)["state"] == "Primary"
    clock.advance(0.2)  # 1.1 s: past a third of the margin
    result = status(ref)
    assert result["state"] == "Inactive"
    assert "did not answer within 1.0 s" in result["reason"]
    assert any("is stale" in e["message"] for e in deps.events.recent())


def test_an_active_that_lost_the_key_stays_while_the_peer_answers(tmp_path: Path) -> None:
    ref, clock, deps, witness = active_with_the_key(tmp_path)
    told = len(witness.told)
    ref.tell(WitnessLost(ME, "etcd unreachable", 3.0))
    status(ref)
    assert any(isinstance(m, AcquireWitness) for m in witness.told[told:])  # asks again
    clock.advance(1.1)
    result = status(ref)
    assert result["state"] == "Primary"
    assert "the peer answered within 1.0 s: staying active" in result["reason"]
    assert any("Witness key lost while the peer answers" in e["message"]
               for e in deps.events.recent())


def test_the_active_reruns_its_commence_hooks_when_the_peer_answers_again(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
) -> None:
    runs: list[tuple[str, str]] = []
    monkeypatch.setattr(main_actions, "run_hooks", lambda kind, commands, env, **_: runs.append(
        (kind, env["SWITCHOVER_REASON"])))
    peer = Peer(None, peer_state("Backup"), None, peer_state("Inactive"))
    ref, clock, _, deps = start(tmp_path, peer)  # fail-safe start: the peer is silent
    assert status(ref)["state"] == "Primary"
    for _ in range(2):  # first seen (starting, not coming back), then silent
        clock.advance(2.0)
        status(ref), status(ref)  # the tick, then the answer it queried
    assert [kind for kind, _ in runs] == ["commence"]
    clock.advance(2.0)  # the partition heals
    status(ref), status(ref)
    assert len(runs) == 2 and runs[1][0] == "commence"
    assert runs[1][1].startswith("partition healed: ICServer2 answers again, stale")
    assert any(e.get("kind") == "recommence" for e in deps.events.recent())
    clock.advance(2.0)  # answering on: nothing more to announce
    status(ref), status(ref)
    assert len(runs) == 2


def test_a_hand_over_tells_the_peer_only_after_the_key_is_revoked(tmp_path: Path) -> None:
    revoked: concurrent.futures.Future = concurrent.futures.Future()
    witness = FakeWitness(revoke=revoked)
    peer = Peer(peer_state("Backup"))
    _, _, _, deps = start(tmp_path, peer)
    finished = threading.Event()
    with concurrent.futures.ThreadPoolExecutor(1) as executor:
        jobs = MainJobs(dataclasses.replace(deps, witness=witness, executor=executor,
                                            on_discontinued=finished.set), lambda _: None)
        jobs.discontinue({}, tell_peer=True)
        assert witness.asked.wait(10) and witness.told == [ReleaseWitness()]
        assert not finished.is_set()
        assert all(r["op"] != "handed-over" for r in peer.requests)
        revoked.set_result(None)  # etcd confirmed the revoke
        assert finished.wait(10)
    assert peer.requests[-1]["op"] == "handed-over"
