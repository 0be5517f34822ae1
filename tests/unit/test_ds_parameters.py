"""Server parameters stored in the DS tree, validated by an injected catalogue check."""
from __future__ import annotations

from pathlib import Path

import pytest

from switchover.replication.ds.changes import Delete, Put
from switchover.replication.ds.parameters import (ParameterError, ServerParameters, parameter_entry,
                                       parameter_path)
from switchover.replication.ds.store import DSStore
from switchover.replication.ds.tree import Entry


def fake_validate(name: str, value: str) -> None:
    """A two-parameter catalogue, refusing as switchover.params would."""
    if name.casefold() == "switchover ts timeout":
        if not value.isdigit() or not 5 <= int(value) <= 60:
            raise ValueError(f"Switchover TS Timeout: {value!r} is not an integer "
                             "from 5 to 60")
    elif name.casefold() != "custommirrordir":
        raise ValueError(f"{name}: unknown server parameter")


@pytest.fixture
def params(tmp_path: Path):
    store = DSStore(tmp_path / "ds.db")
    yield store, ServerParameters(store, "ICServer1", fake_validate)
    store.close()


def test_parameters_live_under_server_container(params) -> None:
    store, p = params
    p.set("Switchover TS Timeout", "10")
    e = store.get("/Servers/ICServer1/Server Parameters/Switchover TS Timeout")
    assert e.ds_class == "ServerParameter" and e.attributes == {"Value": ("10",)}
    assert p.get("switchover ts timeout") == "10" and p.all() == {"Switchover TS Timeout": "10"}
    p.set("SWITCHOVER TS TIMEOUT", "20")  # case-insensitive: the same entry
    assert p.all() == {"Switchover TS Timeout": "20"}


def test_bad_value_refuses_whole_write_with_validator_message(params) -> None:
    store, p = params
    p.set("CustomMirrorDir", "+/I3/IC/Flows")
    seq = store.seq
    with pytest.raises(ParameterError) as info:
        p.write({"CustomMirrorDir": "+/I3/IC/Resources", "Switchover TS Timeout": "99"})
    assert str(info.value) == "Switchover TS Timeout: '99' is not an integer from 5 to 60"
    assert store.seq == seq and p.get("CustomMirrorDir") == "+/I3/IC/Flows"


def test_guard_applies_to_any_write_through_the_store(params) -> None:
    store, _ = params
    with pytest.raises(ParameterError, match="unknown server parameter"):
        store.write([Put(Entry.make("/Config/Users/a", "User")),
                     Put(parameter_entry("ICServer2", "Bogus", "1"))])
    with pytest.raises(ParameterError, match="class must be ServerParameter"):
        store.write([Put(Entry.make(parameter_path("ICServer1", "CustomMirrorDir"), "User",
                                    {"Value": "x"}))])
    with pytest.raises(ParameterError, match="exactly one value"):
        store.write([Put(Entry.make(parameter_path("ICServer1", "CustomMirrorDir"),
                                    "ServerParameter", {"Value": ["a", "b"]}))])
    assert store.seq == 0


def test_watch_reports_dynamic_changes(params) -> None:
    store, p = params
    p.set("Switchover TS Timeout", "10")
    seen: list[dict] = []
    unwatch = p.watch(seen.append)
    store.write([Put(Entry.make("/Config/Users/a", "User"))])  # not a parameter: silent
    p.write({"Switchover TS Timeout": "15", "CustomMirrorDir": "+/x"})
    p.write({"CustomMirrorDir": None})
    store.write([Delete("/Servers/ICServer1")])
    assert seen == [{"Switchover TS Timeout": "15", "CustomMirrorDir": "+/x"},
                    {"CustomMirrorDir": None}, {"Switchover TS Timeout": None}]
    unwatch()
