"""Integration fixtures: real host processes on 127.0.0.1, stopped by PID at teardown."""
from __future__ import annotations

from pathlib import Path
from typing import Callable, Iterator

import pytest

from switchover.localpair import LocalPair


@pytest.fixture
def make_pair(short_tmp: Path) -> Iterator[Callable[..., LocalPair]]:
    pairs: list[LocalPair] = []

    def make(**kwargs) -> LocalPair:
        pair = LocalPair(short_tmp / f"pair{len(pairs)}", **kwargs)
        pairs.append(pair)
        return pair

    yield make
    for pair in pairs:
        pair.stop_all()


@pytest.fixture
def pair(make_pair) -> LocalPair:
    return make_pair()
