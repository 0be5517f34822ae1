"""Paths, macros, entries and limits of the DS tree."""
from __future__ import annotations

import pytest

from switchover.replication.ds.changes import ChangeSet, Delete, Put, check_ops, effect_of
from switchover.replication.ds.tree import (MAX_ATTRIBUTE_BYTES, MAX_DEPTH, MAX_OPS_PER_WRITE, DSError,
                                 Entry, ancestors, expand, is_under, join, name_of,
                                 normalize, parent_of)


@pytest.mark.parametrize("raw, canonical", [
    ("/Config/Users/alice", "/Config/Users/alice"),
    ("\\Config\\Users\\alice", "/Config/Users/alice"),
    ("/Config/Default User/", "/Config/Default User"),
    ("/", "/"),
    ("/Config/Users/john.doe@example.com", "/Config/Users/john.doe@example.com"),
    ("/Config/Users/Cafe\u0301", "/Config/Users/Caf\u00e9"),
])
def test_normalize_accepts(raw: str, canonical: str) -> None:
    assert normalize(raw) == canonical


@pytest.mark.parametrize("raw, complaint", [
    ("", "empty"),
    ("Config/Users", "not absolute"),
    ("/Config//Users", "empty segment"),
    ("/Config/./Users", "'.'"),
    ("/Config/../etc", "'..'"),
    ("/Config/ Users", "leading or trailing spaces"),
    ("/Config/Us\x00ers", "not allowed"),
    ("/Config/${X}", "not allowed"),
    ("/" + "a" * 1100, "characters long"),
    ("/a" * (MAX_DEPTH + 1), "levels deep"),
    ("/" + "b" * 300, "longer than 255"),
])
def test_normalize_refuses_with_reason(raw: str, complaint: str) -> None:
    with pytest.raises(DSError, match=complaint.replace("(", r"\(").replace(".", r"\.")):
        normalize(raw)


def test_macros_expand_to_config_and_active_server() -> None:
    assert expand("${CONFIG}\\Users", "ICServer1") == "/Config/Users"
    assert expand("${SERVER}/Workstations", "ICServer1") == "/Servers/ICServer1/Workstations"
    assert expand("${config}", "ICServer1") == "/Config"
    assert expand("/Config/Roles", "x") == "/Config/Roles"


@pytest.mark.parametrize("raw, complaint", [
    ("${NOPE}/Users", "unknown macro"),
    ("/Config/${CONFIG}", "must begin the path"),
    ("${CONFIG}Users", "separator must follow"),
    ("${SERVER}/X", "no active server"),
])
def test_bad_macros_are_refused(raw: str, complaint: str) -> None:
    with pytest.raises(DSError, match=complaint):
        expand(raw, "" if "SERVER" in raw else "ICServer1")


def test_path_helpers() -> None:
    assert parent_of("/a/b/c") == "/a/b" and parent_of("/a") == "/"
    assert name_of("/a/b c") == "b c"
    assert join("/", "a") == "/a" and join("/a", "b") == "/a/b"
    assert list(ancestors("/a/b/c")) == ["/a/b", "/a"]
    assert is_under("/a/b", "/a") and is_under("/a", "/a") and not is_under("/ab", "/a")


def test_entry_is_frozen_sorted_and_comparable() -> None:
    e = Entry.make("/Config/Users/alice", "User", {"Extension": "101", "Name": ["Alice"]},
                   ["written_by_installer"])
    assert list(e.attributes) == ["Extension", "Name"]
    assert e.attributes["Extension"] == ("101",) and e.value("Name") == "Alice"
    assert e == Entry("/Config/Users/alice", "User", {"Name": ("Alice",), "Extension": ("101",)},
                      frozenset({"written_by_installer"}))
    with pytest.raises(AttributeError):
        e.path = "/x"  # type: ignore[misc]
    with pytest.raises(TypeError):
        e.attributes["X"] = ("1",)  # type: ignore[index]
    assert e.without_attributes(["extension"]).attributes.keys() == {"Name"}
    assert hash(e) == hash(Entry.make(e.path, "User", dict(e.attributes), e.flags))


@pytest.mark.parametrize("kwargs, complaint", [
    (dict(ds_class=""), "not a valid class name"),
    (dict(ds_class="1User"), "not a valid class name"),
    (dict(attributes={"": "x"}), "attribute name"),
    (dict(attributes={"A(b)": "x"}), "one of"),
    (dict(attributes={"Big": "x" * (MAX_ATTRIBUTE_BYTES + 1)}), "at most 65536"),
    (dict(attributes={"N": [1]}), "non-string"),
    (dict(attributes={"N": "\ud800"}), "not valid Unicode"),
    (dict(flags=["Bad Flag"]), "flag"),
    (dict(path="/"), "root"),
])
def test_entry_limits_are_clear_errors(kwargs: dict, complaint: str) -> None:
    args = dict(path="/Config/Users/alice", ds_class="User", attributes={}, flags=())
    args.update(kwargs)
    with pytest.raises(DSError, match=complaint):
        Entry.make(args["path"], args["ds_class"], args["attributes"], args["flags"])


def test_write_size_limit_and_root_delete() -> None:
    e = Entry.make("/a", "Container")
    with pytest.raises(DSError, match="at most 10000"):
        check_ops([Put(e)] * (MAX_OPS_PER_WRITE + 1))
    with pytest.raises(DSError, match="root"):
        check_ops([Delete("/")])
    with pytest.raises(DSError, match="non-canonical"):
        check_ops([Delete("/a/")])


def test_effect_keeps_sequential_meaning() -> None:
    b = Entry.make("/a/b", "Container")
    c = Entry.make("/a/c", "Container")
    eff = effect_of([Put(b), Delete("/a"), Put(c), Delete("/a/x"), Delete("/q/r"), Delete("/q")])
    assert eff.deletes == {"/a", "/q"}
    assert list(eff.puts) == ["/a/c"]


def test_changeset_wire_round_trip_and_refusals() -> None:
    cs = ChangeSet(7, (Put(Entry.make("/a/b", "User", {"X": ["1", "2"]}, ["written_by_installer"])),
                       Delete("/c")), bytes(range(16)))
    assert ChangeSet.decode(cs.encode()) == cs
    with pytest.raises(DSError, match="malformed"):
        ChangeSet.decode(b"{not json")
    with pytest.raises(DSError, match="seq"):
        ChangeSet.decode(b'{"seq": 0, "chain": "' + b"00" * 16 + b'", "ops": []}')
    with pytest.raises(DSError, match="not absolute"):
        ChangeSet.decode(b'{"seq": 1, "chain": "' + b"00" * 16 + b'", "ops": [["d", "x"]]}')
