"""The host configuration file: DESIGN.md's example and every refusal."""
from __future__ import annotations

import copy
import io
import json
from pathlib import Path
from typing import Any

import pytest

from switchover.config import (
    Config,
    ConfigError,
    HostEntry,
    HookCommand,
    Hooks,
    SecurityConfig,
    load_config,
    parse_config,
    release_key,
)


def example() -> dict[str, Any]:
    """DESIGN.md's "Example configuration" for server A."""
    return {
        "server": {
            "name": "ICServer1",
            "data_dir": "/var/lib/switchover",
            "root": "/",
            "release": "2026.1.0",
            "time_scale": 1.0,
        },
        "servers": {
            "ICServer1": {
                "address": "10.60.0.2",
                "aux_address": "10.70.0.2",
                "switch_port": 3633,
                "main_port": 3634,
                "aux_port": 3635,
                "admin_port": 3636,
            },
            "ICServer2": {
                "address": "10.60.0.3",
                "switch_port": 3633,
                "main_port": 3634,
                "aux_port": 3635,
                "admin_port": 3636,
            },
        },
        "security": {
            "server_group_key": "/etc/switchover/keys/server-group.key_secret",
            "admin_keys": "/etc/switchover/keys/admins",
        },
        "hooks": {
            "commence": ["/usr/local/lib/switchover/vip-up"],
            "discontinue": ["/usr/local/lib/switchover/vip-down"],
        },
        "server_parameters": {
            "SwitchoverServer A": "ICServer1",
            "SwitchoverServer B": "ICServer2",
            "Switchover TS Timeout": 10,
            "CustomMirrorDir": "+/I3/IC/Resources;+/I3/IC/Flows",
            "MirrorExceptions": "tmp; bak",
        },
    }


def _toml_value(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (int, float)):
        return repr(value)
    if isinstance(value, str):
        return json.dumps(value)
    if isinstance(value, list):
        return "[" + ", ".join(_toml_value(v) for v in value) + "]"
    raise TypeError(value)


def to_toml(data: dict[str, Any], prefix: str = "") -> str:
    """Enough of a TOML writer for these tables (scalars first, then sub-tables)."""
    scalars = {k: v for k, v in data.items() if not isinstance(v, dict)}
    tables = {k: v for k, v in data.items() if isinstance(v, dict)}
    out = []
    if prefix and (scalars or not tables):
        out.append(f"[{prefix}]")
    out += [f"{json.dumps(k)} = {_toml_value(v)}" for k, v in scalars.items()]
    for key, sub in tables.items():
        out.append(to_toml(sub, f"{prefix}.{json.dumps(key)}" if prefix else json.dumps(key)))
    return "\n".join(out) + "\n"


def write(tmp_path: Path, data: dict[str, Any], name: str = "a.toml") -> Path:
    path = tmp_path / name
    path.write_text(to_toml(data), encoding="utf-8")
    return path


def refused(tmp_path: Path, data: dict[str, Any]) -> str:
    path = write(tmp_path, data)
    with pytest.raises(ConfigError) as info:
        load_config(path)
    message = str(info.value)
    assert message.startswith(f"{path}: "), message
    return message


# --- a valid configuration ------------------------------------------------------------


def test_design_example_round_trip(tmp_path: Path) -> None:
    path = write(tmp_path, example())
    config = load_config(path)
    assert isinstance(config, Config)
    assert config.path == path
    assert config.server_name == "ICServer1"
    assert config.letter == "A" and config.peer_letter == "B"
    assert config.data_dir == Path("/var/lib/switchover")
    assert config.root == Path("/")
    assert config.release == "2026.1.0"
    assert config.time_scale == 1.0
    assert set(config.servers) == {"ICServer1", "ICServer2"}
    assert config.this == HostEntry("ICServer1", "10.60.0.2", "10.70.0.2", 3633, 3634, 3635, 3636)
    assert config.peer == HostEntry("ICServer2", "10.60.0.3", "10.60.0.3")  # aux defaults
    assert config.security == SecurityConfig(
        Path("/etc/switchover/keys/server-group.key_secret"), Path("/etc/switchover/keys/admins")
    )
    assert config.hooks == Hooks(
        (HookCommand(shell="/usr/local/lib/switchover/vip-up"),),
        (HookCommand(shell="/usr/local/lib/switchover/vip-down"),),
    )
    assert config.parameters["Switchover TS Timeout"] == 10
    assert config.parameters["CustomMirrorDir"] == (
        ("/I3/IC/Resources", True), ("/I3/IC/Flows", True),
    )
    assert config.parameters["MirrorExceptions"] == ("tmp", "bak")
    assert config.parameters["Switchover Reconnect Timeout"] == 30
    assert parse_config(example(), path) == config


