"""The CLI against real host processes: exit codes, timeouts, remote operators' keys."""
from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import orjson
import pytest

from switchover.client import EXIT_REFUSED, EXIT_UNREACHABLE
from switchover.localpair import LocalPair

pytestmark = pytest.mark.integration

SCALE = 0.05


def cli(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "switchover.cli", *args],
                          capture_output=True, text=True, timeout=60,
                          env={**os.environ, **(env or {})})


def operator(pair: LocalPair, name: str, rights: str) -> Path:
    done = cli("keys", "generate", str(pair.admin_keys), "--name", name, "--rights", rights)
    assert done.returncode == 0, done.stderr
    return pair.admin_keys / f"{name}.key_secret"


def test_a_stopped_host_is_reported_within_the_timeout(make_pair) -> None:
    pair = make_pair(time_scale=SCALE)
    a = pair.start_active(module=False)
    pair.kill(a, sig=15)
    started = time.monotonic()
    done = cli("status", "--config", str(pair.config_path(a)), "--timeout", "1")
    took = time.monotonic() - started
    assert done.returncode == EXIT_UNREACHABLE
    assert done.stderr.startswith(f"switchover: no answer from {a} at tcp://127.0.0.1:")
    assert "is its host process running?" in done.stderr and done.stderr.count("\n") == 1
    assert took < 5, took


def test_refusals_exit_non_zero_and_export_goes_to_stdout(make_pair) -> None:
    pair = make_pair(time_scale=SCALE)
    a = pair.start_active(module=False)
    config = str(pair.config_path(a))
    done = cli("files", "resync", "--config", config)
    assert done.returncode == EXIT_REFUSED, done
    assert "only the backup compares its files" in done.stderr
    done = cli("switch", "--config", config, "--yes")
    assert done.returncode == EXIT_REFUSED and "refused: peer unreachable" in done.stderr
    done = cli("ds", "export", "--config", config)
    assert done.returncode == 0, done.stderr
    lines = [orjson.loads(line) for line in done.stdout.splitlines()]
    assert lines and all("path" in entry for entry in lines[1:])


def test_remote_operators_with_each_right(short_tmp) -> None:
    pair = LocalPair(short_tmp / "pair", time_scale=SCALE, admin_keys=short_tmp / "admins")
    pair.admin_keys.mkdir()
    try:
        viewer = operator(pair, "viewer", "status")
        control = operator(pair, "control", "status,remote-control")
        master = operator(pair, "master", "status,remote-control,master")
        a, b = pair.start_active(), pair.start_backup()
        public = pair.keys_dir / "server-group.key"
        address = f"127.0.0.1:{pair.ports[b]['admin_port']}"

        def remote(key: Path, *args: str) -> subprocess.CompletedProcess:
            # A workstation: no pair configuration, no server-group secret.
            return cli(*args, "--connect", address, "--key", str(key),
                       "--server-key", str(public),
                       env={"SWITCHOVER_CONFIG": str(short_tmp / "none.toml")})

        seen = remote(viewer, "status", "--json")
        assert seen.returncode == 0, seen.stderr
        assert orjson.loads(seen.stdout)["role"] == "backup"
        refused = remote(viewer, "switch", "--yes")
        assert refused.returncode == EXIT_REFUSED
        assert "needs the 'remote-control' right" in refused.stderr
        immediate = remote(control, "switch", "--yes", "--immediate")
        assert immediate.returncode == EXIT_REFUSED
        assert "needs the 'master' right" in immediate.stderr
        stranger = short_tmp / "stranger"
        cli("keys", "generate", str(stranger), "--name", "eve", "--rights", "master")
        unknown = remote(stranger / "eve.key_secret", "status")
        assert unknown.returncode == EXIT_REFUSED and "not authorised" in unknown.stderr
        assert pair.status(b)["role"] == "backup"
        # Either server shows both, and they agree.
        views = {}
        for name in (a, b):
            shown = cli("status", "--config", str(pair.config_path(name)), "--key", str(viewer),
                        "--json")
            assert shown.returncode == 0, shown.stderr
            views[name] = [(r["server"], r["role"], r["state"], r["generation"])
                           for r in orjson.loads(shown.stdout)["servers"]]
        assert views[a] == views[b]
        assert [row[:3] for row in views[a]] == [(a, "active", "Primary"),
                                                 (b, "backup", "Backup")]
        local = cli("status", "--config", str(pair.config_path(b)), "--plain")
        assert local.returncode == 0, local.stderr
        assert local.stdout.splitlines()[0].split()[:3] == ["SERVER", "ROLE", "STATE"]
        assert f"{a}: shown as its peer sees it" in local.stdout
        switched = cli("switch", "--config", str(pair.config_path(a)), "--server", b,
                       "--key", str(master), "--yes", "--immediate", "--wait", "--json")
        assert switched.returncode == 0, switched.stderr
        roles = orjson.loads(switched.stdout)
        assert (roles["active"], roles["peer"]) == (b, a)
        assert pair.status(b)["role"] == "active"
        # The history of both servers, merged, names the operator who switched.
        pair.wait_state(a, "Inactive")
        history = cli("events", "--config", str(pair.config_path(a)), "--key", str(master),
                      "--json")
        assert history.returncode == 0, history.stderr
        entries = [orjson.loads(line) for line in history.stdout.splitlines()]
        assert {e["server"] for e in entries} == {a, b}
        assert [e["time"] for e in entries] == sorted(e["time"] for e in entries)
        operator_entries = [e for e in entries if e["kind"] == "operator"]
        assert operator_entries[-1]["operator"] == "master"
        assert "Manual switchover requested by master (immediate)" in [
            e["message"] for e in entries if e["kind"] == "switch"]
        switches = cli("events", "--config", str(pair.config_path(b)), "--key", str(viewer),
                       "--kind", "switch")
        assert "Switchover Service: Switch Initiated" in switches.stdout
        assert "is stale (inactive)" in switches.stdout and "operator" not in switches.stdout
    finally:
        pair.stop_all()
