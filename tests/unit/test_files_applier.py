"""The backup's applier: atomic writes, deletes, renames, symlink safety, supersession."""
from __future__ import annotations

import hashlib
import os
import signal
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from switchover.replication.files.applier import (
    Applier, ApplyError, MissingSource, OutsideMirror, Superseded, SymlinkRefused, VerifyError)
from switchover.replication.files.spec import MirrorSpec

FLOWS = "I3/IC/Flows"


def sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


@pytest.fixture
def backup(tmp_path: Path) -> Applier:
    root = tmp_path / "hostB"
    root.mkdir()
    spec = MirrorSpec.build(root, custom="+/I3/IC/Flows;/I3/IC/Flat", exceptions="tmp")
    return Applier(root, spec)


def send(app: Applier, rel: str, data: bytes, mode: int = 0o640,
         mtime_ns: int = 1_700_000_000_123_456_789, chunk: int = 4) -> None:
    inc = app.begin_file(rel, len(data), mode, mtime_ns, sha(data))
    for off in range(0, len(data), chunk):
        inc.write(off, data[off:off + chunk], sha(data[off:off + chunk]))
    inc.commit()


def temps(root: Path) -> list[Path]:
    return [p for p in root.rglob("*") if ".so-tmp-" in p.name]


def test_create_keeps_mode_and_mtime(backup: Applier) -> None:
    send(backup, f"{FLOWS}/a.xml", b"hello world", mode=0o600, mtime_ns=1_600_000_000_987_654_321)
    st = (backup.root / FLOWS / "a.xml").stat()
    assert (backup.root / FLOWS / "a.xml").read_bytes() == b"hello world"
    assert st.st_mode & 0o7777 == 0o600 and st.st_mtime_ns == 1_600_000_000_987_654_321
    assert temps(backup.root) == []


def test_modify_append_truncate_and_empty(backup: Applier) -> None:
    target = backup.root / FLOWS / "f"
    for data in (b"v1", b"v1 appended", b"v", b""):
        send(backup, f"/{FLOWS}/f", data)
        assert target.read_bytes() == data
    assert temps(backup.root) == []


def test_nested_and_empty_dirs_under_plus(backup: Applier) -> None:
    send(backup, f"{FLOWS}/a/b/c/deep.xml", b"deep")
    backup.mkdir(f"{FLOWS}/empty/inner", 0o750)
    assert (backup.root / FLOWS / "a/b/c/deep.xml").read_bytes() == b"deep"
    assert (backup.root / FLOWS / "empty/inner").is_dir()
    assert (backup.root / FLOWS / "empty/inner").stat().st_mode & 0o777 == 0o750
    backup.mkdir(f"{FLOWS}/empty/inner")  # exists: fine


def test_rename_and_delete(backup: Applier) -> None:
    send(backup, f"{FLOWS}/old.xml", b"content")
    backup.rename(f"{FLOWS}/old.xml", f"{FLOWS}/sub/new.xml")
    assert not (backup.root / FLOWS / "old.xml").exists()
    assert (backup.root / FLOWS / "sub/new.xml").read_bytes() == b"content"
    backup.rename(f"{FLOWS}/sub", f"{FLOWS}/moved")  # a whole directory
    assert (backup.root / FLOWS / "moved/new.xml").exists()
    assert backup.delete(f"{FLOWS}/moved/new.xml") is True
    assert backup.delete(f"{FLOWS}/moved/new.xml") is False
    with pytest.raises(MissingSource):
        backup.rename(f"{FLOWS}/nothing", f"{FLOWS}/x")
    with pytest.raises(ApplyError, match="rmdir_tree"):
        backup.delete(f"{FLOWS}/moved")


def test_rmdir_tree_removes_whole_recursive_dir(backup: Applier) -> None:
    send(backup, f"{FLOWS}/server/media/graphics/logo.png", b"png")
    send(backup, f"{FLOWS}/server/readme", b"r")
    assert backup.rmdir_tree(f"{FLOWS}/server") is True  # one delete, not three
    assert not (backup.root / FLOWS / "server").exists()
    assert backup.rmdir_tree(f"{FLOWS}/server") is False


