"""SwitchoverMain carrying out the table's decisions, with a fake clock and no sockets.

The decisions themselves are rows of tests/unit/test_statemachine.py; here: what the
actor does with them — generations that count switches, the live peer view in status,
the warnings, the pairing check, links opened for a backup, the resync when a manual
mode backup's channels come back. Reference: "The Init State"; Appendix C; "Additional
suggestions for reducing false positives".
"""
from __future__ import annotations

import concurrent.futures
from pathlib import Path
from typing import Any, Mapping

import pytest

from switchover.actors.generation import GenerationStore
from switchover.actors.main import SwitchoverMain
from switchover.actors.main_jobs import MainDeps
from switchover.actors.messages import (
    Begin,
    ConnectionChanged,
    DiscontinueRequest,
    GetStatus,
    PostEvent,
    RequestSwitch,
    Tick,
)
from switchover.actors.statemachine import HandedOver, ModuleDown
from switchover.actors.shared import SharedState
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

    def connected(self, channel: str) -> bool:
        return False

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
          force_backup: bool = False, manual: bool = False, startup=lambda: None,
          witness: Any = None, executor: Any = None):
    clock = FakeClock()
    links = FakeLinks()
    resyncs: list[float] = []
    deps = MainDeps(
        config=config(tmp_path, name, release), clock=clock,
        events=EventLog(tmp_path / "events.jsonl", name),
        generation=GenerationStore(tmp_path / "generation.json"), shared=SharedState(),
        executor=executor or InlineExecutor(), peer_query=peer, links=links,
        force_backup=force_backup, manual_switch_only=manual,
        on_resync=lambda: resyncs.append(clock.now()), wall=clock.now,
        startup_progress=startup, witness=witness,
    )
    ref = SwitchoverMain.start(deps)
    ref.ask(Begin())
    ref.ask(GetStatus())  # the peer's answer arrives as a message after Begin
    deps.resyncs = resyncs  # type: ignore[attr-defined]
    return ref, clock, links, deps


def status(ref) -> dict[str, Any]:
    return ref.ask(GetStatus(), timeout=5)


PAIR = {"A": "ICServer1", "B": "ICServer2"}


def peer_state(state: str, release: str = "2026.1.0", generation: int = 1,
               letter: str = "B", **more: Any) -> dict[str, Any]:
    return {"status": "ok", "state": state, "release": release, "generation": generation,
            "letter": letter, "pair": PAIR, **more}


def test_a_backup_opens_its_links_and_an_active_does_not(tmp_path: Path) -> None:
    ref, _, links, _ = start(tmp_path, Peer(peer_state("Primary")))
    assert status(ref)["state"] == "Backup" and links.started == 1
    ref.stop()
    ref, _, links, _ = start(tmp_path / "other", Peer(None))
    assert status(ref)["state"] == "Primary" and links.started == 0


def test_server_b_waits_for_a_when_both_start_together(tmp_path: Path) -> None:
    peer = Peer(peer_state("Init", letter="A"), peer_state("Primary", letter="A"))
    ref, clock, _, _ = start(tmp_path, peer, name="ICServer2")
    assert status(ref)["state"] == "Init"
    clock.advance(1.0)
    status(ref)  # let the retry's answer be processed
    assert status(ref)["state"] == "Backup"
    assert len(peer.requests) == 2


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
    assert result["mode"] == ("auto" if upgrade is None else f"upgrade {upgrade}")


def test_a_start_keeps_the_generation_and_a_switch_takes_a_new_one(tmp_path: Path) -> None:
    """Generations count switches, not restarts (the restart-storm finding: a restarted
    active took a new generation from its own file each time and outranked B's switch)."""
    store = GenerationStore(tmp_path / "generation.json")
    store.observe(3)
    assert store.advance() == 4  # this server switched to active with 4, then stopped
    ref, _, _, _ = start(tmp_path, Peer(peer_state("Reconnecting", generation=4)))
    assert status(ref)["state"] == "Primary" and status(ref)["generation"] == 4
    ref.stop()
    ref, _, _, _ = start(tmp_path, Peer(None))  # restarted again: still 4
    assert status(ref)["generation"] == 4
    ref.stop()
    ref, _, _, _ = start(tmp_path, Peer(peer_state("Primary", generation=4)))
    assert ref.ask(RequestSwitch(True, "operator"))["accepted"]
    assert status(ref)["generation"] == 5  # a switch: one above the highest seen


