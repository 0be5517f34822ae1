"""Appendix C: what each upgrade state replicates, and the parameter syntax."""
from __future__ import annotations

from pathlib import Path

import pytest

from switchover.replication.ds.changes import ChangeSet, Delete, Put
from switchover.replication.ds.hashtree import diff
from switchover.replication.ds.store import DSStore
from switchover.replication.ds.sync import compare_and_update
from switchover.replication.ds.tree import Entry
from switchover.replication.upgrade.filters import (FULL, UpgradeHigherFilter, UpgradeLowerFilter,
                                         filter_for_state)
from switchover.replication.upgrade.spec import (DEFAULT_SYNC_DIRS, SpecError, parse_attribute_exceptions,
                                      parse_ds_paths)

SERVER = "ICServer1"


def e(path: str, cls: str = "Item", flags: tuple[str, ...] = (), **attrs: str) -> Entry:
    return Entry.make(path, cls, attrs, flags)


# -- parameter syntax ----------------------------------------------------------------

def test_reference_example_paths() -> None:
    # printed in the reference as \${CONFIG}\Users;\${CONFIG}\Passwords
    assert parse_ds_paths(r"\${CONFIG}\Users;\${CONFIG}\Passwords", SERVER) == (
        "/Config/Users", "/Config/Passwords")
    assert parse_ds_paths(r" ${CONFIG}\Users ; ${SERVER}/Workstations ;", SERVER) == (
        "/Config/Users", "/Servers/ICServer1/Workstations")
    assert len(parse_ds_paths(DEFAULT_SYNC_DIRS, SERVER)) == 7
    assert parse_ds_paths("", SERVER) == () and parse_ds_paths(None, SERVER) == ()


@pytest.mark.parametrize("text, complaint", [
    ("Config\\Users", "must start with"),
    ("${CONFIG}\\Users;${BOGUS}\\X", r"item 2 .*unknown macro"),
    ("${CONFIG}\\..\\Users", r"'\.\.'"),
    ("${CONFIG}Users", "separator must follow"),
])
def test_bad_paths_are_clear_errors(text: str, complaint: str) -> None:
    with pytest.raises(SpecError, match=complaint):
        parse_ds_paths(text, SERVER)


def test_reference_example_attribute_exceptions() -> None:
    assert parse_attribute_exceptions(
        "User(Workgroups, Extension);Workgroup(Members, View User Queue List)") == {
        "User": frozenset({"Workgroups", "Extension"}),
        "Workgroup": frozenset({"Members", "View User Queue List"})}
    assert parse_attribute_exceptions(" User(A); User(B) ;") == {"User": frozenset({"A", "B"})}


@pytest.mark.parametrize("text, complaint", [
    ("User(Workgroups", "never closed"),
    ("(Members)", "class name before '\\(' is empty"),
    ("User", "parentheses is missing"),
    ("User()", "no attribute names"),
    ("User(A,,B)", "attribute name is empty"),
    ("User(A) Workgroup(B)", "nothing may follow"),
    ("User(A(B))", "more than one"),
    ("Us;er(A)", "parentheses is missing"),
])
def test_bad_attribute_exceptions_are_clear_errors(text: str, complaint: str) -> None:
    with pytest.raises(SpecError, match="Custom Upgrade Attribute Exceptions.*" + complaint):
        parse_attribute_exceptions(text)


# -- Upgrade Higher: opt-out --------------------------------------------------------

def test_higher_replicates_all_but_handlers_phones_installer_and_exclusions() -> None:
    f = UpgradeHigherFilter.from_parameters(
        {"switchover upgrade higher ds exclusions": r"${CONFIG}\Skills"}, SERVER)
    alice = e("/Config/Users/alice", "User", Extension="101")
    assert f.admits(alice) is alice
    assert f.admits(e("/Config/Handlers/Custom", "Handler")) is None
    assert f.admits(e("/Config/Something/Publish", "Handler")) is None
    assert f.admits(e("/Servers/ICServer1/Handlers/x")) is None
    assert f.admits(e("/Config/Stations/s1", "Station")) is None
    assert f.admits(e("/Config/Lines/l1", "Line")) is None
    assert f.admits(e("/Config/Roles/Admin", "Role", flags=("written_by_installer",))) is None
    assert f.admits(e("/Config/Skills/French")) is None
    assert not f.admits_path("/Config/Skills") and not f.admits_path("/Config/handlers/x")
    assert f.admits_path("/Config") and f.admits_path("/Config/Stations")


# -- Upgrade Lower: opt-in ----------------------------------------------------------

def lower(params: dict[str, str] | None = None) -> UpgradeLowerFilter:
    return UpgradeLowerFilter.from_parameters(params or {}, SERVER)


