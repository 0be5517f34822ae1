"""SwitchoverMain's Init state and the two-actives rule, with a fake clock and no sockets.

Reference: "When a server in the switchover pair is started, it checks to see if its
companion is an active server. If it cannot contact the other server or verify that it is
running, it goes into fail-safe mode and starts as the active server."; "Connect the
Switchover system"; Appendix C's upgrade states; "Additional suggestions for reducing
false positives" ("the backup server notifies the active server that it is no longer
active").
"""
from __future__ import annotations

import concurrent.futures
from pathlib import Path
from typing import Any, Mapping

import pytest

from actors.generation import GenerationStore
from actors.main import MainDeps, SwitchoverMain
from actors.messages import Begin, DiscontinueRequest, GetStatus, Tick
from actors.shared import SharedState
from switchover.clock import FakeClock
from switchover.config import parse_config
from switchover.logs import EventLog


class InlineExecutor(concurrent.futures.Executor):
    def submit(self, fn, /, *args, **kwargs):
        future: concurrent.futures.Future = concurrent.futures.Future()
        try:
            future.set_result(fn(*args, **kwargs))
        except Exception as exc:
            future.set_exception(exc)
        return future


class FakeLinks:
    def __init__(self) -> None:
        self.started = 0
        self.stopped = 0

    def start(self) -> None:
        self.started += 1

    def stop(self) -> None:
        self.stopped += 1


class Peer:
    """The peer's virtual switch, scripted: answers in order, then repeats the last."""

    def __init__(self, *answers: Mapping[str, Any] | None) -> None:
        self.answers = list(answers)
        self.requests: list[Mapping[str, Any]] = []

    def __call__(self, request: Mapping[str, Any], timeout: float) -> Mapping[str, Any] | None:
        self.requests.append(request)
        if request["op"] != "state":
            return {"status": "ok"}
        return self.answers.pop(0) if len(self.answers) > 1 else self.answers[0]


def config(tmp_path: Path, name: str = "ICServer1", release: str = "2026.1.0"):
    data = {
        "server": {"name": name, "data_dir": str(tmp_path), "release": release},
        "servers": {
            "ICServer1": {"address": "127.0.0.1", "switch_port": 4001, "main_port": 4002,
                          "aux_port": 4003, "admin_port": 4004},
            "ICServer2": {"address": "127.0.0.1", "switch_port": 4011, "main_port": 4012,
                          "aux_port": 4013, "admin_port": 4014},
        },
        "security": {"server_group_key": "keys/server-group.key_secret"},
        "server_parameters": {"SwitchoverServer A": "ICServer1",
                              "SwitchoverServer B": "ICServer2"},
    }
    return parse_config(data, tmp_path / "switchover.toml")


def start(tmp_path: Path, peer: Peer, *, name: str = "ICServer1", release: str = "2026.1.0",
          force_backup: bool = False, manual: bool = False):
    clock = FakeClock()
    links = FakeLinks()
    deps = MainDeps(
        config=config(tmp_path, name, release), clock=clock,
        events=EventLog(tmp_path / "events.jsonl", name),
        generation=GenerationStore(tmp_path / "generation.json"), shared=SharedState(),
        executor=InlineExecutor(), peer_query=peer, links=links,
        force_backup=force_backup, manual_switch_only=manual,
    )
    ref = SwitchoverMain.start(deps)
    ref.ask(Begin())
    ref.ask(GetStatus())  # the peer's answer arrives as a message after Begin
    return ref, clock, links, deps


def status(ref) -> dict[str, Any]:
    return ref.ask(GetStatus(), timeout=5)


def peer_state(state: str, release: str = "2026.1.0", generation: int = 1,
               letter: str = "B") -> dict[str, Any]:
    return {"status": "ok", "state": state, "release": release, "generation": generation,
            "letter": letter}


@pytest.mark.parametrize(
    ("answer", "state", "reason"),
    [
        (None, "Primary", "fail-safe"),
        (peer_state("Primary"), "Backup", "backup of ICServer2"),
        (peer_state("Inactive"), "Primary", "is Inactive, not active"),
        (peer_state("Backup"), "Primary", "is Backup, not active"),
        (peer_state("Init"), "Primary", "SwitchoverServer A comes up active first"),
    ],
)
def test_init_decides_the_role(tmp_path: Path, answer, state: str, reason: str) -> None:
    ref, _, links, deps = start(tmp_path, Peer(answer))
    result = status(ref)
    assert result["state"] == state
    assert reason in result["reason"]
    assert deps.shared.snapshot()["state"] == state
    assert links.started == (1 if state == "Backup" else 0)


