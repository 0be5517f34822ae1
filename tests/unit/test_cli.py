"""The CLI as an operator meets it: help, exit codes, one-line errors, completion."""
from __future__ import annotations

import argparse
import subprocess
import sys
from pathlib import Path

import pytest

from switchover.cli import build_parser, main
from switchover.client import (
    EXIT_REFUSED,
    EXIT_UNREACHABLE,
    EXIT_USAGE,
    CommandFailed,
    resolve_target,
)
from switchover.commands.completion import bash_script, walk
from switchover.config import load_config

CONFIG = """\
[server]
name = "ICServer1"
data_dir = "{base}/data"
release = "2026.1.0"

[servers.ICServer1]
address = "10.60.0.2"

[servers.ICServer2]
address = "10.60.0.3"
admin_port = 4636

[security]
server_group_key = "{base}/keys/server-group.key_secret"

[server_parameters]
"SwitchoverServer A" = "ICServer1"
"SwitchoverServer B" = "ICServer2"
"""


@pytest.fixture
def config_file(tmp_path: Path) -> Path:
    path = tmp_path / "a.toml"
    path.write_text(CONFIG.format(base=tmp_path))
    return path


def run(capsys, *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    out = capsys.readouterr()
    return code, out.out, out.err


def test_exit_codes_are_distinct():
    assert len({0, EXIT_REFUSED, EXIT_USAGE, EXIT_UNREACHABLE}) == 4


def _actions(parser: argparse.ArgumentParser, path: str = ""):
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for name, child in action.choices.items():
                yield from _actions(child, f"{path} {name}")
        else:
            yield path, action


def test_every_option_has_help():
    missing = [f"{path} {action.option_strings or action.dest}"
               for path, action in _actions(build_parser()) if not action.help]
    assert missing == []


def test_version(capsys):
    with pytest.raises(SystemExit) as stop:
        main(["--version"])
    assert stop.value.code == 0
    assert capsys.readouterr().out.startswith("switchover ")


def test_default_config_comes_from_the_environment(capsys, monkeypatch, tmp_path):
    monkeypatch.setenv("SWITCHOVER_CONFIG", str(tmp_path / "missing.toml"))
    code, out, err = run(capsys, "status")
    assert code == EXIT_USAGE
    assert err.startswith(f"switchover: {tmp_path / 'missing.toml'}: cannot read")
    assert err.count("\n") == 1


def test_config_check(capsys, config_file, tmp_path):
    code, out, _ = run(capsys, "config", "check", str(config_file))
    assert code == 0
    assert out.startswith(f"{config_file}: valid; this is ICServer1 (SwitchoverServer A), "
                          "peer ICServer2")
    bad = tmp_path / "bad.toml"
    bad.write_text(CONFIG.format(base=tmp_path).replace('address = "10.60.0.3"',
                                                        'address = "10.60.0.3"\nport = 1'))
    code, out, err = run(capsys, "config", "check", str(bad))
    assert (code, out) == (EXIT_USAGE, "")
    assert "[servers.ICServer2] port: unknown key" in err and err.count("\n") == 1


def test_missing_operator_key_is_one_line(capsys, config_file, tmp_path):
    code, _, err = run(capsys, "status", "--config", str(config_file))
    assert code == EXIT_USAGE
    assert err == (f"switchover: no operator key at {tmp_path}/data/operator.key_secret: is the "
                   "host process for ICServer1 running (it writes the key at start)? Or give "
                   "your own key with --key\n")


def test_unreadable_key_is_one_line(capsys, config_file, tmp_path):
    key = tmp_path / "alice.key_secret"
    key.write_text("not a certificate")
    code, _, err = run(capsys, "status", "--config", str(config_file), "--key", str(key))
    assert code == EXIT_USAGE
    assert err.startswith(f"switchover: operator key {key}: not a CURVE certificate")
    code, _, err = run(capsys, "status", "--config", str(config_file),
                       "--key", str(tmp_path / "nobody.key_secret"))
    assert (code, err) == (EXIT_USAGE, f"switchover: operator key {tmp_path}/nobody.key_secret"
                                       ": no such file\n")


def test_bad_timeout_is_usage(capsys, config_file):
    code, _, err = run(capsys, "status", "--config", str(config_file), "--timeout", "0")
    assert (code, err) == (EXIT_USAGE, "switchover: --timeout 0: must be more than 0 seconds\n")


def test_targets(config_file, tmp_path):
    config = load_config(config_file)
    key = tmp_path / "alice.key_secret"
    assert resolve_target(config, server="ICServer2", key=key).endpoint == \
        "tcp://10.60.0.3:4636"
    assert resolve_target(config, connect="10.60.0.3", key=key).name == "ICServer2"
    assert resolve_target(config, connect="10.60.0.3", key=key).endpoint == \
        "tcp://10.60.0.3:4636"
    assert resolve_target(config, connect="192.0.2.9", key=key).endpoint == \
        "tcp://192.0.2.9:3636"
    assert resolve_target(config, connect="[::1]:99", key=key).endpoint == "tcp://::1:99"
    assert resolve_target(config, key=key).server_key_file == \
        tmp_path / "keys" / "server-group.key_secret"
    for bad, text in [({"connect": "host:port"}, "the port must be 1..65535"),
                      ({"server": "ICServer9"}, "not a server of this pair"),
                      ({"server": "ICServer2", "key": None}, "give your operator key")]:
        with pytest.raises(CommandFailed, match=text) as failed:
            resolve_target(config, **{"key": key, **bad})
        assert failed.value.code == EXIT_USAGE


def test_keys_generate_refuses_overwrite_and_unknown_rights(capsys, tmp_path):
    code, out, _ = run(capsys, "keys", "generate", str(tmp_path), "--name", "alice",
                       "--rights", "status, remote-control")
    assert code == 0
    assert f"{tmp_path}/alice.key  -> copy into [security] admin_keys on both servers" in out
    assert "SECRET: stays with alice" in out
    assert 'rights = "status,remote-control"' in (tmp_path / "alice.key").read_text()
    before = (tmp_path / "alice.key_secret").read_text()
    code, _, err = run(capsys, "keys", "generate", str(tmp_path), "--name", "alice",
                       "--rights", "status")
    assert code == EXIT_USAGE and "exists: not overwritten (give --force" in err
    assert (tmp_path / "alice.key_secret").read_text() == before
    assert run(capsys, "keys", "generate", str(tmp_path), "--name", "alice",
               "--rights", "status", "--force")[0] == 0
    assert (tmp_path / "alice.key_secret").read_text() != before
    code, _, err = run(capsys, "keys", "generate", str(tmp_path), "--name", "eve",
                       "--rights", "status,root")
    assert (code, err) == (EXIT_USAGE, "switchover: --rights 'status,root': unknown right "
                                       "root; known rights: status, remote-control, master\n")
    assert not (tmp_path / "eve.key").exists()
    code, out, _ = run(capsys, "keys", "generate", str(tmp_path / "group"))
    assert "SECRET: copy to both servers only" in out


def test_completion_knows_every_command_and_option(capsys):
    code, out, _ = run(capsys, "completion", "bash")
    assert code == 0
    assert out == bash_script(build_parser())
    for path, subs, options in walk(build_parser()):
        key = f"switchover {path}".strip()
        assert f'_switchover_subs["{key}"]="{" ".join(subs)}"' in out
        assert f'_switchover_opts["{key}"]="{" ".join(options)}"' in out
    assert '_switchover_subs["switchover ds"]="get set delete tree export import"' in out
    assert "--connect" in out and "--wait" in out
    # bash parses the script and completes a command word and an option
    done = subprocess.run(
        ["bash", "-c", out + '\nCOMP_WORDS=(switchover sta); COMP_CWORD=1; _switchover; '
                            'echo "${COMPREPLY[@]}"; COMP_WORDS=(switchover ds export --c); '
                            'COMP_CWORD=3; _switchover; echo "${COMPREPLY[@]}"'],
        capture_output=True, text=True, timeout=10)
    assert done.stdout.splitlines() == ["status", "--config --connect"], done.stderr


def test_the_cli_does_not_load_the_host():
    """A command is a client: it must not import pykka and the replication services (the
    parameter catalogue does use the upgrade filters' pure parser, docs/internals.md)."""
    done = subprocess.run([sys.executable, "-c", (
        "import sys, switchover.cli\n"
        "from switchover.commands import common, status\n"
        "loaded = [m for m in ('pykka', 'actors', 'switchover.actors', 'switchover.replication.services',"
        " 'switchover.replication.ds.service', 'switchover.replication.files.service',"
        " 'switchover.replication.interactions.service')"
        " if m in sys.modules]\n"
        "print(loaded)")], capture_output=True, text=True, timeout=30)
    assert done.stdout.strip() == "[]", done.stderr