def test_server_b_sees_a_as_its_peer(tmp_path: Path) -> None:
    data = example()
    data["server"]["name"] = "ICServer2"
    config = load_config(write(tmp_path, data))
    assert config.letter == "B" and config.peer_letter == "A"
    assert config.this.name == "ICServer2" and config.peer.name == "ICServer1"


def test_defaults_and_relative_paths(tmp_path: Path) -> None:
    data = example()
    del data["server"]["root"], data["server"]["time_scale"], data["hooks"]
    del data["security"]["admin_keys"]
    data["server"]["data_dir"] = "state/a"
    data["security"]["server_group_key"] = "keys/server-group.key_secret"
    for port in ("switch_port", "main_port", "aux_port", "admin_port"):
        del data["servers"]["ICServer1"][port]
    sub = tmp_path / "etc"
    sub.mkdir()
    config = load_config(write(sub, data))
    assert config.root == Path("/")
    assert config.time_scale == 1.0
    assert config.hooks == Hooks()
    assert config.data_dir == sub / "state" / "a"
    assert config.security.server_group_key == sub / "keys" / "server-group.key_secret"
    assert config.security.admin_keys is None
    assert config.this.switch_port == 3633 and config.this.admin_port == 3636


def test_relative_root_and_small_time_scale(tmp_path: Path) -> None:
    data = example()
    data["server"]["root"] = "../roots/a"
    data["server"]["time_scale"] = 0.01
    config = load_config(write(tmp_path, data))
    assert config.root == tmp_path.parent / "roots" / "a"
    assert config.time_scale == 0.01


def test_two_hosts_on_one_machine_with_distinct_ports(tmp_path: Path) -> None:
    data = example()
    data["servers"]["ICServer1"] = {"address": "127.0.0.1"}
    data["servers"]["ICServer2"] = {
        "address": "127.0.0.1", "switch_port": 4633, "main_port": 4634,
        "aux_port": 4635, "admin_port": 4636,
    }
    config = load_config(write(tmp_path, data))
    assert config.peer.main_port == 4634


def test_server_parameter_names_any_case(tmp_path: Path) -> None:
    data = example()
    data["server_parameters"] = {
        "switchoverserver a": "ICServer1", "SWITCHOVERSERVER B": "ICServer2",
        "switchover ts timeout": "20",
    }
    config = load_config(write(tmp_path, data))
    assert config.parameters["Switchover TS Timeout"] == 20


def test_udp_monitor_parameter_no_longer_stops_the_start(tmp_path: Path) -> None:
    data = example()
    data["server_parameters"]["Switchover UDP Monitor"] = 1
    data["server_parameters"]["switchover max udp failures"] = "3"
    config = load_config(write(tmp_path, data))
    assert [w.split(":")[0] for w in config.parameters.warnings()] == [
        'server parameter "Switchover UDP Monitor" has no effect',
        'server parameter "Switchover Max UDP Failures" has no effect',
    ]


def test_run_prints_one_warning_line_per_parameter_with_no_effect(tmp_path: Path) -> None:
    from switchover.commands.run import warn_no_effect

    data = example()
    data["server_parameters"]["Switchover UDP Normal Retry Delay"] = 2
    out = io.StringIO()
    warn_no_effect(load_config(write(tmp_path, data)).parameters.warnings(), out)
    assert out.getvalue().splitlines() == [
        'switchover: warning: server parameter "Switchover UDP Normal Retry Delay" has no '
        "effect: the UDP monitor was retired by the reference in 2015 R1 (the primary monitor "
        "does its work) and switchover has none; the value is accepted and ignored"
    ]


# --- refusals -------------------------------------------------------------------------


def test_unknown_key_in_a_table(tmp_path: Path) -> None:
    data = example()
    data["server"]["colour"] = "blue"
    message = refused(tmp_path, data)
    assert "[server] colour: unknown key" in message
    assert "allowed keys: name, data_dir, root, release, time_scale" in message


