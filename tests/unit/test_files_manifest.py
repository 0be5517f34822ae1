"""Manifests and plans: recursion, exceptions, symlinks, and the quick check."""
from __future__ import annotations

import hashlib
import os
from pathlib import Path, PurePosixPath as P

from switchover.replication.files.manifest import Manifest, Plan, diff, scan, scan_spec
from switchover.replication.files.spec import MirrorDir, MirrorSpec


def put(path: Path, data: bytes = b"x", mtime_ns: int | None = None) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)
    if mtime_ns is not None:
        os.utime(path, ns=(mtime_ns, mtime_ns))
    return path


def test_non_recursive_lists_only_direct_files(tmp_path: Path) -> None:
    put(tmp_path / "a.txt")
    put(tmp_path / "sub" / "b.txt")
    m = scan(tmp_path, recursive=False)
    assert list(m) == ["a.txt"] and m["a.txt"].kind == "file"


def test_recursive_lists_files_and_empty_dirs(tmp_path: Path) -> None:
    put(tmp_path / "a.wav", b"abc")
    put(tmp_path / "s" / "t" / "b.wav")
    (tmp_path / "empty").mkdir()
    m = scan(tmp_path, recursive=True)
    assert sorted(m) == ["a.wav", "empty", "s", "s/t", "s/t/b.wav"]
    assert m["a.wav"].size == 3 and m["empty"].kind == "dir"
    assert m["a.wav"].mode == os.stat(tmp_path / "a.wav").st_mode & 0o7777


def test_exceptions_and_temp_files_left_out(tmp_path: Path) -> None:
    put(tmp_path / "keep.wav")
    put(tmp_path / "drop.TXT")
    put(tmp_path / ".keep.wav.so-tmp-0123ab")
    assert list(scan(tmp_path, recursive=False, exceptions=frozenset({"txt"}))) == ["keep.wav"]


def test_symlinks_never_followed(tmp_path: Path) -> None:
    outside = tmp_path / "outside"
    put(outside / "secret")
    base = tmp_path / "base"
    put(base / "real")
    (base / "link_dir").symlink_to(outside)
    (base / "link_file").symlink_to(outside / "secret")
    m = scan(base, recursive=True)
    assert list(m) == ["real"] and sorted(m.skipped) == ["link_dir", "link_file"]
    (tmp_path / "base_link").symlink_to(base)
    assert len(scan(tmp_path / "base_link", recursive=True)) == 0


def test_missing_base_is_empty(tmp_path: Path) -> None:
    assert len(scan(tmp_path / "nope", recursive=True)) == 0


def test_lazy_digest_and_wire_round_trip(tmp_path: Path) -> None:
    put(tmp_path / "f", b"hello")
    m = scan(tmp_path, recursive=True)
    assert m["f"].sha256 is None
    assert m.digest("f") == hashlib.sha256(b"hello").hexdigest()
    peer = Manifest.from_wire(m.to_wire())
    assert peer["f"] == m["f"].__class__("file", 5, m["f"].mtime_ns, m["f"].mode, m.digest("f"))
    assert peer.digest("f") == m.digest("f")


def test_diff_copy_delete_mkdir_rmdir(tmp_path: Path) -> None:
    src, dst = tmp_path / "src", tmp_path / "dst"
    put(src / "same", b"1", 10**18)
    put(dst / "same", b"1", 10**18)
    put(src / "changed", b"new!", 10**18)
    put(dst / "changed", b"old", 10**18)
    put(src / "touched", b"t", 2 * 10**18)
    put(dst / "touched", b"t", 10**18)
    put(src / "new" / "deep" / "f")
    put(dst / "gone.txt")
    put(dst / "olddir" / "x" / "y")
    (src / "emptydir").mkdir()
    put(src / "flip")          # file here, directory there
    put(dst / "flip" / "inside")
    plan = diff(scan(src, recursive=True), scan(dst, recursive=True))
    assert plan.copy == ["changed", "flip", "new/deep/f", "touched"]
    assert plan.delete == ["gone.txt"]
    assert plan.rmdir == ["flip", "olddir"]  # whole trees; their files are not listed
    assert plan.mkdir == ["emptydir", "new", "new/deep"]
    assert plan.attrs == []
    assert plan.bytes_to_copy(scan(src, recursive=True)) == 4 + 1 + 1 + 1


def test_diff_checksum_turns_touch_into_attrs(tmp_path: Path) -> None:
    src, dst = tmp_path / "src", tmp_path / "dst"
    put(src / "touched", b"same", 2 * 10**18)
    put(dst / "touched", b"same", 10**18)
    put(src / "chmod", b"c", 10**18)
    put(dst / "chmod", b"c", 10**18)
    os.chmod(src / "chmod", 0o600)
    plan = diff(scan(src, recursive=True), scan(dst, recursive=True), checksum=True)
    assert plan.copy == [] and plan.attrs == ["chmod", "touched"]
    assert diff(scan(src, recursive=True), scan(dst, recursive=True)).copy == ["touched"]


def test_identical_trees_give_empty_plan(tmp_path: Path) -> None:
    put(tmp_path / "a" / "f", b"1", 10**18)
    m = scan(tmp_path, recursive=True)
    assert not diff(m, m) and isinstance(diff(m, m), Plan)


def test_scan_spec_keeps_only_its_kind(tmp_path: Path) -> None:
    spec = MirrorSpec.build(tmp_path, custom="/data/live;/data/live/sub2", initial="+/data",
                            exceptions="tmp", resource_path="", i3tables_path="",
                            handler_path="")
    put(tmp_path / "data" / "top.bin")
    put(tmp_path / "data" / "live" / "hot.bin")
    put(tmp_path / "data" / "live" / "sub" / "cold.bin")
    put(tmp_path / "data" / "live" / "x.tmp")
    init = scan_spec(spec, "initial", MirrorDir(P("/data"), True))
    assert sorted(init) == ["live/sub", "live/sub/cold.bin", "top.bin"]
    live = scan_spec(spec, "continuous", MirrorDir(P("/data/live"), False))
    assert list(live) == ["hot.bin"]