def test_set_attrs(backup: Applier) -> None:
    send(backup, f"{FLOWS}/f", b"x", mode=0o644)
    backup.set_attrs(f"{FLOWS}/f", 0o600, 1_000_000_000_000_000_001)
    st = (backup.root / FLOWS / "f").stat()
    assert st.st_mode & 0o777 == 0o600 and st.st_mtime_ns == 1_000_000_000_000_000_001


@pytest.mark.parametrize("rel", ["etc/passwd", f"{FLOWS}/../../../etc/x", "/I3/IC/Work/x",
                                 f"{FLOWS}/a.tmp", "I3/IC/Flat/sub/x", f"{FLOWS}/.x.so-tmp-1",
                                 "", "/"])
def test_refuses_paths_outside_the_mirror(backup: Applier, rel: str) -> None:
    with pytest.raises(OutsideMirror):
        backup.begin_file(rel, 1, 0o644, 0, sha(b"x"))
    assert not (backup.root / "etc").exists()


def test_refuses_writing_through_symlinks(backup: Applier, tmp_path: Path) -> None:
    outside = tmp_path / "etc"
    outside.mkdir()
    (outside / "passwd").write_bytes(b"root")
    flows = backup.root / FLOWS
    flows.mkdir(parents=True)
    (flows / "evil").symlink_to(outside)
    for op in (lambda: send(backup, f"{FLOWS}/evil/passwd", b"owned"),
               lambda: backup.mkdir(f"{FLOWS}/evil/sub"),
               lambda: backup.rmdir_tree(f"{FLOWS}/evil/x"),
               lambda: backup.delete(f"{FLOWS}/evil/passwd"),
               lambda: backup.rename(f"{FLOWS}/evil/passwd", f"{FLOWS}/stolen")):
        with pytest.raises(SymlinkRefused):
            op()
    assert (outside / "passwd").read_bytes() == b"root" and not (outside / "sub").exists()
    # A file symlink is replaced, not written through; a symlinked tree is unlinked only.
    (flows / "pw").symlink_to(outside / "passwd")
    send(backup, f"{FLOWS}/pw", b"mirror")
    assert not (flows / "pw").is_symlink() and (outside / "passwd").read_bytes() == b"root"
    assert backup.rmdir_tree(f"{FLOWS}/evil") and (outside / "passwd").exists()


def test_missing_root_is_a_clear_error(tmp_path: Path) -> None:
    app = Applier(tmp_path / "nope", MirrorSpec.build(tmp_path / "nope"))
    with pytest.raises(ApplyError, match="does not exist"):
        app.mkdir(FLOWS)
    assert app.cleanup_stale_temps() == 0


def test_symlinked_mirror_base_refused(tmp_path: Path) -> None:
    root = tmp_path / "hostB"
    (root / "I3" / "IC").mkdir(parents=True)
    (tmp_path / "elsewhere").mkdir()
    (root / "I3" / "IC" / "Flows").symlink_to(tmp_path / "elsewhere")
    app = Applier(root, MirrorSpec.build(root))
    with pytest.raises(SymlinkRefused):
        send(app, f"{FLOWS}/f", b"x")
    assert list((tmp_path / "elsewhere").iterdir()) == []


def test_verification_failures_leave_old_version(backup: Applier) -> None:
    send(backup, f"{FLOWS}/f", b"old")
    inc = backup.begin_file(f"{FLOWS}/f", 3, 0o644, 0, sha(b"new"))
    with pytest.raises(VerifyError):
        inc.write(0, b"ne", sha(b"xx"))
    inc.write(0, b"nex")
    with pytest.raises(VerifyError, match="sha256"):
        inc.commit()
    inc2 = backup.begin_file(f"{FLOWS}/f", 3, 0o644, 0, sha(b"new"))
    inc2.write(0, b"ne")
    with pytest.raises(VerifyError, match="2 of 3"):
        inc2.commit()
    inc3 = backup.begin_file(f"{FLOWS}/f", 2, 0o644, 0)
    with pytest.raises(VerifyError):
        inc3.write(0, b"abc")
    with pytest.raises(ApplyError, match="expected 0"):
        inc3.write(1, b"a")
    inc3.abort()
    assert (backup.root / FLOWS / "f").read_bytes() == b"old" and temps(backup.root) == []


