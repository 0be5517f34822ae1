"""The data dir's stores are created private (0600, dirs 0700) whatever the umask."""
from __future__ import annotations

import logging
import os
import stat
from pathlib import Path
from typing import Iterator

import pytest

from switchover.replication.ds.changes import Put
from switchover.replication.ds.store import DSStore
from switchover.replication.ds.tree import CONTAINER, Entry
from switchover.replication.interactions.store import InteractionStore
from switchover.logs import EventLog, configure_logging
from switchover.private import private_dir, private_file


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


@pytest.fixture(autouse=True)
def open_umask() -> Iterator[None]:
    old = os.umask(0)  # the worst case: nothing taken away
    yield
    os.umask(old)


def test_the_ds_store_and_its_wal_are_0600(tmp_path: Path) -> None:
    store = DSStore(tmp_path / "ds.sqlite")
    try:
        store.write([Put(Entry.make("/Config", CONTAINER, {}))])
        files = sorted(tmp_path.glob("ds.sqlite*"))
        assert {p.name for p in files} >= {"ds.sqlite", "ds.sqlite-wal"}
        assert {p.name: mode(p) for p in files} == {p.name: 0o600 for p in files}
    finally:
        store.close()


def test_the_interaction_store_is_0600(tmp_path: Path) -> None:
    store = InteractionStore(tmp_path / "interactions.sqlite")
    try:
        files = sorted(tmp_path.glob("interactions.sqlite*"))
        assert files and all(mode(p) == 0o600 for p in files), [oct(mode(p)) for p in files]
    finally:
        store.close()


def test_the_event_log_and_the_log_file_are_0600(tmp_path: Path) -> None:
    events = EventLog(tmp_path / "events.jsonl", "ICServer1")
    events.close()
    assert mode(tmp_path / "events.jsonl") == 0o600
    root = logging.getLogger()
    before = list(root.handlers)
    try:
        configure_logging(tmp_path / "switchover.log")
        assert mode(tmp_path / "switchover.log") == 0o600
    finally:
        for handler in list(root.handlers):
            if handler not in before:
                root.removeHandler(handler)
                handler.close()
        for handler in before:
            if handler not in root.handlers:
                root.addHandler(handler)


def test_an_existing_file_or_dir_is_made_private_again(tmp_path: Path) -> None:
    loose = tmp_path / "loose"
    loose.write_text("x")
    loose.chmod(0o644)
    assert mode(private_file(loose)) == 0o600 and loose.read_text() == "x"
    data = tmp_path / "data"
    data.mkdir(mode=0o755)
    assert mode(private_dir(data)) == 0o700
    assert mode(private_dir(tmp_path / "new" / "dir")) == 0o700
