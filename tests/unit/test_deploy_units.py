"""The systemd units in deploy/ pass `systemd-analyze verify` and score 4.0 or better in
`systemd-analyze security` (lower is safer); skipped, saying why, without systemd's tools.

The units name /opt/switchover/.venv/bin/switchover; verify checks that ExecStart is an
executable, so the copies analysed here point at this checkout's own `switchover`.
"""
from __future__ import annotations

import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

DEPLOY = Path(__file__).resolve().parents[2] / "deploy"
INSTALLED = "/opt/switchover/.venv/bin/switchover"
MAX_EXPOSURE = 4.0
UNITS = {"switchover.service": "switchover.service",
         "switchover-module@.service": "switchover-module@TsServer.service"}


@pytest.fixture(scope="module")
def analyze() -> str:
    tool = shutil.which("systemd-analyze")
    if tool is None:
        pytest.skip("systemd-analyze (package systemd) is not installed")
    done = subprocess.run([tool, "security", "--help"], capture_output=True, text=True)
    if "--offline" not in done.stdout:
        pytest.skip("this systemd-analyze has no `security --offline` (systemd < 250)")
    return tool


@pytest.fixture
def units(tmp_path: Path) -> Path:
    here = Path(sys.executable).parent / "switchover"
    assert here.exists(), here
    for name in UNITS:
        text = (DEPLOY / name).read_text()
        assert INSTALLED in text, name
        (tmp_path / name).write_text(text.replace(INSTALLED, str(here)))
    return tmp_path


@pytest.mark.parametrize("name", sorted(UNITS))
def test_the_unit_verifies(analyze: str, units: Path, name: str) -> None:
    done = subprocess.run([analyze, "verify", str(units / UNITS[name])], cwd=units,
                          capture_output=True, text=True, timeout=60)
    assert done.returncode == 0 and not done.stderr.strip(), done.stderr


@pytest.mark.parametrize("name", sorted(UNITS))
def test_the_unit_scores_4_or_better(analyze: str, units: Path, name: str) -> None:
    done = subprocess.run([analyze, "security", "--offline=yes", "--no-pager",
                           str(units / UNITS[name])], cwd=units,
                          capture_output=True, text=True, timeout=60)
    found = re.search(r"Overall exposure level for \S+: (\d+\.\d+)", done.stdout)
    assert found, done.stdout[-500:] + done.stderr
    assert float(found.group(1)) <= MAX_EXPOSURE, done.stdout


def test_the_host_unit_keeps_what_the_vip_hook_and_readiness_need() -> None:
    text = (DEPLOY / "switchover.service").read_text()
    for line in ("Type=notify", "ExecReload=/bin/kill -HUP $MAINPID", "ProtectSystem=strict",
                 "ReadWritePaths=/var/lib/switchover", "PrivateTmp=yes", "UMask=0077",
                 "AmbientCapabilities=CAP_NET_ADMIN CAP_NET_RAW",
                 "CapabilityBoundingSet=CAP_NET_ADMIN CAP_NET_RAW",
                 "RestartPreventExitStatus=2"):
        assert f"\n{line}\n" in text, line
    families = re.search(r"\nRestrictAddressFamilies=(.*)\n", text).group(1).split()
    assert {"AF_NETLINK", "AF_PACKET"} <= set(families)  # `ip addr`, arping