def test_unknown_key_in_a_host_table(tmp_path: Path) -> None:
    data = example()
    data["servers"]["ICServer2"]["aux_addr"] = "10.70.0.3"
    message = refused(tmp_path, data)
    assert "[servers.ICServer2] aux_addr: unknown key" in message
    assert "aux_address" in message


@pytest.mark.parametrize("table", ["security", "hooks"])
def test_unknown_key_in_other_tables(tmp_path: Path, table: str) -> None:
    data = example()
    data[table]["extra"] = "x"
    assert f"[{table}] extra: unknown key" in refused(tmp_path, data)


def test_unknown_table(tmp_path: Path) -> None:
    data = example()
    data["logging"] = {"level": "debug"}
    message = refused(tmp_path, data)
    assert "logging: unknown table" in message
    assert "[server_parameters]" in message


def test_three_servers(tmp_path: Path) -> None:
    data = example()
    data["servers"]["ICServer3"] = {"address": "10.60.0.4"}
    message = refused(tmp_path, data)
    assert "[servers]: must hold exactly two hosts" in message
    assert "found 3" in message and '"ICServer3"' in message


def test_one_server(tmp_path: Path) -> None:
    data = example()
    del data["servers"]["ICServer2"]
    assert "found 1" in refused(tmp_path, data)


def test_a_equals_b(tmp_path: Path) -> None:
    data = example()
    data["server_parameters"]["SwitchoverServer B"] = "ICServer1"
    message = refused(tmp_path, data)
    assert '"SwitchoverServer B" = "ICServer1": must differ from "SwitchoverServer A"' in message


def test_missing_switchover_server_parameter(tmp_path: Path) -> None:
    data = example()
    del data["server_parameters"]["SwitchoverServer A"]
    assert '"SwitchoverServer A": is required' in refused(tmp_path, data)


def test_host_neither_a_nor_b(tmp_path: Path) -> None:
    data = example()
    data["server"]["name"] = "ICServer9"
    message = refused(tmp_path, data)
    assert message.endswith(
        'host "ICServer9" is neither SwitchoverServer A ("ICServer1") nor '
        'SwitchoverServer B ("ICServer2")'
    )


def test_servers_must_be_the_pair_named_in_parameters(tmp_path: Path) -> None:
    data = example()
    data["servers"]["Other"] = data["servers"].pop("ICServer2")
    message = refused(tmp_path, data)
    assert "must be exactly SwitchoverServer A" in message
    assert "[servers.Other]" in message


@pytest.mark.parametrize("port", [0, 65536, -1, "3634", True, 3634.0])
def test_bad_port(tmp_path: Path, port: object) -> None:
    data = example()
    data["servers"]["ICServer1"]["main_port"] = port
    message = refused(tmp_path, data)
    assert "[servers.ICServer1] main_port = " in message
    assert "allowed a TCP port number 1..65535" in message


def test_port_range_ends_accepted(tmp_path: Path) -> None:
    data = example()
    data["servers"]["ICServer1"].update(switch_port=1, admin_port=65535)
    config = load_config(write(tmp_path, data))
    assert (config.this.switch_port, config.this.admin_port) == (1, 65535)


def test_duplicate_ports_in_one_host(tmp_path: Path) -> None:
    data = example()
    data["servers"]["ICServer2"]["admin_port"] = 3634
    message = refused(tmp_path, data)
    assert "[servers.ICServer2] admin_port = 3634: the same port as main_port" in message
    assert "must differ" in message


def test_same_endpoint_on_both_hosts(tmp_path: Path) -> None:
    data = example()
    data["servers"]["ICServer2"]["address"] = "10.60.0.2"
    message = refused(tmp_path, data)
    assert "10.60.0.2:3633" in message and "each endpoint may be used once" in message


def test_bad_address(tmp_path: Path) -> None:
    data = example()
    data["servers"]["ICServer1"]["address"] = "10.60.0 .2"
    assert "[servers.ICServer1] address" in refused(tmp_path, data)


@pytest.mark.parametrize("scale", [0, 0.0, -1, 1.5, "fast", True])
def test_bad_time_scale(tmp_path: Path, scale: object) -> None:
    data = example()
    data["server"]["time_scale"] = scale
    message = refused(tmp_path, data)
    assert "[server] time_scale = " in message
    assert "greater than 0 and at most 1" in message


@pytest.mark.parametrize("release", ["2026.1.x", "v2026.1", "2026..1", "2026.1.", "", 2026])
def test_bad_release(tmp_path: Path, release: object) -> None:
    data = example()
    data["server"]["release"] = release
    message = refused(tmp_path, data)
    assert "[server] release" in message


