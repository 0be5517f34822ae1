"""DSReplicator's logic without sockets: an active store behind the real DSServer
handlers, reached through a direct call instead of the Notifier, and a fake clock."""
from __future__ import annotations

import concurrent.futures
import threading
from pathlib import Path
from typing import Any, Iterator

import pytest

from switchover.replication.ds import DSStore, Entry, Put
from switchover.replication.ds.snapshot import SNAPSHOT_OPEN
from switchover.replication.ds.changes import ChangeSet
from switchover.replication.ds.protocol import (WALK, RemoteError, decode_level,
                                                encode_level, pack_changes, unpack_changes)
from switchover.replication.ds.remote import RemoteTree
from switchover.replication.ds.replicator import (GAP_GRACE, RETRY_DELAY, Change, DSReplicator,
                                                  Follow, Position, ReplicatorDeps, Resync,
                                                  Unfollow)
from switchover.replication.ds.server import AckBoard, DSServer
from switchover.replication.ds.status import ReplicatorStatus
from switchover.replication.ds.snapshot import SNAPSHOT_CHUNK
from switchover.replication.ds.tree import DSError
from switchover.replication.upgrade import UpgradeHigherFilter
from switchover.clock import FakeClock
from switchover.transport.envelope import Envelope


def user(i: int, ext: int = 0, cls: str = "User") -> Put:
    return Put(Entry.make(f"/Config/Users/u{i:03d}", cls, {"Extension": str(ext or i)}))


class Direct:
    """The active's DSServer, called in-process; `gate` can hold requests back (all of
    them, or only those named in `held`), and `waiting` tells that one is held.

    `hold_after(eid)` holds the first `eid` request once its answer is computed: `answered`
    is set then, and the answer goes back when `resume` is set, so a test can change the
    active between the resync reading its snapshot and applying it."""

    def __init__(self, store: DSStore) -> None:
        self.acks = AckBoard()
        self.server = DSServer(store, lambda: "A", self.acks)
        self.gate = threading.Event()
        self.gate.set()
        self.held: set[str] | None = None
        self.waiting = threading.Event()
        self.fail = False
        self.after: tuple[str, ...] = ()
        self.answered = threading.Event()
        self.resume = threading.Event()
        self.asked: list[str] = []  # the requests made, in order

    def hold_after(self, *eids: str) -> None:
        self.after = eids
        self.answered.clear()
        self.resume.clear()

    def call(self, eid: str, body: Any, bulk: Any) -> tuple:
        self.asked.append(eid)
        if self.held is None or eid in self.held:
            if not self.gate.is_set():
                self.waiting.set()
            self.gate.wait(10)
        if self.fail:
            raise RemoteError(f"{eid}: connection-lost")
        done = concurrent.futures.Future()
        env = Envelope("request", "SwitchoverService", "DSServer", eid, 1, body=body)
        self.server.handle(env, tuple(bulk),
                           lambda status="ok", body=None, bulk=(): done.set_result(
                               (status, body or {}, tuple(bulk))))
        status, rbody, rbulk = done.result(10)
        if eid in self.after and not self.answered.is_set():
            self.answered.set()
            assert self.resume.wait(10), "the test never resumed the held answer"
        if status != "ok":
            raise RemoteError(f"{eid}: {status} {rbody}")
        return rbody, rbulk


@pytest.fixture
def active(tmp_path: Path) -> Iterator[DSStore]:
    with DSStore(tmp_path / "active.sqlite", durability="normal") as store:
        yield store


@pytest.fixture
def backup(tmp_path: Path) -> Iterator[DSStore]:
    with DSStore(tmp_path / "backup.sqlite", durability="normal") as store:
        yield store


