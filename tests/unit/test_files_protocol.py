"""The active's side of the file protocol and the backup's fetcher, without sockets."""
from __future__ import annotations

import concurrent.futures
import hashlib
import os
from pathlib import Path, PurePosixPath
from typing import Any

import pytest

from switchover.replication.files import protocol as proto
from switchover.replication.files.applier import Applier
from switchover.replication.files.fetch import RANGE, Fetcher
from switchover.replication.files.health import describe_progress
from switchover.replication.files.settings import build_specs
from switchover.replication.files.spec import MirrorDir, MirrorSpec
from switchover.params import ServerParameters
from switchover.transport.envelope import Envelope
from switchover.transport.outcome import Outcome


def spec_at(root: Path) -> MirrorSpec:
    return MirrorSpec.build(root, custom="+/rec", handler_path="", resource_path="",
                            i3tables_path="")


class FakeLinks:
    """Serves the fetcher's requests from a spec in this process."""

    def __init__(self, spec: MirrorSpec, before_chunk=None) -> None:
        self.spec, self.before_chunk, self.calls = spec, before_chunk, []

    def connected(self, channel: str) -> bool:
        return True

    def wait_connected(self, timeout: float, cancel: Any = None) -> bool:
        return True

    def request(self, channel: str, target: str, eid: str, *, timeout: float,
                body: Any = None, bulk: Any = ()) -> concurrent.futures.Future[Outcome]:
        self.calls.append(eid)
        if eid == proto.CHUNK and self.before_chunk:
            self.before_chunk(body)
        serve = {proto.MANIFEST: proto.serve_manifest, proto.READ: proto.serve_read,
                 proto.CHUNK: proto.serve_chunk}[eid]
        out, frames = serve(self.spec, body)
        fut: concurrent.futures.Future[Outcome] = concurrent.futures.Future()
        fut.set_result(Outcome("ok", Envelope("response", "FileMonitor", "x", eid, body=out),
                               tuple(frames)))
        return fut


@pytest.mark.parametrize("text", ["rec/a", "/rec/../etc", "/rec//a", "/rec/a/", 5, "/a\x00"])
def test_wire_paths_must_be_logical_and_normalised(text: Any) -> None:
    with pytest.raises(proto.Refused):
        proto.logical_path(text)


def test_serves_only_what_it_mirrors_and_never_through_symlinks(tmp_path: Path) -> None:
    spec = spec_at(tmp_path)
    (tmp_path / "rec").mkdir()
    (tmp_path / "secret").write_bytes(b"s")
    os.symlink(tmp_path / "secret", tmp_path / "rec/link")
    with pytest.raises(proto.Refused):
        proto.serve_read(spec, {"paths": ["/secret"]})
    body, frames = proto.serve_read(spec, {"paths": ["/rec/link", "/rec/none"]})
    assert [r[1] for r in body["files"]] == ["missing", "missing"]


def test_manifest_frames_round_trip(tmp_path: Path) -> None:
    spec = spec_at(tmp_path)
    (tmp_path / "rec/d").mkdir(parents=True)
    (tmp_path / "rec/d/f").write_bytes(b"123")
    body, frames = proto.serve_manifest(spec, {"dir": "/rec", "recursive": True})
    m = proto.manifest_from_frames(frames)
    assert body["count"] == 2 and m["d"].kind == "dir" and m["d/f"].size == 3


def test_fetch_small_and_large_files_whole(tmp_path: Path) -> None:
    active, backup = spec_at(tmp_path / "a"), spec_at(tmp_path / "b")
    (tmp_path / "a/rec").mkdir(parents=True)
    (tmp_path / "b").mkdir()
    small, large = b"s" * 100, os.urandom(RANGE * 2 + 5)
    (tmp_path / "a/rec/small").write_bytes(small)
    (tmp_path / "a/rec/large").write_bytes(large)
    fetcher = Fetcher(FakeLinks(active), Applier(tmp_path / "b", backup), timeout=10,
                      real_timeout=10, cancelled=lambda: False)
    result = fetcher.fetch([("/rec/small", 100, 0, 0o644), ("/rec/large", len(large), 0, 0),
                            ("/rec/missing", 1, 0, 0)])
    assert (result.files, result.missing) == (2, ["/rec/missing"])
    assert (tmp_path / "b/rec/small").read_bytes() == small
    assert (tmp_path / "b/rec/large").read_bytes() == large
    st_a, st_b = (tmp_path / "a/rec/large").stat(), (tmp_path / "b/rec/large").stat()
    assert st_a.st_mtime_ns == st_b.st_mtime_ns


