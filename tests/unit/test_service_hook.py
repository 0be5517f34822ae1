"""The shipped `service` hook against a stand-in `systemctl` on PATH (no systemd needed)."""
from __future__ import annotations

import os
import shutil
import subprocess
import textwrap
from pathlib import Path

import pytest

from switchover.hookconfig import SHIPPED_HOOKS

HOOK = SHIPPED_HOOKS / "service"


@pytest.fixture
def bin_dir(tmp_path: Path) -> Path:
    """A PATH holding a fake systemctl whose behaviour the test sets in files."""
    path = tmp_path / "bin"
    path.mkdir()
    for tool in ("bash", "timeout", "sleep", "cat", "env"):
        (path / tool).symlink_to(shutil.which(tool))
    (path / "systemctl").write_text(textwrap.dedent(f"""\
        #!{shutil.which('bash')}
        echo "$@" >> {tmp_path}/calls
        if [ "$1" = is-active ]; then cat {tmp_path}/state; exit 0; fi
        [ -f {tmp_path}/hang ] && sleep 30
        [ -f {tmp_path}/refuse ] && {{ echo "Failed to $1 $2: Access denied" >&2; exit 4; }}
        [ "$1" = start ] && echo active > {tmp_path}/state
        [ "$1" = stop ] && echo inactive > {tmp_path}/state
        exit 0
        """))
    (path / "systemctl").chmod(0o755)
    (tmp_path / "state").write_text("inactive\n")
    return path


def service(bin_dir: Path, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run([str(HOOK), *args], capture_output=True, text=True, timeout=30,
                          env={**os.environ, "PATH": str(bin_dir)})


def test_start_and_stop_a_unit(bin_dir: Path) -> None:
    done = service(bin_dir, "start", "web.service")
    assert (done.returncode, done.stdout.strip()) == (0, "service: web.service started (active)")
    done = service(bin_dir, "stop", "web.service")
    assert (done.returncode, done.stdout.strip()) == (0, "service: web.service stopped (inactive)")
    calls = (bin_dir.parent / "calls").read_text().splitlines()
    assert calls == ["start web.service", "is-active web.service",
                     "stop web.service", "is-active web.service"]


def test_a_unit_that_hangs_is_given_up_after_the_timeout(bin_dir: Path) -> None:
    (bin_dir.parent / "hang").touch()
    done = service(bin_dir, "start", "web.service", "--timeout", "1")
    assert done.returncode == 1
    assert done.stderr.strip() == "service: systemctl start web.service did not finish within 1 s"


def test_a_refusal_is_one_line_with_systemctl_s_reason(bin_dir: Path) -> None:
    (bin_dir.parent / "refuse").touch()
    done = service(bin_dir, "stop", "web.service")
    assert done.returncode == 1
    assert done.stderr.strip() == ("service: systemctl stop web.service failed (exit 4): "
                                   "Failed to stop web.service: Access denied")


def test_a_unit_not_active_after_start_fails(bin_dir: Path) -> None:
    fake = bin_dir / "systemctl"
    fake.write_text(fake.read_text().replace("echo active >", "echo failed >"))
    done = service(bin_dir, "start", "web.service")
    assert done.returncode == 1
    assert done.stderr.strip() == "service: web.service is failed after systemctl start"


@pytest.mark.parametrize("args, message", [
    (("restart", "web"), "service: unknown action 'restart';"),
    (("start",), "service: needs an action and a unit;"),
    (("start", "web", "--timeout", "0"), "--timeout '0' is not a whole number"),
    (("start", "we b"), "'we b' is not a unit name"),
])
def test_bad_use_exits_2_with_one_line(bin_dir: Path, args: tuple, message: str) -> None:
    done = service(bin_dir, *args)
    assert done.returncode == 2 and message in done.stderr
    assert len(done.stderr.strip().splitlines()) == 1


def test_without_systemctl_it_says_so(bin_dir: Path) -> None:
    (bin_dir / "systemctl").unlink()
    done = service(bin_dir, "start", "web.service")
    assert (done.returncode, done.stderr.strip()) == (
        1, "service: systemctl is not installed: web.service needs systemd")
