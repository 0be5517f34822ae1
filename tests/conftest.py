"""Fixtures every test may use."""
from __future__ import annotations

import shutil
import tempfile
from pathlib import Path
from typing import Iterator

import pykka
import pytest


@pytest.fixture(autouse=True)
def _stop_all_actors() -> Iterator[None]:
    """No actor outlives its test (Pykka's own advice for test suites)."""
    yield
    pykka.ActorRegistry.stop_all()


@pytest.fixture
def short_tmp() -> Iterator[Path]:
    """A short temporary directory: ipc socket paths must stay under ~100 characters."""
    path = Path(tempfile.mkdtemp(prefix="so-"))
    try:
        yield path
    finally:
        shutil.rmtree(path, ignore_errors=True)