def test_abandoned_transfer_never_visible(backup: Applier) -> None:
    """A crash between chunks: the old version or nothing, and cleanup removes the rest."""
    send(backup, f"{FLOWS}/has_old", b"old version")
    for rel in (f"{FLOWS}/has_old", f"{FLOWS}/brand_new"):
        inc = backup.begin_file(rel, 100, 0o644, 0, sha(b"z" * 100))
        inc.write(0, b"z" * 50)
        assert inc.written == 50  # unbuffered: the half-written bytes are in the file
    assert (backup.root / FLOWS / "has_old").read_bytes() == b"old version"
    assert not (backup.root / FLOWS / "brand_new").exists()
    restarted = Applier(backup.root, backup.spec)  # the next run, after the crash
    assert restarted.cleanup_stale_temps() == 2
    assert temps(backup.root) == []
    assert sorted(p.name for p in (backup.root / FLOWS).iterdir()) == ["has_old"]


def test_cleanup_spares_live_transfers(backup: Applier) -> None:
    inc = backup.begin_file(f"{FLOWS}/live", 1, 0o644, 0, sha(b"x"))
    assert backup.cleanup_stale_temps() == 0
    inc.write(0, b"x")
    inc.commit()
    assert (backup.root / FLOWS / "live").read_bytes() == b"x"


def test_newer_version_supersedes_incomplete_older(backup: Applier) -> None:
    old = backup.begin_file(f"{FLOWS}/f", 6, 0o644, 100, sha(b"older!"))
    old.write(0, b"old")
    new = backup.begin_file(f"{FLOWS}/f", 5, 0o644, 200, sha(b"newer"))
    with pytest.raises(Superseded):
        old.write(3, b"er!")
    new.write(0, b"newer")
    new.commit()
    with pytest.raises(Superseded):
        old.commit()
    assert (backup.root / FLOWS / "f").read_bytes() == b"newer"
    assert new.version == (200, 5) and backup.pending() == [] and temps(backup.root) == []


def test_delete_supersedes_transfer(backup: Applier) -> None:
    inc = backup.begin_file(f"{FLOWS}/f", 1, 0o644, 0, sha(b"x"))
    backup.delete(f"{FLOWS}/f")
    with pytest.raises(Superseded):
        inc.write(0, b"x")
    assert not (backup.root / FLOWS / "f").exists() and temps(backup.root) == []


_CHILD = textwrap.dedent("""
    import hashlib, sys, time
    from pathlib import Path
    from switchover.replication.files.applier import Applier
    from switchover.replication.files.spec import MirrorSpec
    root = Path(sys.argv[1])
    app = Applier(root, MirrorSpec.build(root))
    chunk = b"n" * (1 << 20)
    total = 256 * len(chunk)
    inc = app.begin_file("I3/IC/Flows/big.bin", total, 0o644, 0, "0" * 64)
    for i in range(256):
        inc.write(i * len(chunk), chunk)
        if i == 8:
            print("writing", flush=True)
        time.sleep(0.01)
    inc.commit()
""")


@pytest.mark.parametrize("old", [None, b"old big file"])
def test_sigkill_mid_transfer_leaves_no_partial_file(tmp_path: Path, old: bytes | None) -> None:
    root = tmp_path / "hostB"
    target = root / FLOWS / "big.bin"
    root.mkdir()
    if old is not None:
        target.parent.mkdir(parents=True)
        target.write_bytes(old)
    repo = Path(__file__).resolve().parents[2]
    child = subprocess.Popen([sys.executable, "-c", _CHILD, str(root)], cwd=repo,
                             stdout=subprocess.PIPE, env={**os.environ, "PYTHONPATH": str(repo)})
    try:
        assert child.stdout is not None
        assert child.stdout.readline() == b"writing\n"
        os.kill(child.pid, signal.SIGKILL)
    finally:
        child.wait(timeout=10)
    assert child.returncode == -signal.SIGKILL
    assert temps(root), "the child was killed before it wrote anything"
    if old is None:
        assert not target.exists()
    else:
        assert target.read_bytes() == old
    assert Applier(root, MirrorSpec.build(root)).cleanup_stale_temps() == 1
    assert temps(root) == [] and sorted(p.name for p in target.parent.iterdir()) == (
        [] if old is None else ["big.bin"])


