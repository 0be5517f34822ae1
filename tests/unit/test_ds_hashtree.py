"""Merkle hashes maintained on write, and the compare-and-update walk."""
from __future__ import annotations

import random
from pathlib import Path
from typing import Sequence

import pytest

from switchover.replication.ds.changes import Delete, Put
from switchover.replication.ds.hashtree import Level, diff
from switchover.replication.ds.store import DSStore
from switchover.replication.ds.sync import compare_and_update
from switchover.replication.ds.tree import Entry


def item(path: str, **attrs: str) -> Entry:
    return Entry.make(path, "Item", attrs or {"v": "1"})


def base_ops() -> list[Put]:
    return [Put(item(f"/Config/{a}/{b}", v=f"{a}{b}")) for a in "abc" for b in "xyz"]


@pytest.fixture
def pair(tmp_path: Path):
    local, remote = DSStore(tmp_path / "l.db"), DSStore(tmp_path / "r.db")
    local.write(base_ops())
    remote.write(base_ops())
    yield local, remote
    local.close()
    remote.close()


def test_identical_trees_cost_one_comparison(pair) -> None:
    local, remote = pair
    d = diff(local, remote)
    assert d.empty and d.comparisons == 1 and d.levels == 0


def test_one_changed_entry(pair) -> None:
    local, remote = pair
    remote.write([Put(item("/Config/b/y", v="new"))])
    d = diff(local, remote)
    assert d.fetch == ["/Config/b/y"] and not d.fetch_subtrees and not d.delete


def test_one_changed_attribute_of_a_container(pair) -> None:
    local, remote = pair
    remote.write([Put(Entry.make("/Config/a", "Container", {"Note": "x"}))])
    d = diff(local, remote)
    assert d.fetch == ["/Config/a"] and not d.delete and not d.fetch_subtrees


def test_deleted_subtree(pair) -> None:
    local, remote = pair
    remote.write([Delete("/Config/c")])
    d = diff(local, remote)
    assert d.delete == ["/Config/c"] and not d.fetch and not d.fetch_subtrees


def test_added_subtree(pair) -> None:
    local, remote = pair
    remote.write([Put(item("/Config/d/q/r")), Put(item("/Config/d/q/s"))])
    d = diff(local, remote)
    assert d.fetch_subtrees == ["/Config/d"] and not d.fetch and not d.delete


def test_prefix_and_pruning(pair) -> None:
    local, remote = pair
    remote.write([Put(item("/Config/a/x", v="changed")), Put(item("/Config/b/x", v="c"))])
    assert diff(local, remote, prefix="/Config/a").fetch == ["/Config/a/x"]
    d = diff(local, remote, admits_path=lambda p: not p.startswith("/Config/b"))
    assert d.fetch == ["/Config/a/x"]


def test_hashes_independent_of_write_history(tmp_path: Path) -> None:
    a, b = DSStore(tmp_path / "a.db"), DSStore(tmp_path / "b.db")
    ops = base_ops()
    a.write(ops)
    for op in reversed(ops):
        b.write([op])
    b.write([Put(item("/Config/zz")), Delete("/Config/zz")])
    assert a.subtree_hash("/") == b.subtree_hash("/")
    assert a.child_hashes("/Config") == b.child_hashes("/Config")
    assert a.verify() == [] and b.verify() == []


class CountingView:
    """A remote view that counts level requests, as a network proxy would send them."""

    def __init__(self, store: DSStore) -> None:
        self.store, self.calls = store, 0

    def subtree_hash(self, path: str) -> bytes | None:
        return self.store.subtree_hash(path)

    def child_nodes(self, parents: Sequence[str]) -> Level:
        self.calls += 1
        return self.store.child_nodes(parents)


def test_ten_thousand_entries_one_change_is_cheap(tmp_path: Path) -> None:
    ops = [Put(item(f"/Config/g{i // 1000}/h{i // 100 % 10}/e{i}", v=str(i)))
           for i in range(10_000)]
    local, remote = DSStore(tmp_path / "l.db"), DSStore(tmp_path / "r.db")
    local.write(ops)
    remote.write(ops)
    remote.write([Put(item("/Config/g7/h3/e7345", v="changed"))])
    view = CountingView(remote)
    d = diff(local, view)
    assert d.fetch == ["/Config/g7/h3/e7345"]
    # root, /Config's 10 groups, g7's 10 halves, h3's 100 entries: ~3 per differing node
    assert d.comparisons < 150, d.comparisons
    assert view.calls == d.levels == 4  # one request per level, not per node
    local.close()
    remote.close()


