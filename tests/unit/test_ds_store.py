"""DSStore: transactions, sequence numbers, change log, follower apply, crash consistency."""
from __future__ import annotations

import io
import os
import random
import signal
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from switchover.replication.ds.changes import GENESIS, ChangeSet, Delete, Put
from switchover.replication.ds.store import DSStore, GapError
from switchover.replication.ds.tree import DSError, Entry

ROOT_DIR = Path(__file__).resolve().parents[2]


def user(name: str, ext: str = "100", **more: str) -> Entry:
    return Entry.make(f"/Config/Users/{name}", "User", {"Extension": ext, **more})


@pytest.fixture
def store(tmp_path: Path) -> DSStore:
    s = DSStore(tmp_path / "ds.db")
    yield s
    s.close()


def test_write_is_numbered_and_creates_containers(store: DSStore) -> None:
    cs = store.write([Put(user("alice")), Put(user("bob"))])
    assert cs.seq == 1 and store.seq == 1 and store.chain == cs.chain != GENESIS
    assert store.get("/Config/Users").ds_class == "Container"
    assert [e.path for e in store.children("/Config/Users")] == [
        "/Config/Users/alice", "/Config/Users/bob"]
    assert [e.path for e in store.walk("/Config")] == [
        "/Config", "/Config/Users", "/Config/Users/alice", "/Config/Users/bob"]
    assert store.verify() == []


def test_put_keeps_children_and_delete_removes_subtree(store: DSStore) -> None:
    store.write([Put(user("alice")), Put(Entry.make("/Config/Users/alice/Mail", "Container"))])
    store.write([Put(user("alice", "200"))])
    assert store.get("/Config/Users/alice").value("Extension") == "200"
    assert store.get("/Config/Users/alice/Mail") is not None
    store.write([Put(Entry.make("/Config/Users alt", "Container")), Delete("/Config/Users")])
    assert [e.path for e in store.walk()] == ["/Config", "/Config/Users alt"]
    assert store.verify() == []


def test_refused_write_changes_nothing(store: DSStore) -> None:
    store.write([Put(user("alice"))])
    before = (store.seq, store.subtree_hash("/"))

    def guard(ops):
        raise DSError("no")

    store.add_guard(guard)
    with pytest.raises(DSError, match="no"):
        store.write([Put(user("bob"))])
    assert (store.seq, store.subtree_hash("/")) == before and store.get("/Config/Users/bob") is None


def test_changes_since_and_follower_apply(tmp_path: Path, store: DSStore) -> None:
    for i in range(5):
        store.write([Put(user(f"u{i}"))])
    store.write([Delete("/Config/Users/u0")])
    follower = DSStore(tmp_path / "f.db")
    sets = store.changes_since(0)
    assert [c.seq for c in sets] == [1, 2, 3, 4, 5, 6]
    for cs in sets:
        assert follower.apply(ChangeSet.decode(cs.encode()))
    assert follower.subtree_hash("/") == store.subtree_hash("/") and follower.head == store.head
    assert not follower.apply(sets[2])  # already applied: a no-op
    assert store.changes_since(6) == [] and len(store.changes_since(2, limit=2)) == 2
    with pytest.raises(GapError, match="is at 6"):
        store.changes_since(9)
    follower.close()


def test_apply_refuses_gaps_and_divergence(tmp_path: Path, store: DSStore) -> None:
    a = store.write([Put(user("a"))])
    b = store.write([Put(user("b"))])
    f = DSStore(tmp_path / "f.db")
    with pytest.raises(GapError, match="expected change 1, received 2"):
        f.apply(b)
    f.apply(a)
    forged = ChangeSet(2, (Put(user("zzz")),), b.chain)
    with pytest.raises(GapError, match="diverged"):
        f.apply(forged)
    # a follower whose history differs is told so when it asks for changes
    other = DSStore(tmp_path / "o.db")
    other.write([Put(user("x"))])
    with pytest.raises(GapError, match="diverged"):
        store.changes_since(1, other.chain)
    assert store.changes_since(1, a.chain)[0].seq == 2
    f.close()
    other.close()