class Rig:
    def __init__(self, active: DSStore, backup: DSStore) -> None:
        self.active, self.backup = active, backup
        self.direct = Direct(active)
        self.clock = FakeClock()
        self.synced = threading.Event()
        self.synced_count = 0
        self.cancels: list[threading.Event] = []  # each resync's, in order
        self.status = ReplicatorStatus()
        self.ack_ok = True  # False: the active does not take the acks
        self.acks_sent: list[int] = []
        self.ref = DSReplicator.start(ReplicatorDeps(
            store=backup, clock=self.clock, remote=self.remote,
            send_ack=self.ack, on_synced=self.on_synced,
            status=self.status))

    def remote(self, cancel: threading.Event) -> RemoteTree:
        self.cancels.append(cancel)
        return RemoteTree(self.direct.call, cancel)

    def on_synced(self) -> None:
        self.synced_count += 1
        self.synced.set()

    def ack(self, session: str, seq: int) -> concurrent.futures.Future:
        self.acks_sent.append(seq)
        if self.ack_ok:
            self.direct.acks.ack(session, seq)
        done: concurrent.futures.Future = concurrent.futures.Future()
        done.set_result(self.ack_ok)
        return done

    def write(self, *ops: Put) -> ChangeSet:
        return self.active.write(ops)

    def send(self, cs: ChangeSet) -> None:
        self.ref.tell(Change(cs.seq, cs.encode()))

    def settle(self) -> None:
        """Wait until the actor has handled everything told so far (and what it told
        itself in turn)."""
        for _ in range(3):
            self.ref.ask(Position(), timeout=5)

    def wait_equal(self, timeout: float = 10.0) -> None:
        deadline = threading.Event()
        for _ in range(int(timeout / 0.02)):
            self.settle()
            if (self.backup.seq == self.active.seq and not self.status.syncing
                    and self.backup.subtree_hash("/") == self.active.subtree_hash("/")):
                return
            deadline.wait(0.02)
        raise AssertionError(f"backup at {self.backup.seq}, active at {self.active.seq}")

    def close(self) -> None:
        self.ref.stop()  # waits for the cancelled resync to return
        self.direct.server.close()


@pytest.fixture
def rig(active: DSStore, backup: DSStore) -> Iterator[Rig]:
    r = Rig(active, backup)
    yield r
    r.close()


def test_initial_resync_then_stream_in_order_with_duplicates_dropped(rig: Rig) -> None:
    for i in range(20):
        rig.write(user(i))
    rig.ref.tell(Follow())
    assert rig.synced.wait(10)
    rig.wait_equal()
    sets = [rig.write(user(i, 500 + i)) for i in range(5)]
    for cs in sets:
        rig.send(cs)
        rig.send(cs)  # the same event on the aux channel
    rig.send(sets[0])  # a replay
    rig.wait_equal()
    assert rig.backup.get("/Config/Users/u004").value("Extension") == "504"
    assert rig.direct.acks.seq == rig.active.seq  # acked for synchronous mode and lag


def test_out_of_order_within_grace_is_applied_without_resync(rig: Rig) -> None:
    rig.ref.tell(Follow())
    assert rig.synced.wait(10)  # two empty trees look equal before the first sync ends
    rig.wait_equal()
    resyncs = rig.status.resyncs
    first, second = rig.write(user(1)), rig.write(user(2))
    rig.send(second)
    rig.settle()
    assert rig.backup.seq == first.seq - 1
    rig.send(first)
    rig.wait_equal()
    assert rig.status.resyncs == resyncs


def test_gap_that_does_not_close_triggers_resync(rig: Rig) -> None:
    rig.ref.tell(Follow())
    assert rig.synced.wait(10)  # two empty trees look equal before the first sync ends
    rig.wait_equal()
    resyncs = rig.status.resyncs
    rig.write(user(1))
    rig.write(user(2))
    rig.send(rig.write(user(3)))  # 1 and 2 were lost with a channel
    rig.settle()
    rig.clock.advance(GAP_GRACE + 0.1)
    rig.wait_equal()
    assert rig.status.resyncs == resyncs + 1


