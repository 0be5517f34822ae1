"""`[hooks]`: argument lists, shipped hook names, shell strings, per-hook timeouts, refusals."""
from __future__ import annotations

import textwrap
from pathlib import Path

import pytest

from switchover.config import ConfigError, HookCommand, Hooks, load_config, parse_config
from switchover.hookconfig import SHIPPED_HOOKS
from tests.unit.test_config import example


def parsed(tmp_path: Path, hooks: dict) -> Hooks:
    data = example()
    data["hooks"] = hooks
    return parse_config(data, tmp_path / "a.toml").hooks


def refusal(tmp_path: Path, hooks: dict) -> str:
    with pytest.raises(ConfigError) as info:
        parsed(tmp_path, hooks)
    message = str(info.value)
    assert "\n" not in message and message.startswith(f"{tmp_path / 'a.toml'}: [hooks] ")
    return message


def test_a_bare_name_is_a_shipped_hook_and_keeps_its_arguments(tmp_path: Path) -> None:
    hooks = parsed(tmp_path, {"commence": [["vip", "up", "10.0.0.100/24", "eth0"]],
                              "discontinue": [["service", "stop", "web.service"]]})
    assert hooks.commence == (HookCommand(argv=(str(SHIPPED_HOOKS / "vip"), "up",
                                                "10.0.0.100/24", "eth0")),)
    assert hooks.discontinue[0].argv[0] == str(SHIPPED_HOOKS / "service")
    assert hooks.commence[0].label().endswith("deploy/hooks/vip up 10.0.0.100/24 eth0")
    assert (hooks.timeout, hooks.retries) == (60.0, 2)


def test_a_path_resolves_against_the_config_file(tmp_path: Path) -> None:
    script = tmp_path / "bin" / "mine"
    script.parent.mkdir()
    script.write_text("#!/bin/sh\n")
    script.chmod(0o755)
    hooks = parsed(tmp_path, {"commence": [["bin/mine", "x"]]})
    assert hooks.commence[0].argv == (str(script), "x")


def test_strings_stay_shell_commands_and_tables_carry_a_timeout(tmp_path: Path) -> None:
    hooks = parsed(tmp_path, {
        "commence": ["logger up", {"command": ["vip", "up", "10.0.0.1/24", "eth0"],
                                   "timeout": 5}],
        "discontinue": {"command": "logger down", "timeout": 2.5},
        "timeout": 20, "retries": 0,
    })
    assert hooks.commence[0] == HookCommand(shell="logger up")
    assert hooks.commence[1].timeout == 5 and hooks.commence[1].argv[1] == "up"
    assert hooks.discontinue == (HookCommand(shell="logger down", timeout=2.5),)
    assert (hooks.timeout, hooks.retries) == (20.0, 0)


def test_the_toml_form_of_the_readme_loads(tmp_path: Path) -> None:
    keys = tmp_path / "k.key_secret"
    (tmp_path / "a.toml").write_text(textwrap.dedent(f"""\
        [server]
        name = "A"
        data_dir = "{tmp_path}/data"
        release = "2026.1.0"
        [servers.A]
        address = "127.0.0.1"
        [servers.B]
        address = "127.0.0.2"
        [security]
        server_group_key = "{keys}"
        [hooks]
        commence = [["vip", "up", "10.0.0.100/24", "eth0"], ["service", "start", "web"]]
        discontinue = [["service", "stop", "web"], ["vip", "down", "10.0.0.100/24", "eth0"]]
        timeout = 30
        [server_parameters]
        "SwitchoverServer A" = "A"
        "SwitchoverServer B" = "B"
        """))
    hooks = load_config(tmp_path / "a.toml").hooks
    assert [c.argv[1] for c in hooks.commence] == ["up", "start"]
    assert hooks.timeout == 30.0


@pytest.mark.parametrize("hooks, expected", [
    ({"commence": [["vpi", "up"]]},
     '[hooks] commence[0] = "vpi": not a shipped hook (shipped: service, vip); give a path'),
    ({"commence": [["./missing"]]}, "commence[0] = \"./missing\": "),
    ({"commence": [[]]}, "commence[0] = []: allowed a non-empty list of strings"),
    ({"commence": [["vip", 1]]}, "commence[0]"),
    ({"commence": [""]}, "commence[0] = \"\": allowed a non-empty shell command"),
    ({"commence": [1]}, "commence[0] = 1"),
    ({"discontinue": 5}, "discontinue = 5: allowed a list of hooks"),
    ({"commence": [{"timeout": 3}]}, "takes `command` (required) and `timeout`"),
    ({"commence": [{"command": "x", "timeout": 0}]}, "commence[0] timeout = 0: allowed"),
    ({"timeout": -1}, "timeout = -1: allowed a number of seconds greater than 0"),
    ({"retries": 11}, "retries = 11: allowed a whole number 0..10"),
    ({"retries": True}, "retries = true"),
    ({"commands": []}, "commands: unknown key; allowed keys: commence, discontinue"),
])
def test_bad_hooks_are_refused_naming_the_key(tmp_path: Path, hooks: dict, expected: str) -> None:
    assert expected in refusal(tmp_path, hooks)


@pytest.mark.parametrize("name", ["server-a.toml", "server-b.toml"])
def test_the_deploy_examples_load_with_the_shipped_hooks(name: str) -> None:
    config = load_config(SHIPPED_HOOKS.parent / name)
    assert [c.argv[0] for c in config.hooks.commence] == [str(SHIPPED_HOOKS / "vip"),
                                                         str(SHIPPED_HOOKS / "service")]
    assert config.hooks.discontinue[-1].argv[1:] == ("down", "10.60.0.100/24", "eth0")


def test_fence_takes_the_same_forms_and_is_checked_the_same_way(tmp_path: Path) -> None:
    hooks = parsed(tmp_path, {"fence": [{"command": "ipmitool chassis power off", "timeout": 20},
                                        ["service", "stop", "web.service"]]})
    assert hooks.fence[0] == HookCommand(shell="ipmitool chassis power off", timeout=20)
    assert hooks.fence[1].argv[0] == str(SHIPPED_HOOKS / "service")
    assert parsed(tmp_path, {}).fence == ()
    assert refusal(tmp_path, {"fence": [["fence-peer"]]}).startswith(
        f'{tmp_path / "a.toml"}: [hooks] fence[0] = "fence-peer": not a shipped hook')