def test_compare_and_update_makes_trees_equal(pair) -> None:
    local, remote = pair
    local.write([Put(item("/Config/only-local/x")), Put(item("/Config/a/x", v="old"))])
    remote.write([Delete("/Config/b"), Put(item("/Config/new/deep/e")),
                  Put(item("/Config/a/x", v="newer"))])
    report = compare_and_update(local, remote, remote.head)
    assert local.subtree_hash("/") == remote.subtree_hash("/")
    assert local.head == remote.head and local.synced
    assert report.fetched == 4 and report.deleted == 2  # x; new, new/deep, new/deep/e
    assert "synchronised to change" in report.sentence()
    again = compare_and_update(local, remote, remote.head)
    assert again.comparisons == 1 and "already in sync" in again.sentence()


@pytest.mark.parametrize("seed", range(4))
def test_incremental_hashes_match_recomputation(tmp_path: Path, seed: int) -> None:
    """Random batches (deletes, re-creations, deep puts): incremental equals from-scratch."""
    rnd = random.Random(seed)
    names = ["a", "b", "c"]

    def path() -> str:
        return "/" + "/".join(rnd.choice(names) for _ in range(rnd.randint(1, 4)))

    s = DSStore(tmp_path / "s.db")
    for _ in range(60):
        ops = []
        for _ in range(rnd.randint(1, 6)):
            if rnd.random() < 0.3:
                ops.append(Delete(path()))
            else:
                ops.append(Put(item(path(), v=str(rnd.randint(0, 3)))))
        s.write(ops)
        assert s.verify() == []
    rebuilt = DSStore(tmp_path / "r.db")
    rebuilt.write([Put(x) for x in s.walk()])
    assert rebuilt.subtree_hash("/") == s.subtree_hash("/")
    s.close()
    rebuilt.close()


def big_tree() -> list[Put]:
    ops = [Put(item(f"/Config/Users/g{i // 1000}/u{i:04d}", v=str(i))) for i in range(3000)]
    ops += [Put(Entry.make("/Config/flagged", "Item", {"b": ["2", "1"], "a": "x"},
                           ["written_by_installer"])),
            Put(item("/Config/Users/g1/u1001/Mail", v="m"))]
    return ops


def test_big_containers_are_compared_by_buckets(tmp_path: Path) -> None:
    local, remote = DSStore(tmp_path / "l.db"), DSStore(tmp_path / "r.db")
    for store in (local, remote):
        store.write(big_tree())
    remote.write([Put(item("/Config/Users/g1/u1500", v="changed")),
                  Put(item("/Config/Users/g2/new")), Delete("/Config/Users/g0/u0007")])
    local.write([Put(item("/Config/Users/g1/u1501/extra"))])
    d = diff(local, remote)
    assert d.fetch == ["/Config/Users/g1/u1500"]
    assert d.fetch_subtrees == ["/Config/Users/g2/new"]
    assert sorted(d.delete) == ["/Config/Users/g0/u0007", "/Config/Users/g1/u1501/extra"]
    assert d.comparisons < 500, d.comparisons  # not 3,000 children listed
    compare_and_update(local, remote, remote.head)
    assert local.subtree_hash("/") == remote.subtree_hash("/") and local.verify() == []


def test_empty_store_is_bulk_loaded_with_its_own_hashes(tmp_path: Path) -> None:
    local, remote = DSStore(tmp_path / "l.db"), DSStore(tmp_path / "r.db")
    remote.write(big_tree())
    report = compare_and_update(local, remote, remote.head)
    assert report.fetched == remote.count() == local.count()
    assert local.subtree_hash("/") == remote.subtree_hash("/")
    assert local.verify() == [] and local.synced and local.head == remote.head
    assert local.get("/Config/flagged") == remote.get("/Config/flagged")
    assert [e.path for e in local.children("/Config/Users")] == [
        "/Config/Users/g0", "/Config/Users/g1", "/Config/Users/g2"]
    local.write([Delete("/Config/Users/g1")])  # the index and the count work on
    assert local.count() == remote.count() - 1002 and local.verify() == []


def test_bulk_load_validates_and_rolls_back(tmp_path: Path) -> None:
    from switchover.replication.ds.tree import DSError

    store = DSStore(tmp_path / "l.db")
    good = ("/Config/a", "Item", {"v": ["1"]}, [])
    for bad in [("/Config/b/", "Item", {}, []), ("/Config/b", "1tem", {}, []),
                ("/Config/b", "Item", {"v": "not a list"}, []),
                ("/Config/b", "Item", {"v": [1]}, []), ("/Config/b", "Item", {}, ["Bad"]),
                ("/Config/a", "Item", {}, [])]:  # the same path twice
        with pytest.raises(DSError):
            store.load([[good, bad]])
        assert store.count() == 0 and store.synced and store.walk_page("/", None, 10) == []
    # an orphan (its parent created after the walk passed it) gets container ancestors
    store.load([[("/Config/x/y/z", "Item", {"v": ["1"]}, [])]])
    assert store.get("/Config/x/y").ds_class == "Container" and store.verify() == []
    assert not store.synced
    store.close()