def test_a_manual_switch_waits_for_the_actives_discontinue(tmp_path: Path) -> None:
    """Planned hand-over: the backup asks, the old active discontinues and confirms,
    and only then does the backup commence."""
    peer = Peer(peer_state("Primary", letter="A"))
    ref, clock, _, deps = start(tmp_path, peer, name="ICServer2")
    assert ref.ask(RequestSwitch(False, "operator"))["accepted"]
    assert status(ref)["state"] == "Backup"
    assert {"op": "handover", "server": "ICServer2"} in peer.requests
    ref.ask(PostEvent(HandedOver("ICServer1")))
    result = status(ref)
    assert result["state"] == "Primary"
    messages = [e["message"] for e in deps.events.recent()]
    assert messages[messages.index("Switchover Service: Switch Initiated") - 1] == (
        "Manual Switchover")


def test_a_hand_over_the_active_never_confirms_switches_after_the_timeout(
        tmp_path: Path) -> None:
    ref, clock, _, deps = start(tmp_path, Peer(peer_state("Primary", letter="A")),
                                name="ICServer2")
    ref.ask(RequestSwitch(False, "operator"))
    clock.advance(29.0)
    assert status(ref)["state"] == "Backup"
    clock.advance(1.5)
    status(ref)
    assert status(ref)["state"] == "Primary"
    assert any("did not confirm its discontinue" in e["message"]
               for e in deps.events.recent())


def test_a_restarted_active_yields_to_a_switch_made_while_it_was_away(tmp_path: Path) -> None:
    store = GenerationStore(tmp_path / "generation.json")
    assert store.advance() == 1  # this server was active with 1
    # The peer's switch (2) was seen while this server was still starting (its
    # Discontinue arrived in Init): seen, but not this server's own generation.
    store.observe(2)
    peer = Peer(None, peer_state("Primary", generation=2))
    ref, clock, _, deps = start(tmp_path, peer)  # fail-safe while the partition lasts
    assert status(ref)["state"] == "Primary" and status(ref)["generation"] == 1
    clock.advance(2.0)  # the next state query: the peer is active with 2
    status(ref)
    assert status(ref)["state"] == "Inactive"
    assert any("generation 2 (ours 1)" in e["message"] for e in deps.events.recent())


def test_discontinue_from_newer_active_makes_this_server_stale(tmp_path: Path) -> None:
    ref, _, _, deps = start(tmp_path, Peer(None))
    ours = status(ref)["generation"]
    ref.ask(DiscontinueRequest("ICServer2", ours, "B"))  # a tie: A stays
    assert status(ref)["state"] == "Primary"
    ref.ask(DiscontinueRequest("ICServer2", ours + 1, "B"))
    result = status(ref)
    assert result["state"] == "Inactive" and result["role"] == "stale"
    assert any("stale" in e["message"] for e in deps.events.recent())


def test_two_actives_meet_the_newer_tells_the_older(tmp_path: Path) -> None:
    store = GenerationStore(tmp_path / "generation.json")
    store.observe(8)
    assert store.advance() == 9
    peer = Peer(None, peer_state("Primary", generation=2))
    ref, clock, _, _ = start(tmp_path, peer)
    clock.advance(2.0)
    status(ref)
    assert status(ref)["state"] == "Primary"
    assert {"op": "discontinue", "server": "ICServer1", "generation": 9,
            "letter": "A"} in peer.requests


