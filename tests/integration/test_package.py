"""The wheel installs the project under its own name and runs outside the checkout.

Built with pip (setuptools from the package index, as any build would fetch it), installed
without its dependencies into a fresh venv in a temporary directory; the dependencies
come from this test's own environment on PYTHONPATH, so nothing of the checkout can leak
in. Then `switchover --version`, `python -m switchover`, `deploy-files` and a whole
`switchover demo` run from there.
"""
from __future__ import annotations

import os
import site
import subprocess
import sys
import sysconfig
import venv
import zipfile
from pathlib import Path

import pytest

pytestmark = [pytest.mark.integration, pytest.mark.timeout(600)]

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def wheel(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("wheel")
    done = subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps", "-q", "-w",
                           str(out), str(ROOT)], capture_output=True, text=True, timeout=300)
    if done.returncode != 0:
        if "No matching distribution" in done.stderr or "Could not find" in done.stderr:
            pytest.skip(f"the build backend cannot be fetched: {done.stderr.strip()[-200:]}")
        raise AssertionError(done.stderr)
    (path,) = out.glob("switchover-*.whl")
    return path


@pytest.fixture(scope="module")
def installed(wheel: Path, tmp_path_factory) -> tuple[Path, dict[str, str]]:
    home = tmp_path_factory.mktemp("venv")
    venv.create(home / "v", with_pip=True)
    bin_dir = home / "v" / "bin"
    subprocess.run([bin_dir / "python", "-m", "pip", "install", "-q", "--no-deps",
                    str(wheel)], check=True, timeout=300)
    deps = os.pathsep.join(site.getsitepackages() + [sysconfig.get_paths()["purelib"]])
    env = {**os.environ, "PYTHONPATH": deps}
    return bin_dir, env


def test_the_wheel_holds_only_the_projects_own_name(wheel: Path) -> None:
    names = zipfile.ZipFile(wheel).namelist()
    tops = {n.split("/")[0] for n in names}
    assert tops == {"switchover", wheel.name.split("-")[0] + "-" +
                    wheel.name.split("-")[1] + ".dist-info"}
    for part in ("switchover/actors/host.py", "switchover/transport/notifier.py",
                 "switchover/replication/ds/store.py", "switchover/deploy/hooks/vip",
                 "switchover/deploy/switchover.service"):
        assert part in names
    vip = zipfile.ZipFile(wheel).getinfo("switchover/deploy/hooks/vip")
    assert (vip.external_attr >> 16) & 0o111, "the vip hook must stay executable"


def test_installed_commands_run_outside_the_checkout(installed, tmp_path) -> None:
    bin_dir, env = installed
    run = lambda *args: subprocess.run(  # noqa: E731
        [*args], cwd=tmp_path, env=env, capture_output=True, text=True, timeout=120)
    done = run(bin_dir / "python", "-m", "switchover", "--help")
    assert done.returncode == 0 and "deploy-files" in done.stdout
    where = run(bin_dir / "python", "-c", "import switchover.actors.host as h; print(h.__file__)")
    assert str(bin_dir.parent) in where.stdout, where.stderr
    copied = run(bin_dir / "switchover", "deploy-files", str(tmp_path / "deploy"))
    assert copied.returncode == 0, copied.stderr
    assert os.access(tmp_path / "deploy" / "hooks" / "vip", os.X_OK)
    assert run(bin_dir / "switchover", "deploy-files", str(tmp_path / "deploy")).returncode == 1


def test_switchover_demo_from_the_wheel(installed, tmp_path) -> None:
    bin_dir, env = installed
    done = subprocess.run([bin_dir / "switchover", "demo"], cwd=tmp_path, env=env,
                          capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-2000:]
    assert "Switch Initiated" in done.stdout