def test_file_in_the_way_of_a_directory(backup: Applier) -> None:
    send(backup, f"{FLOWS}/plain", b"x")
    with pytest.raises(ApplyError, match="not a directory"):
        send(backup, f"{FLOWS}/plain/child", b"y")
    assert (backup.root / FLOWS / "plain").read_bytes() == b"x"


def test_put_file_whole_in_one_call(backup: Applier) -> None:
    target = backup.root / FLOWS / "sub/p.xml"
    with backup.batch():
        backup.put_file(f"/{FLOWS}/sub/p.xml", 5, 0o640, 1_600_000_000_000_000_001,
                        sha(b"first"), b"first", sync=False)
        backup.put_file(f"/{FLOWS}/sub/p.xml", 6, 0o600, 1_600_000_000_000_000_002,
                        sha(b"second"), memoryview(b"xsecond")[1:])
    st = target.stat()
    assert target.read_bytes() == b"second"
    assert st.st_mode & 0o7777 == 0o600 and st.st_mtime_ns == 1_600_000_000_000_000_002
    backup.put_file(f"{FLOWS}//sub/./q", 1, 0o644, 1, sha(b"q"), b"q")  # the general route
    assert (backup.root / FLOWS / "sub/q").read_bytes() == b"q"
    assert temps(backup.root) == []


def test_put_file_verifies_before_anything_is_written(backup: Applier) -> None:
    target = backup.root / FLOWS / "v"
    backup.put_file(f"/{FLOWS}/v", 3, 0o644, 1, sha(b"old"), b"old")
    with pytest.raises(VerifyError):
        backup.put_file(f"/{FLOWS}/v", 3, 0o644, 2, sha(b"new"), b"nex")
    with pytest.raises(VerifyError):
        backup.put_file(f"/{FLOWS}/v", 4, 0o644, 2, sha(b"new"), b"new")
    with pytest.raises(VerifyError):
        backup.put_file(f"/{FLOWS}/v", 3, 0o644, 2, "", b"new")
    assert target.read_bytes() == b"old" and temps(backup.root) == []


def test_put_file_refuses_what_begin_file_refuses(backup: Applier, tmp_path: Path) -> None:
    outside = tmp_path / "outside"
    outside.mkdir()
    (backup.root / FLOWS).mkdir(parents=True)
    os.symlink(outside, backup.root / FLOWS / "link")
    with pytest.raises(SymlinkRefused):
        backup.put_file(f"/{FLOWS}/link/x", 1, 0o644, 1, sha(b"x"), b"x")
    for bad in ("/etc/x", f"/{FLOWS}/a.tmp", f"/{FLOWS}/.a.so-tmp-1", "/I3/IC/Flat/sub/f",
                f"/{FLOWS}/../x"):
        with pytest.raises(OutsideMirror):
            backup.put_file(bad, 1, 0o644, 1, sha(b"x"), b"x")
    assert list(outside.iterdir()) == [] and temps(backup.root) == []


def test_put_file_supersedes_an_incomplete_transfer(backup: Applier) -> None:
    inc = backup.begin_file(f"/{FLOWS}/s", 6, 0o644, 1, sha(b"longer"))
    inc.write(0, b"lon")
    backup.put_file(f"/{FLOWS}/s", 5, 0o644, 2, sha(b"short"), b"short")
    with pytest.raises(Superseded):
        inc.write(3, b"ger")
    assert (backup.root / FLOWS / "s").read_bytes() == b"short"
    assert temps(backup.root) == []