def test_status_shows_the_peer_as_it_reports_itself_now(tmp_path: Path) -> None:
    """The peer view is refreshed in every state, and says when the peer answered."""
    peer = Peer(peer_state("Primary", generation=2, letter="A", mode="auto",
                           connections={"main": True, "aux": True}),
                peer_state("Primary", generation=2, letter="A"), None)
    ref, clock, _, _ = start(tmp_path, peer, name="ICServer2")
    view = status(ref)["peer"]
    assert (view["state"], view["generation"], view["reachable"]) == ("Primary", 2, True)
    assert view["last_answered_ago"] == 0
    clock.advance(2.0)
    status(ref)
    clock.advance(2.0)  # the third answer: none
    status(ref)
    result = status(ref)
    assert result["peer"]["reachable"] is False
    assert "unreachable_since" in result["peer"]
    assert any(w.startswith("peer unreachable") for w in result["warnings"])


def test_a_lone_active_warns_that_there_is_no_backup(tmp_path: Path) -> None:
    ref, _, _, _ = start(tmp_path, Peer(None))
    assert "no backup: the pair is not redundant" in status(ref)["warnings"]
    ref.stop()
    ref, _, _, _ = start(tmp_path / "b", Peer(peer_state("Backup")))
    assert not any(w.startswith("no backup") for w in status(ref)["warnings"])


def test_the_active_shows_the_backups_replication_warnings(tmp_path: Path) -> None:
    peer = Peer(peer_state("Backup", warnings=["file replication is not current"]))
    ref, _, _, _ = start(tmp_path, peer)
    assert "ICServer2: file replication is not current" in status(ref)["warnings"]


def test_reversed_pairing_is_an_error_naming_both_configurations(tmp_path: Path) -> None:
    peer = Peer(peer_state("Primary", pair={"A": "ICServer2", "B": "ICServer1"}))
    ref, _, links, _ = start(tmp_path, peer)
    result = status(ref)
    assert result["state"] == "Error" and links.started == 0
    assert "SwitchoverServer A = ICServer1" in result["reason"]
    assert "SwitchoverServer A = ICServer2" in result["reason"]


def test_a_manual_mode_backup_resyncs_when_its_channels_come_back(tmp_path: Path) -> None:
    ref, _, _, deps = start(tmp_path, Peer(peer_state("Primary")), manual=True)
    for channel, up in [("main", True), ("aux", True), ("main", False), ("aux", False)]:
        ref.ask(ConnectionChanged(channel, up))
    assert deps.resyncs == []  # the first connection is no outage
    ref.ask(ConnectionChanged("main", True))
    assert len(deps.resyncs) == 1


def test_module_down_while_starting_up_switches_once_startup_completes(tmp_path: Path) -> None:
    """"Module Down" while the backup still copies: no promotion of half-synchronised
    data; the switch waits for the first DS compare and the InitialMirrorDir copy."""
    progress = ["DS syncing (400 compared, 12 fetched)"]
    ref, clock, _, deps = start(tmp_path, Peer(peer_state("Primary", letter="A")),
                                name="ICServer2", startup=lambda: progress[0])
    clock.advance(1.0)
    result = status(ref)
    assert "this server is starting up: DS syncing (400 compared, 12 fetched)" in \
        result["warnings"]
    ref.ask(PostEvent(ModuleDown()))
    clock.advance(5.0)
    assert status(ref)["state"] == "Backup"
    progress[0] = None
    clock.advance(1.0)
    status(ref)
    assert status(ref)["state"] == "Primary"
    messages = [e["message"] for e in deps.events.recent()]
    assert messages[messages.index("Switchover Service: Switch Initiated") - 1] == (
        "TS Ping Failure")


def test_start_up_ends_at_the_initial_mirror_timeout(tmp_path: Path) -> None:
    ref, clock, _, deps = start(tmp_path, Peer(peer_state("Primary", letter="A")),
                                name="ICServer2", startup=lambda: "initial mirror: 1/9 files")
    clock.advance(601.0)
    assert status(ref)["starting_up"] is None
    assert any("Initial Mirror Timeout" in e["message"] for e in deps.events.recent())


def test_unknown_tick_is_ignored(tmp_path: Path) -> None:
    ref, _, _, _ = start(tmp_path, Peer(None))
    ref.tell(Tick("nothing"))
    assert status(ref)["state"] == "Primary"