def test_bad_release_names_the_format(tmp_path: Path) -> None:
    data = example()
    data["server"]["release"] = "2026.1.x"
    message = refused(tmp_path, data)
    assert '[server] release = "2026.1.x": allowed a dotted version of digits' in message


def test_reference_mirror_examples_load(tmp_path: Path) -> None:
    # pasted into [server_parameters] as the reference prints them
    data = example()
    data["server_parameters"]["CustomMirrorDir"] = r"D:\I3\Server\Data1;+D:\I3\IC\Server\Data2"
    data["server_parameters"]["Handler Path"] = r"\I3\IC\Handlers"
    config = load_config(write(tmp_path, data))
    assert config.parameters["CustomMirrorDir"] == (
        ("/I3/Server/Data1", False), ("/I3/IC/Server/Data2", True),
    )
    assert config.parameters["Handler Path"] == "/I3/IC/Handlers"


def test_malformed_mirror_item_is_named(tmp_path: Path) -> None:
    data = example()
    data["server_parameters"]["InitialMirrorDir"] = r"+D:\I3\IC\Recordings;D:I3\IC"
    message = refused(tmp_path, data)
    assert '[server_parameters] server parameter "InitialMirrorDir" = ' in message
    assert 'item "D:I3\\\\IC": path must be absolute' in message


@pytest.mark.parametrize(
    "name, value, reason",
    [
        ("CustomMirrorDir", "+D:\\I3\\IC \\ ",
         'item "+D:\\\\I3\\\\IC \\\\": a directory name cannot begin or end with a space '
         "('IC ')"),
        ("Handler Path", "/I3/IC/Handlers /",
         "a directory name cannot begin or end with a space ('Handlers ')"),
        ("InitialMirrorDir", "/I3/IC/Recordings;+D:\\", 'item "+D:\\\\": the root directory '
         "itself cannot be mirrored"),
        ("MirrorExceptions", "txt; tar..gz", '"tar..gz" is not a file extension: an extension '
         "cannot end with a dot or hold '..'"),
    ],
)
def test_mirror_values_the_mirror_could_not_keep_are_refused_at_load(
    tmp_path: Path, name: str, value: str, reason: str
) -> None:
    # what config load accepts is what the mirror, reading the stored value back, uses
    data = example()
    data["server_parameters"][name] = value
    message = refused(tmp_path, data)
    assert f'[server_parameters] server parameter "{name}" = ' in message
    assert reason in message


def test_bad_parameter_value_keeps_its_message(tmp_path: Path) -> None:
    data = example()
    data["server_parameters"]["Switchover TS Timeout"] = 3
    message = refused(tmp_path, data)
    assert message.endswith(
        '[server_parameters] server parameter "Switchover TS Timeout" = 3: allowed 5..60 '
        'seconds (reference: "Set this value between 5 - 60 seconds")'
    )


@pytest.mark.parametrize("name", ["Custom Upgrade Synchronization Directories",
                                  "Custom Upgrade Attribute Exceptions"])
def test_a_malformed_upgrade_filter_is_refused_with_the_filters_message(
        tmp_path: Path, name: str) -> None:
    data = example()
    data["server_parameters"][name] = "foo"
    message = refused(tmp_path, data)
    assert f'server parameter "{name}" = "foo": item 1 \'foo\'' in message


def test_unknown_parameter_suggests(tmp_path: Path) -> None:
    data = example()
    data["server_parameters"]["Switchover Reconect Timeout"] = 30
    message = refused(tmp_path, data)
    assert 'did you mean "Switchover Reconnect Timeout"?' in message


def test_server_address_parameter_must_match_the_host_table(tmp_path: Path) -> None:
    data = example()
    data["server_parameters"]["Server B Address"] = "10.60.0.99"
    message = refused(tmp_path, data)
    assert '"Server B Address" = "10.60.0.99": differs from [servers.ICServer2] address' in message
    data["server_parameters"]["Server B Address"] = "10.60.0.3"
    assert load_config(write(tmp_path, data)).parameters["Server B Address"] == "10.60.0.3"


