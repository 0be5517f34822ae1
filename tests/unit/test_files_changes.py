"""Change notices: the active's rows for a burst, the backup's plan with renames paired."""
from __future__ import annotations

import os
from pathlib import Path, PurePosixPath

from switchover.replication.files.changes import Local, notice_rows, plan_notice
from switchover.replication.files.spec import MirrorSpec


def spec_at(root: Path) -> MirrorSpec:
    return MirrorSpec.build(root, custom="+/rec;/flat", initial="+/init", exceptions="txt",
                            handler_path="", resource_path="", i3tables_path="")


def test_rows_state_what_is_there_now(tmp_path: Path) -> None:
    spec = spec_at(tmp_path)
    (tmp_path / "rec/new/deep").mkdir(parents=True)
    (tmp_path / "rec/new/deep/a.bin").write_bytes(b"aa")
    (tmp_path / "rec/keep.bin").write_bytes(b"k")
    (tmp_path / "rec/skip.txt").write_bytes(b"t")
    (tmp_path / "flat/sub").mkdir(parents=True)
    (tmp_path / "init").mkdir()
    (tmp_path / "init/x.bin").write_bytes(b"x")
    os.symlink("/etc/passwd", tmp_path / "rec/link")
    touched = [(tmp_path / "rec/new", True), (tmp_path / "rec/keep.bin", False),
               (tmp_path / "rec/gone.bin", False), (tmp_path / "rec/skip.txt", False),
               (tmp_path / "flat/sub", True), (tmp_path / "init/x.bin", False),
               (tmp_path / "rec/link", True), (Path("/elsewhere/x"), False)]
    rows = notice_rows(spec, touched)
    ops = [(r[0], r[1]) for r in rows]
    assert ops == [("delete", "/rec/gone.bin"), ("delete", "/rec/link"),
                   ("mkdir", "/rec/new"), ("mkdir", "/rec/new/deep"),
                   ("write", "/rec/keep.bin"), ("write", "/rec/new/deep/a.bin")]
    write = rows[-1]
    st = (tmp_path / "rec/new/deep/a.bin").stat()
    assert write[2:4] == [2, st.st_mtime_ns]


def local_of(state: dict[str, Local]):
    return lambda path: state.get(path)


def everything(path: str, is_dir: bool) -> bool:
    return True


def test_a_file_rename_is_paired_by_size_and_mtime() -> None:
    state = {"/rec/old.bin": ("file", 10, 111, 0o644)}
    plan = plan_notice([["delete", "/rec/old.bin"], ["write", "/rec/new.bin", 10, 111, 0o600]],
                       local_of(state), everything)
    assert plan.renames == [("/rec/old.bin", "/rec/new.bin")]
    assert plan.attrs == [("/rec/new.bin", 0o600, 111)]
    assert not plan.fetch and not plan.deletes


def test_a_directory_move_renames_once_and_fetches_nothing() -> None:
    state = {"/rec/a": ("dir", 0, 0, 0o755), "/rec/a/f": ("file", 3, 5, 0o644)}
    rows = [["delete", "/rec/a"], ["delete", "/rec/a/f"], ["mkdir", "/rec/b", 0o755],
            ["write", "/rec/b/f", 3, 5, 0o644]]
    plan = plan_notice(rows, local_of(state), everything)
    assert plan.renames == [("/rec/a", "/rec/b")]
    assert not plan.fetch and plan.mkdirs == []


def test_unchanged_writes_are_skipped_and_changed_ones_fetched() -> None:
    state = {"/rec/same": ("file", 3, 5, 0o644), "/rec/old": ("file", 3, 5, 0o644)}
    rows = [["write", "/rec/same", 3, 5, 0o644], ["write", "/rec/old", 4, 6, 0o644],
            ["write", "/rec/unwanted", 1, 1, 0o644], ["delete", "/rec/never-here"]]
    plan = plan_notice(rows, local_of(state), lambda p, d: p != "/rec/unwanted")
    assert plan.fetch == [("/rec/old", 4, 6, 0o644)]
    assert plan.deletes == []  # nothing there to delete


def test_kind_filter_agrees_with_classify(tmp_path: Path) -> None:
    spec = MirrorSpec.build(tmp_path, custom="+/I3/IC;/I3/IC/Flat", initial="+/init",
                            exceptions="txt")
    base = PurePosixPath("/I3/IC")
    keep = spec.kind_filter("continuous", base)
    for rel, is_dir in [("a.bin", False), ("Handlers/h.ivp", False), ("x/y/z.bin", False),
                        ("notes.txt", False), ("Flat/sub", True), ("Flat/f.bin", False)]:
        assert keep(rel, is_dir) == (spec.classify(base / rel, is_dir) == "continuous"), rel