class Recording:
    """The backup's store, recording the seqs of every change set applied to it."""

    def __init__(self, store: DSStore) -> None:
        self._store = store
        self.applied: list[int] = []

    def __getattr__(self, name: str) -> Any:
        return getattr(self._store, name)

    def apply_many(self, sets: Any, flt: Any = None) -> int:
        sets = list(sets)
        self.applied += [cs.seq for cs in sets]
        return self._store.apply_many(sets, flt)


def test_events_during_resync_are_buffered_then_applied(active: DSStore,
                                                         backup: DSStore) -> None:
    recording = Recording(backup)
    rig = Rig(active, recording)  # type: ignore[arg-type]
    try:
        rig.write(user(0))
        # the snapshot (head 1, the tree at 1) has been read: a copy of the active's store
        # for an empty backup, else the tree walk
        rig.direct.hold_after(SNAPSHOT_OPEN, WALK)
        rig.ref.tell(Follow())
        assert rig.direct.answered.wait(5)
        live = [rig.write(user(i, 900 + i)) for i in range(1, 4)]
        for cs in live:
            rig.send(cs)
            rig.send(cs)  # the same event on the other channel
        rig.settle()
        assert rig.status.syncing and backup.seq == 0  # buffered, not applied
        rig.direct.resume.set()
        rig.wait_equal()
        assert recording.applied == [2, 3, 4]  # after the snapshot, in order, once each
        assert [backup.get(f"/Config/Users/u{i:03d}").value("Extension")
                for i in range(4)] == ["0", "901", "902", "903"]
    finally:
        rig.close()


def test_diverged_history_is_replaced_by_the_actives(rig: Rig) -> None:
    rig.backup.write([user(1, 111), user(9, 999)])  # an old active's own change
    rig.write(user(1))
    rig.ref.tell(Follow())
    rig.wait_equal()
    assert rig.backup.get("/Config/Users/u009") is None


@pytest.mark.parametrize("own", [1, 3], ids=["same-seq", "backup-ahead"])
def test_a_diverged_backup_takes_a_copy_of_the_actives_store(rig: Rig, own: int) -> None:
    """The old active rejoins as backup with changes the new active never had (at the
    same seq, or beyond the active's): its history cannot be followed, so it takes the
    copy rather than a hash compare of its whole tree."""
    for k in range(own):
        rig.backup.write([user(9, 900 + k)])
    rig.write(user(1))
    rig.ref.tell(Follow())
    rig.wait_equal()
    assert SNAPSHOT_OPEN in rig.direct.asked and WALK not in rig.direct.asked
    assert rig.backup.get("/Config/Users/u009") is None
    assert rig.backup.head == rig.active.head and rig.backup.verify() == []
    assert "copied the active's store" in rig.status.last_sync
    assert set(rig.status.copy_phases) >= {"snapshot", "transfer", "fsync", "verify", "swap"}
    rig.send(rig.write(user(2)))  # the stream follows from the copy's seq
    rig.wait_equal()


@pytest.mark.parametrize("prior", ["empty", "diverged"])
def test_an_upgrade_filtered_backup_never_gets_an_unfiltered_copy(rig: Rig, prior: str) -> None:
    """Appendix C: in an upgrade state the backup takes only what the filter admits; the
    copy is the active's whole tree, so it is never asked for ("About the limited
    replication of data during an Upgrade state")."""
    if prior == "diverged":
        rig.backup.write([user(9, 999)])
    rig.write(user(1), Put(Entry.make("/Config/Stations/s1", "Station", {})))
    flt = UpgradeHigherFilter()
    rig.ref.tell(Follow(flt))
    for _ in range(250):
        rig.settle()
        if rig.backup.seq == rig.active.seq and not rig.status.syncing:
            break
        threading.Event().wait(0.02)
    assert SNAPSHOT_OPEN not in rig.direct.asked
    assert rig.backup.get("/Config/Stations/s1") is None
    assert rig.backup.get("/Config/Users/u001") is not None