def test_log_is_bounded_and_gap_reported(tmp_path: Path) -> None:
    s = DSStore(tmp_path / "s.db", log_limit=10)
    for i in range(30):
        s.write([Put(user(f"u{i}"))])
    assert 20 <= s.floor < 30
    with pytest.raises(GapError, match="trimmed"):
        s.changes_since(1)
    assert [c.seq for c in s.changes_since(s.floor)][-1] == 30
    assert s.verify() == []
    s.close()


def test_resync_blocks_stream_until_marked(tmp_path: Path, store: DSStore) -> None:
    store.write([Put(user("a"))])
    cs = store.write([Put(user("b"))])
    f = DSStore(tmp_path / "f.db")
    f.sync_batch([Put(user("a"))])
    assert not f.synced
    with pytest.raises(GapError, match="resync"):
        f.apply(cs)
    f.mark_synced(1, store.changes_since(0)[0].chain)
    assert f.apply(cs) and f.subtree_hash("/") == store.subtree_hash("/")
    f.close()


def test_subscribers_see_commits_and_cannot_break_them(store: DSStore) -> None:
    seen: list[int] = []
    store.subscribe(lambda cs: 1 / 0)
    unsubscribe = store.subscribe(lambda cs: seen.append(cs.seq))
    store.write([Put(user("a"))])
    unsubscribe()
    store.write([Put(user("b"))])
    assert seen == [1] and store.seq == 2


def test_export_import_round_trip(tmp_path: Path, store: DSStore) -> None:
    admin = Entry.make("/Config/Roles/Admin", "Role", flags=["written_by_installer"])
    store.write([Put(user("a", "1", Name="Ä")), Put(admin)])
    buf = io.BytesIO()
    assert store.export(buf) == 5
    other = DSStore(tmp_path / "o.db")
    other.write([Put(user("stale"))])
    buf.seek(0)
    other.import_(buf)
    assert other.subtree_hash("/") == store.subtree_hash("/")
    with pytest.raises(DSError, match="line 2"):
        other.import_(io.BytesIO(b'{"format":"switchover-ds","version":1}\n{"path":"x"}\n'))
    other.close()


WRITER = textwrap.dedent("""
    import sys
    from pathlib import Path
    from switchover.replication.ds.changes import Delete, Put
    from switchover.replication.ds.store import DSStore
    from switchover.replication.ds.tree import Entry
    store = DSStore(Path(sys.argv[1]))
    k = int(sys.argv[2])
    i = store.seq
    print("ready", flush=True)
    while True:
        i += 1
        ops = [Put(Entry.make(f"/Batches/b{i}/e{j}", "Item", {"batch": str(i)}))
               for j in range(k)]
        if i > 5:
            ops.append(Delete(f"/Batches/b{i - 5}"))
        store.write(ops)
""")


@pytest.mark.parametrize("round_", range(3))
def test_kill_9_leaves_store_consistent(tmp_path: Path, round_: int) -> None:
    path, k = tmp_path / "crash.db", 40
    env = dict(os.environ, PYTHONPATH=str(ROOT_DIR))
    for _ in range(2):  # kill, reopen in a new writer, kill again
        proc = subprocess.Popen([sys.executable, "-c", WRITER, str(path), str(k)],
                                stdout=subprocess.PIPE, env=env, cwd=ROOT_DIR)
        assert proc.stdout.readline().strip() == b"ready"
        try:
            proc.wait(timeout=random.uniform(0.05, 0.6))
        except subprocess.TimeoutExpired:
            os.kill(proc.pid, signal.SIGKILL)
        assert proc.wait() == -signal.SIGKILL  # killed mid-loop, not crashed by itself
        proc.stdout.close()
    s = DSStore(path)
    try:
        seq = s.seq
        assert seq > 0
        assert s.verify() == []  # hashes recompute equal, log contiguous up to seq
        batches: dict[int, int] = {}
        for e in s.walk("/Batches"):
            if e.ds_class == "Item":
                assert e.value("batch") == e.path.split("/")[2][1:]
                batches[int(e.value("batch"))] = batches.get(int(e.value("batch")), 0) + 1
        assert set(batches) == set(range(max(1, seq - 4), seq + 1))  # nothing beyond seq
        assert all(n == k for n in batches.values())  # every batch whole
        log = s.changes_since(s.floor)
        assert [c.seq for c in log] == list(range(s.floor + 1, seq + 1))
    finally:
        s.close()