def test_lower_replicates_only_the_default_and_added_directories() -> None:
    f = lower({"Custom Upgrade Synchronization Directories": r"${CONFIG}\Skills"})
    for path in ["/Config/Users/alice", "/Config/Passwords/alice", "/Config/Workgroups/Sales",
                 "/Config/Roles/Admin", "/Config/Default User", "/config/users/bob",
                 "/Servers/ICServer1/Workstations/ws1", "/Config/ProcessAutomation/p",
                 "/Config/Skills/French"]:
        assert f.admits(e(path)) is not None, path
    for path in ["/Config/Lines/l1", "/Config", "/Servers/ICServer1/Server Parameters/x",
                 "/Servers/ICServer2/Workstations/ws1", "/Config/UsersX"]:
        assert f.admits(e(path)) is None, path
    assert f.admits_path("/") and f.admits_path("/Config") and f.admits_path("/Servers")
    assert not f.admits_path("/Config/Lines") and not f.admits_path("/Servers/ICServer2")


def test_lower_drops_excepted_attributes_of_those_classes_only() -> None:
    f = lower({"Custom Upgrade Attribute Exceptions":
               "User(Workgroups, Extension);Workgroup(Members, View User Queue List)"})
    alice = e("/Config/Users/alice", "User", Extension="101", Workgroups="Sales", Name="A")
    assert dict(f.admits(alice).attributes) == {"Name": ("A",)}
    sales = e("/Config/Workgroups/Sales", "Workgroup", Members="alice", Extension="200")
    assert dict(f.admits(sales).attributes) == {"Extension": ("200",)}
    role = e("/Config/Roles/R", "Role", Members="alice")
    assert f.admits(role) is role


def test_filter_for_state() -> None:
    assert filter_for_state("Backup", {}, SERVER) is FULL
    assert isinstance(filter_for_state("UpgradeHigher", {}, SERVER), UpgradeHigherFilter)
    assert isinstance(filter_for_state("UpgradeLower", {}, SERVER), UpgradeLowerFilter)
    with pytest.raises(SpecError, match="Custom Upgrade Attribute Exceptions"):
        filter_for_state("UpgradeLower",
                         {"Custom Upgrade Attribute Exceptions": "User(Workgroups"}, SERVER)


# -- filters applied by the store ---------------------------------------------------

def test_stream_and_resync_under_lower_filter(tmp_path: Path) -> None:
    f = lower({"Custom Upgrade Attribute Exceptions": "User(Extension)"})
    active, backup = DSStore(tmp_path / "a.db"), DSStore(tmp_path / "b.db")
    backup.write([Put(e("/Config/Lines/mine", "Line")), Put(e("/Config/Users/old", "User"))])
    active.write([Put(e("/Config/Users/alice", "User", Extension="1", Name="A")),
                  Put(e("/Config/Lines/l1", "Line"))])
    compare_and_update(backup, active, active.head, f)
    assert backup.get("/Config/Users/alice").attributes == {"Name": ("A",)}
    assert backup.get("/Config/Users/old") is None  # replicated area mirrors the active
    assert backup.get("/Config/Lines/mine") is not None and backup.get("/Config/Lines/l1") is None
    cs = active.write([Put(e("/Config/Users/bob", "User", Extension="2")),
                       Put(e("/Config/Lines/l2", "Line")), Delete("/Config")])
    assert backup.apply(ChangeSet.decode(cs.encode()), f)
    assert backup.seq == active.seq  # the stream continues in order
    # Delete("/Config") removed only what is replicated; the backup's own lines stay
    assert backup.get("/Config/Lines/mine") is not None and backup.get("/Config/Users") is None
    assert backup.verify() == []
    active.close()
    backup.close()


def test_higher_filtered_delete_keeps_excluded_descendants(tmp_path: Path) -> None:
    f = UpgradeHigherFilter()
    active, backup = DSStore(tmp_path / "a.db"), DSStore(tmp_path / "b.db")
    ops = [Put(e("/Config/Phones", "Container")), Put(e("/Config/Phones/s1", "Station")),
           Put(e("/Config/Phones/notes")), Put(e("/Config/Phones/s1/cfg"))]
    for store in (active, backup):
        store.write(ops)
    compare_and_update(backup, active, active.head, f)
    assert diff(backup, active).empty
    backup.apply(active.write([Delete("/Config/Phones")]), f)
    assert [x.path for x in backup.walk("/Config")] == [
        "/Config", "/Config/Phones", "/Config/Phones/s1"]
    assert backup.verify() == []
    active.close()
    backup.close()