def test_failed_resync_is_retried_after_delay(rig: Rig) -> None:
    rig.write(user(1))
    rig.direct.fail = True
    rig.ref.tell(Follow())
    for _ in range(50):
        rig.settle()
        if rig.status.error:
            break
        threading.Event().wait(0.02)
    assert "resync failed" in rig.status.error
    rig.direct.fail = False
    rig.clock.advance(5)
    rig.wait_equal()


def test_upgrade_higher_filter_keeps_phones_and_handlers_out(active: DSStore,
                                                              backup: DSStore) -> None:
    rig = Rig(active, backup)
    try:
        rig.write(user(1), Put(Entry.make("/Config/Stations/s1", "Station", {})))
        rig.ref.tell(Follow(UpgradeHigherFilter()))
        assert rig.synced.wait(10)
        rig.settle()
        assert backup.get("/Config/Users/u001") is not None
        assert backup.get("/Config/Stations/s1") is None
        rig.send(rig.write(Put(Entry.make("/Config/Stations/s2", "Station", {}))))
        rig.send(rig.write(user(2)))
        for _ in range(50):
            rig.settle()
            if backup.seq == active.seq:
                break
            threading.Event().wait(0.02)
        assert backup.get("/Config/Users/u002") is not None
        assert backup.get("/Config/Stations/s2") is None
    finally:
        rig.close()


def test_resync_request_while_syncing_runs_again(rig: Rig) -> None:
    rig.write(user(0))
    rig.direct.hold_after(SNAPSHOT_OPEN, WALK)  # the first resync read its snapshot (head 1)
    rig.ref.tell(Follow())
    assert rig.direct.answered.wait(5)
    rig.write(user(5))  # its change event is lost: only a second resync brings it
    rig.ref.tell(Resync("reconnected"))
    rig.settle()
    rig.direct.resume.set()
    rig.wait_equal()
    assert len(rig.cancels) == 2 and rig.backup.get("/Config/Users/u005") is not None


def test_a_stopped_follower_fires_no_stale_ack_retry(rig: Rig) -> None:
    """A failed ack is tried again after a delay; once this host no longer follows (a
    stop, a role change) that retry is cancelled with the other timers."""
    rig.ref.tell(Follow())
    rig.wait_equal()
    rig.ack_ok = False
    rig.send(rig.write(user(1)))
    rig.wait_equal()
    assert rig.acks_sent == [1] and rig.clock.pending() == 1  # the ack's retry
    rig.clock.advance(RETRY_DELAY)
    rig.settle()
    assert rig.acks_sent == [1, 1] and rig.clock.pending() == 1  # failed again: armed again
    rig.ref.tell(Unfollow())
    rig.settle()
    assert rig.clock.pending() == 0


def replicated(store: DSStore, flt: Any) -> list[Entry]:
    """The active's tree as a backup replicates it under `flt`."""
    return [e for e in (flt.admits(e) for e in store.walk()) if e is not None]


@pytest.mark.parametrize("held, prior", [
    (None, ""),  # the first resync waits for its first request (the head)
    ({SNAPSHOT_CHUNK}, ""),  # ... for its last one, a chunk of the active's store file
    ({SNAPSHOT_CHUNK}, "diverged"),  # ... the same, to replace a diverged store
    ({WALK}, "unsynced"),  # ... for its last one, before writing repairs
], ids=["first-request", "last-request-copy", "last-request-copy-diverged",
        "last-request-repairs"])