def test_a_file_changing_while_sent_restarts_and_the_newer_version_wins(tmp_path: Path) -> None:
    active, backup = spec_at(tmp_path / "a"), spec_at(tmp_path / "b")
    (tmp_path / "a/rec").mkdir(parents=True)
    (tmp_path / "b").mkdir()
    path = tmp_path / "a/rec/big"
    path.write_bytes(b"1" * (RANGE * 2))
    newer = b"2" * (RANGE * 2 + 7)
    rewrites = []

    def rewrite_once(body: dict) -> None:
        if body["offset"] > 0 and not rewrites:
            rewrites.append(1)
            path.write_bytes(newer)

    fetcher = Fetcher(FakeLinks(active, rewrite_once), Applier(tmp_path / "b", backup),
                      timeout=10, real_timeout=10, cancelled=lambda: False)
    result = fetcher.fetch([("/rec/big", RANGE * 2, 0, 0)])
    assert result.files == 1 and rewrites
    got = (tmp_path / "b/rec/big").read_bytes()
    assert hashlib.sha256(got).digest() == hashlib.sha256(newer).digest()
    assert not [p for p in (tmp_path / "b/rec").iterdir() if ".so-tmp-" in p.name]


def test_specs_from_server_parameters(tmp_path: Path) -> None:
    params = ServerParameters.from_mapping({
        "CustomMirrorDir": "+/I3/IC/Flows;/I3/IC/Flat", "MirrorExceptions": "tmp; .BAK",
        "Custom Upgrade File Synchronization Directories": "+/I3/IC/Opt",
        "Switchover Upgrade Higher File Exclusions": "+/I3/IC/Flows/Big"})
    specs = build_specs(tmp_path, params)
    assert MirrorDir(PurePosixPath("/I3/IC/Flows"), True) in specs.normal.continuous
    assert specs.normal.exceptions == frozenset({"tmp", "bak"})
    assert specs.for_upgrade("lower").classify("/I3/IC/Opt/x") == "continuous"
    assert specs.for_upgrade("lower").classify("/I3/IC/Flows/x") is None
    assert specs.for_upgrade("higher").classify("/I3/IC/Flows/Big/x") is None
    assert specs.for_upgrade("higher").classify("/I3/IC/Handlers/h.ivp") is None
    assert specs.watch.classify("/I3/IC/Opt/x") == "continuous"


def test_progress_text() -> None:
    text = describe_progress(10, 40, 50_000_000, 200_000_000, 1.0, 10.0)
    assert text == ("initial mirror: 10/40 files, 50.0/200.0 MB, 50.0 MB/s, 30 s left")


def test_a_per_chunk_transfer_refuses_a_chunk_without_its_digest(tmp_path: Path) -> None:
    from switchover.replication.files.errors import VerifyError

    (tmp_path / "rec").mkdir()
    app = Applier(tmp_path, spec_at(tmp_path))
    inc = app.begin_file("/rec/f", 4, 0o644, 0, per_chunk=True)
    with pytest.raises(VerifyError):
        inc.write(0, b"abcd")
    inc = app.begin_file("/rec/f", 4, 0o644, 0, per_chunk=True)
    inc.write(0, b"abcd", hashlib.sha256(b"abcd").hexdigest())
    inc.commit()
    assert (tmp_path / "rec/f").read_bytes() == b"abcd"


@pytest.mark.parametrize("text", ["rec/a", "/rec/../etc", "/rec//a", "/rec/./a", "//rec/a",
                                  "/rec/a/", "/rec/..", 5, "/rec/a\x00", "/"])
def test_file_read_refuses_paths_not_logical_and_normalised(tmp_path: Path, text: Any) -> None:
    (tmp_path / "rec").mkdir()
    (tmp_path / "rec/a").write_bytes(b"a")
    with pytest.raises(proto.Refused):
        proto.serve_read(spec_at(tmp_path), {"paths": ["/rec/a", text]})


def test_file_read_packs_many_files_with_their_digests(tmp_path: Path) -> None:
    spec = spec_at(tmp_path)
    (tmp_path / "rec/d").mkdir(parents=True)
    want = {}
    for i in range(300):
        data = os.urandom(i * 7)
        (tmp_path / f"rec/d/f{i}").write_bytes(data)
        want[f"/rec/d/f{i}"] = data
    body, frames = proto.serve_read(spec, {"paths": sorted(want)})
    assert len(body["files"]) == 300
    for path, status, size, _mtime, _mode, digest, frame, offset in body["files"]:
        data = frames[frame][offset:offset + size]
        assert status == "ok" and data == want[path]
        assert digest == hashlib.sha256(data).hexdigest()