def test_missing_required_tables_and_keys(tmp_path: Path) -> None:
    for table in ("server", "servers", "security", "server_parameters"):
        data = example()
        del data[table]
        assert f"[{table}]: this table is required" in refused(tmp_path, data)
    data = example()
    del data["server"]["data_dir"]
    assert "[server] data_dir: is required" in refused(tmp_path, data)
    data = example()
    del data["server"]["release"]
    assert "[server] release: is required" in refused(tmp_path, data)


def test_server_group_key_must_be_the_secret_file(tmp_path: Path) -> None:
    data = example()
    data["security"]["server_group_key"] = "/etc/switchover/keys/server-group.key"
    message = refused(tmp_path, data)
    assert "[security] server_group_key" in message and "*.key_secret" in message


@pytest.mark.parametrize("hooks", [[""], [1], "x"])
def test_hooks_are_lists_of_commands(tmp_path: Path, hooks: object) -> None:
    data = example()
    data["hooks"]["commence"] = hooks
    if hooks == "x":  # a single command is accepted as a one-entry list
        assert load_config(write(tmp_path, data)).hooks.commence == (HookCommand(shell="x"),)
    else:
        assert "[hooks] commence" in refused(tmp_path, data)


def test_invalid_toml_and_missing_file(tmp_path: Path) -> None:
    path = tmp_path / "broken.toml"
    path.write_text("[server\nname = 1\n", encoding="utf-8")
    with pytest.raises(ConfigError, match="not valid TOML") as info:
        load_config(path)
    assert str(path) in str(info.value)
    with pytest.raises(ConfigError, match="cannot read"):
        load_config(tmp_path / "absent.toml")


def test_config_is_immutable(tmp_path: Path) -> None:
    config = load_config(write(tmp_path, example()))
    with pytest.raises(AttributeError):
        config.letter = "B"  # type: ignore[misc]
    with pytest.raises(TypeError):
        config.servers["x"] = config.this  # type: ignore[index]


# --- releases -------------------------------------------------------------------------


def test_release_key_orders_releases_numerically() -> None:
    assert release_key("2026.1.0") < release_key("2026.1.1") < release_key("2026.2")
    assert release_key("2026.10") > release_key("2026.9")
    assert release_key("2026.1") == release_key("2026.1.0")
    assert release_key("2027") > release_key("2026.99.99")


@pytest.mark.parametrize("bad", ["", "2026.x", "v1", "1..2"])
def test_release_key_refuses_non_versions(bad: str) -> None:
    with pytest.raises(ValueError, match="dotted version"):
        release_key(bad)


def test_parse_config_does_not_mutate_its_input(tmp_path: Path) -> None:
    data = example()
    snapshot = copy.deepcopy(data)
    parse_config(data, tmp_path / "a.toml")
    assert data == snapshot


def test_data_dir_too_long_for_the_notifier_socket(tmp_path: Path) -> None:
    data = example()
    data["server"]["data_dir"] = "/var/lib/" + "d" * 100
    message = refused(tmp_path, data)
    assert "[server] data_dir" in message and "notifier.ipc" in message
    assert "under 107 characters" in message


# --- [log] and [metrics] --------------------------------------------------------------


def test_log_and_metrics_defaults_and_values(tmp_path: Path) -> None:
    config = load_config(write(tmp_path, example()))
    assert (config.log.format, config.log.destination, config.log.level) == (
        "text", "auto", "INFO")
    assert config.metrics.port is None
    data = example()
    data["log"] = {"format": "json", "destination": "both", "level": "debug"}
    data["metrics"] = {"listen": "9464"}
    config = load_config(write(tmp_path, data))
    assert (config.log.format, config.log.destination, config.log.level) == (
        "json", "both", "DEBUG")
    assert (config.metrics.address, config.metrics.port) == ("127.0.0.1", 9464)
    data["metrics"] = {"listen": "0.0.0.0:9100"}
    assert load_config(write(tmp_path, data)).metrics.address == "0.0.0.0"


@pytest.mark.parametrize("table, value, text", [
    ({"log": {"format": "xml"}}, "xml", "[log] format = \"xml\": allowed text, json"),
    ({"log": {"destination": "syslog"}}, "", "allowed auto, file, stderr, both"),
    ({"metrics": {"listen": "host:port"}}, "", "[metrics] listen = \"host:port\": allowed"),
    ({"metrics": {"listen": 70000}}, "", "TCP port 1..65535"),
])
def test_log_and_metrics_refusals(tmp_path: Path, table, value, text) -> None:
    assert text in refused(tmp_path, {**example(), **table})