def test_follow_with_a_new_filter_cancels_the_resync_under_way(
        rig: Rig, held: set[str] | None, prior: str) -> None:
    if prior:  # an old active's own change; the station is the only subtree to fetch
        rig.backup.write([user(1, 111), user(2)])
    if prior == "unsynced":  # a resync was cut short: compare-and-update repairs it
        rig.backup.sync_batch([])
    rig.write(user(1), Put(Entry.make("/Config/Stations/s1", "Station", {})))
    rig.write(user(2))
    rig.direct.held = held
    rig.direct.gate.clear()
    rig.ref.tell(Follow())  # the whole tree
    assert rig.direct.waiting.wait(5)
    new = UpgradeHigherFilter()  # e.g. the upgrade state changed: phones stay out
    rig.ref.tell(Follow(new))
    rig.settle()
    assert len(rig.cancels) == 2
    assert rig.cancels[0].is_set() and not rig.cancels[1].is_set()
    assert rig.status.syncing and rig.synced_count == 0
    rig.direct.gate.set()
    for _ in range(500):
        rig.settle()
        if not rig.status.syncing:
            break
        threading.Event().wait(0.02)
    rig.settle()
    assert not rig.status.syncing and rig.status.error == ""
    # the first resync wrote nothing: no station reached the backup
    assert list(rig.backup.walk()) == replicated(rig.active, new)
    assert rig.backup.get("/Config/Stations/s1") is None
    assert rig.backup.synced and rig.backup.seq == rig.active.seq
    assert rig.synced_count == 1 and rig.status.resyncs == 1  # the second one only
    rig.send(rig.write(user(3), Put(Entry.make("/Config/Stations/s2", "Station", {}))))
    for _ in range(250):
        rig.settle()
        if rig.backup.seq == rig.active.seq:
            break
        threading.Event().wait(0.02)
    assert list(rig.backup.walk()) == replicated(rig.active, new)  # the stream: new filter


# -- wire encodings -------------------------------------------------------------------


def test_level_and_change_encodings_round_trip(active: DSStore) -> None:
    sets = [active.write([user(i)]) for i in range(3)]
    level = active.child_nodes(["/", "/Config", "/Config/Users"])
    assert decode_level(encode_level(level)) == level
    assert unpack_changes(pack_changes(sets)) == sets
    assert unpack_changes(pack_changes(sets, max_ops=1)) == sets[:1]


def test_malformed_peer_input_is_refused() -> None:
    with pytest.raises(DSError):
        decode_level([b"[[\"/\", [\"a\"]]]", b"short"])
    with pytest.raises(DSError):
        unpack_changes([b"\x00\x00\x00\x05abc"])


def test_ack_board_waits_for_the_backup_and_records_lag() -> None:
    board = AckBoard()
    assert not board.wait(3, 0.01)
    assert board.snapshot()["lagging_since"] == 3
    board.ack("s1", 3)
    assert board.wait(3, 0.01) and board.snapshot()["lagging_since"] is None
    board.ack("s2", 1)  # a new backup session starts over
    assert board.snapshot()["seq"] == 1


def test_an_ack_is_answered_while_a_long_write_holds_the_store(active: DSStore) -> None:
    """Acks are answered on the Notifier's loop thread: a read under the store's lock
    there would stall its heartbeats for as long as an import holds it."""
    server = DSServer(active, lambda: "A", AckBoard())
    replies: list[Any] = []
    answered = threading.Event()

    def reply(status: str, body: Any = None, *_: Any) -> None:
        replies.append((status, body))
        answered.set()

    env = Envelope("request", "SwitchoverService", "DSServer", "DS Ack", 1,
                   body={"seq": 4, "session": "s1"})
    release = threading.Event()
    holding = threading.Event()

    def long_import() -> None:
        with active._lock:  # what a long import does for its whole transaction
            holding.set()
            release.wait(5)

    thread = threading.Thread(target=long_import)
    thread.start()
    try:
        assert holding.wait(5)
        server.handle(env, (), reply)
        assert answered.wait(0.5), "the ack waited for the store"
    finally:
        release.set()
        thread.join()
        server.close()
    assert replies == [("ok", {"seq": 4})]
