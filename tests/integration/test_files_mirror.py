"""Mirrored directories between two real host processes, each with its own root.

Reference: "Synchronizing CIC directories on both servers" through "Mirror exceptions"
(what is mirrored, `+` for recursive, InitialMirrorDir only at start, MirrorExceptions),
"File replication warnings" and "Configuration options for File Monitor health checks".
"""
from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from switchover.localpair import LocalPair

pytestmark = pytest.mark.integration

SCALE = 0.1
PARAMS = {
    "CustomMirrorDir": "+/data/rec;/data/flat",
    "MirrorExceptions": "txt",
    "Switchover File Monitor Health Check Interval": 1,
    "Switchover File Monitor Health Check Timeout": 10,
}
BIG = 200 * 1024 * 1024


def sha(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        while chunk := f.read(1 << 20):
            h.update(chunk)
    return h.hexdigest()


def tree(base: Path) -> dict[str, tuple]:
    """Everything under `base`: files by (size, mtime, sha256), directories by name."""
    out: dict[str, tuple] = {}
    for path in sorted(base.rglob("*")):
        rel = str(path.relative_to(base))
        if path.is_dir():
            out[rel] = ("dir",)
        else:
            st = path.stat()
            out[rel] = ("file", st.st_size, st.st_mtime_ns, sha(path))
    return out


def temps(base: Path) -> list[Path]:
    return [p for p in base.rglob("*") if ".so-tmp-" in p.name]


def roots(pair: LocalPair) -> tuple[Path, Path]:
    a, b = pair.names
    return pair.base / a / "root", pair.base / b / "root"


def up(pair: LocalPair) -> tuple[str, str]:
    a, b = pair.start_active(), pair.names[1]
    pair.start_host(b)
    wait_in_sync(pair, b)
    return a, b


def wait_in_sync(pair: LocalPair, name: str, timeout: float = 30.0) -> dict:
    return pair.wait_for(
        lambda: (s := pair.status(name, timeout=1.0)) and s["state"] == "Backup"
        and s["replication"]["files"]["state"] == "in sync" and s, timeout,
        f"{name}'s files in sync")


def same(pair: LocalPair, rel: str, timeout: float = 20.0) -> None:
    ra, rb = roots(pair)
    pair.wait_for(lambda: tree(ra / rel) == tree(rb / rel), timeout, f"{rel} identical")


def write_big(path: Path, seed: bytes, staging: Path | None = None) -> str:
    """A large file of pseudo-random 1 MiB blocks; returns its sha256.

    Written in place, the active's file is empty, then partial, for a while, and the
    backup may copy it whole as it was at such a moment. With `staging` (an unmirrored
    directory on the same file system) it is written there and renamed into place, so
    the active only ever has the whole file, and any copy but the whole one is partial.
    """
    h = hashlib.sha256()
    block = hashlib.sha256(seed).digest() * (1 << 15)
    target = path if staging is None else staging / path.name
    with open(target, "wb") as f:
        for i in range(BIG >> 20):
            data = i.to_bytes(8, "big") + block[8:]
            f.write(data)
            h.update(data)
    if staging is not None:
        os.rename(target, path)
    return h.hexdigest()


@pytest.fixture
def logs_on_failure(request):
    """Print both hosts' log tails when a test fails (the pair's directory is removed)."""
    pairs: list[LocalPair] = []
    yield pairs
    failed = getattr(request.node, "rep_call", None)
    if failed is None or failed.failed:
        for pair in pairs:
            for name in pair.names:
                print(f"--- {name} ---\n" + pair.log_text(name)[-6000:])


def test_live_changes_big_file_and_health_warning(make_pair, logs_on_failure) -> None:
    pair = make_pair(time_scale=SCALE, parameters=PARAMS)
    logs_on_failure.append(pair)
    ra, rb = roots(pair)
    (ra / "data/rec/a/b").mkdir(parents=True)
    (ra / "data/flat/sub").mkdir(parents=True)
    (ra / "data/rec/a/b/deep.bin").write_bytes(b"deep")
    a, b = up(pair)
    assert (rb / "data/rec/a/b/deep.bin").read_bytes() == b"deep"

    rec, flat = ra / "data/rec", ra / "data/flat"
    (rec / "new.bin").write_bytes(b"created")                    # create
    (rec / "log.bin").write_bytes(b"one")
    with open(rec / "log.bin", "ab") as f:                       # append
        f.write(b" two")
    (rec / "trunc.bin").write_bytes(b"x" * 5000)
    os.truncate(rec / "trunc.bin", 10)                           # truncate
    (rec / "n1/n2/n3").mkdir(parents=True)                       # nested under +
    (rec / "n1/n2/n3/leaf.bin").write_bytes(b"leaf")
    (rec / "empty").mkdir()
    (rec / "notes.txt").write_text("never mirrored")             # MirrorExceptions
    (flat / "top.bin").write_bytes(b"top")                       # non-recursive dir
    (flat / "sub/ignored.bin").write_bytes(b"ignored")           # ... its subdirectory
    same(pair, "data/rec/n1")
    (rec / "new.bin").write_bytes(b"modified")                   # modify
    os.rename(rec / "log.bin", rec / "renamed.bin")              # rename
    os.rename(rec / "a", rec / "moved")                          # rename a directory
    (rec / "trunc.bin").unlink()                                 # delete
    shutil.rmtree(rec / "n1")                                    # delete a tree under +
    expected = {k: v for k, v in tree(rec).items() if not k.endswith(".txt")}
    pair.wait_for(lambda: tree(rb / "data/rec") == expected, 20, "data/rec mirrored")
    assert not (rb / "data/rec/notes.txt").exists()
    pair.wait_for(lambda: (rb / "data/flat/top.bin").exists(), 10, "top.bin")
    assert not (rb / "data/flat/sub").exists()
    assert (rb / "data/rec/renamed.bin").read_bytes() == b"one two"
    assert pair.status(b)["replication"]["files"]["renamed"] >= 1

    # A 200 MB file arrives whole although it is rewritten while it is being sent.
    big = rec / "big.bin"
    write_big(big, b"first")
    pair.wait_for(lambda: temps(rb / "data/rec"), 20, "the transfer to begin")
    final = write_big(big, b"second")
    pair.wait_for(lambda: (rb / "data/rec/big.bin").exists()
                  and (rb / "data/rec/big.bin").stat().st_size == BIG
                  and sha(rb / "data/rec/big.bin") == final, 40, "the newer version")
    pair.wait_for(lambda: not temps(rb), 20, "no temporary file left")

    # The File Monitor stops: the health check fails, status and the switch say so.
    assert pair.admin(a, "files.monitor-stop")["message"] == "File Monitor stopped"
    status = pair.wait_for(
        lambda: (s := pair.status(b)) and s["replication"]["files"]["state"].startswith(
            "not current: File Monitor on") and s, 20, "the failed health check in status")
    assert any("File replication is not current" in w for w in status["warnings"])
    assert any("failed its health check" in e["message"] for e in pair.events(b))
    done = subprocess.run(
        [sys.executable, "-m", "switchover.cli", "switch", "--config",
         str(pair.config_path(b))],
        input="y\nn\n", capture_output=True, text=True, timeout=30)
    assert "WARNING: File replication is not current" in done.stdout
    assert "There are warnings above; data may be lost. Switch anyway?" in done.stdout
    assert "switch cancelled" in done.stdout and done.returncode == 1
    assert pair.status(b)["state"] == "Backup"
    pair.admin(a, "files.monitor-start")
    pair.wait_for(lambda: not any("File replication" in w for w in pair.status(b)["warnings"]),
                  20, "the warning to clear")


def test_initial_dir_kill_mid_transfer_and_catch_up(make_pair, logs_on_failure) -> None:
    params = {**PARAMS, "InitialMirrorDir": "+/init"}
    pair = make_pair(time_scale=SCALE, parameters=params)
    logs_on_failure.append(pair)
    ra, rb = roots(pair)
    (ra / "init/sub").mkdir(parents=True)
    (ra / "init/sub/start.bin").write_bytes(b"at start")
    (ra / "data/rec").mkdir(parents=True)
    a, b = up(pair)
    assert (rb / "init/sub/start.bin").read_bytes() == b"at start"

    # InitialMirrorDir is not watched afterwards.
    (ra / "init/sub/start.bin").write_bytes(b"changed later")
    (ra / "data/rec/barrier.bin").write_bytes(b"b")
    pair.wait_for(lambda: (rb / "data/rec/barrier.bin").exists(), 10, "a continuous change")
    assert (rb / "init/sub/start.bin").read_bytes() == b"at start"

    # kill -9 of the backup in the middle of a transfer: no partial file, whole later.
    (ra / "staging").mkdir()
    final = write_big(ra / "data/rec/big.bin", b"kill", staging=ra / "staging")
    pair.wait_for(lambda: temps(rb / "data/rec"), 20, "the transfer to begin")
    pair.kill(b)
    killed = rb / "data/rec/big.bin"
    assert not killed.exists() or sha(killed) == final  # never a partial file

    # While the backup is down, 1,000 files change.
    rec = ra / "data/rec"
    for i in range(600):
        (rec / f"d{i % 10}").mkdir(exist_ok=True)
        (rec / f"d{i % 10}/f{i}.bin").write_bytes(os.urandom(64) * (i % 7))
    for i in range(0, 600, 3):
        (rec / f"d{i % 10}/f{i}.bin").write_bytes(b"rewritten %d" % i)
    for i in range(1, 600, 3):
        (rec / f"d{i % 10}/f{i}.bin").unlink()
    pair.start_host(b)
    wait_in_sync(pair, b)
    same(pair, "data/rec", timeout=30)
    assert sha(rb / "data/rec/big.bin") == final
    assert not temps(rb)
    # the start-up copy compares InitialMirrorDir again: only the changed file travels
    assert (rb / "init/sub/start.bin").read_bytes() == b"changed later"


def test_startup_copy_past_its_time_limit_fails_clearly(make_pair, logs_on_failure) -> None:
    params = {**PARAMS, "InitialMirrorDir": "+/init", "Switchover Initial Mirror Timeout": 1}
    pair = make_pair(time_scale=SCALE, parameters=params)
    logs_on_failure.append(pair)
    ra, rb = roots(pair)
    (ra / "init").mkdir(parents=True)
    block = os.urandom(1 << 20)
    for i in range(48):
        (ra / f"init/r{i}.bin").write_bytes(block * 4)
    a, b = pair.names
    pair.start_host(a)
    pair.wait_state(a, "Primary")
    pair.start_module(a)
    pair.start_host(b)
    # "it does not start": the backup goes to the Error state, saying why
    error = pair.wait_state(b, "Error", timeout=30)
    assert "Switchover Initial Mirror Timeout" in error["reason"]
    assert "start-up failed" in error["reason"]
    assert any("Error state" in w and "Initial Mirror Timeout" in w for w in error["warnings"])
    assert any("start-up failed" in e["message"] and e["level"] == "error"
               for e in pair.events(b))
    copied = [p for p in (rb / "init").glob("*.bin")] if (rb / "init").exists() else []
    assert len(copied) < 48 and not temps(rb)