def test_server_b_waits_for_a_when_both_start_together(tmp_path: Path) -> None:
    peer = Peer(peer_state("Init", letter="A"), peer_state("Primary", letter="A"))
    ref, clock, _, _ = start(tmp_path, peer, name="ICServer2")
    assert status(ref)["state"] == "Init"
    clock.advance(1.0)
    status(ref)  # let the retry's answer be processed
    assert status(ref)["state"] == "Backup"
    assert len(peer.requests) == 2


def test_force_backup_even_when_peer_unreachable(tmp_path: Path) -> None:
    ref, _, links, _ = start(tmp_path, Peer(None), force_backup=True)
    assert status(ref)["state"] == "Backup"
    assert links.started == 1


@pytest.mark.parametrize(
    ("ours", "theirs", "state", "upgrade"),
    [("2026.2.0", "2026.1.0", "UpgradeHigher", "higher"),
     ("2026.1.0", "2026.1.5", "UpgradeLower", "lower"),
     ("2026.1.0", "2026.1.0", "Backup", None)],
)
def test_release_comparison_sets_upgrade_state(tmp_path: Path, ours, theirs, state, upgrade):
    ref, _, _, _ = start(tmp_path, Peer(peer_state("Primary", release=theirs)), release=ours)
    result = status(ref)
    assert (result["state"], result["upgrade"]) == (state, upgrade)
    # Appendix C: "the backup server is running in 'manual switch only' mode"
    assert result["mode"] == ("auto" if upgrade is None else "manual switch only")


def test_manual_switch_only_mode_is_reported(tmp_path: Path) -> None:
    ref, _, _, _ = start(tmp_path, Peer(peer_state("Primary")), manual=True)
    assert status(ref)["mode"] == "manual switch only"


def test_discontinue_from_newer_active_makes_this_server_stale(tmp_path: Path) -> None:
    ref, _, _, deps = start(tmp_path, Peer(None))
    ours = status(ref)["generation"]
    ref.ask(DiscontinueRequest("ICServer2", ours, "B"))  # a tie: A stays
    assert status(ref)["state"] == "Primary"
    ref.ask(DiscontinueRequest("ICServer2", ours + 1, "B"))
    result = status(ref)
    assert result["state"] == "Inactive" and result["role"] == "stale"
    assert any("stale" in e["message"] for e in deps.events.recent())


def test_generation_survives_restart_and_outranks_the_peer(tmp_path: Path) -> None:
    ref, _, _, _ = start(tmp_path, Peer(peer_state("Primary", generation=7)))
    assert status(ref)["state"] == "Backup"
    ref.stop()
    # the next activation takes a generation above the highest seen (7)
    ref, _, _, _ = start(tmp_path, Peer(None))
    assert status(ref)["generation"] == 8


def test_two_actives_meet_the_older_goes_stale(tmp_path: Path) -> None:
    peer = Peer(None, peer_state("Primary", generation=5))
    ref, clock, _, _ = start(tmp_path, peer)
    assert status(ref)["state"] == "Primary" and status(ref)["generation"] == 1
    clock.advance(5.0)  # the active's peer probe
    status(ref)
    assert status(ref)["state"] == "Inactive"


def test_two_actives_meet_the_newer_tells_the_older(tmp_path: Path) -> None:
    GenerationStore(tmp_path / "generation.json").observe(9)
    peer = Peer(None, peer_state("Primary", generation=2))
    ref, clock, _, _ = start(tmp_path, peer)
    clock.advance(5.0)
    status(ref)
    assert status(ref)["state"] == "Primary"
    assert {"op": "discontinue", "server": "ICServer1", "generation": 10,
            "letter": "A"} in peer.requests


def test_unknown_tick_is_ignored(tmp_path: Path) -> None:
    ref, _, _, _ = start(tmp_path, Peer(None))
    ref.tell(Tick("nothing"))
    assert status(ref)["state"] == "Primary"
