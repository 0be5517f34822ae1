"""The server-parameter catalogue against the reference's parameter tables."""
from __future__ import annotations

from pathlib import Path

import pytest

from switchover.params import (
    CATALOGUE,
    ParamError,
    ParamSpec,
    ServerParameters,
    lookup,
    render_markdown,
)
from switchover.params_errors import show_value

DOCS = Path(__file__).resolve().parents[2] / "docs" / "parameters.md"

# name: (default, minimum, maximum), from the reference's tables ("None" = no bound).
# Ranges the reference leaves open are switchover's choice and are documented as such.
NUMERIC = {
    "Switchover DS Request Timeout": (120, 1, 3600),
    "Switchover File Monitor Health Check Interval": (60, 0, 3600),
    "Switchover File Monitor Health Check Timeout": (10, 1, 300),
    "Switchover IP Retry Delay": (1, 1, 300),
    "Switchover IP Timeout": (10, 5, 60),
    "Switchover Max Restarts": (2, 1, 100),
    "Switchover Max Restarts Period": (300, 1, 86400),
    "Switchover Max Sequential Restarts": (2, 1, 100),
    "Switchover Max TS Failures": (2, 1, 100),
    "Switchover NetTest Timeout": (1, 1, 60),
    "Switchover Notifier Reconnect Delay": (5, 5, 60),
    "Switchover Primary Monitor Ping Delay": (0, 0, 300),
    "Switchover Primary Monitor Retry Ping Delay": (0, 0, 300),
    "Switchover Primary Monitor Retry Count": (2, 1, 50),
    "Switchover Primary Monitor Timeout": (0, 0, 300),
    "Switchover QoS DSCP": (34, 0, 63),
    "Switchover Reconnect Timeout": (30, 0, None),
    "Switchover TS Failure Retry Delay": (1, 1, 300),
    "Switchover TS Timeout": (10, 5, 60),
    "Switchover Unreachable Primary Ping Count": (0, -1, None),
    "Switchover Unreachable Primary Ping Delay": (10, 1, 300),
    "Switchover Initial Mirror Timeout": (600, 1, 86400),
    "Switchover Synchronous DS Timeout": (5, 1, 60),
    "Switchover Witness Lease TTL": (10, 5, 120),
}

RECOVERY_FLAGS = [
    "Callback Interaction Recovery Enabled",
    "Chat Interaction Recovery Enabled",
    "Directmessage Interaction Recovery Enabled",
    "Mail Interaction Recovery Enabled",
    "SMS Interaction Recovery Enabled",
    "Socialconversation Interaction Recovery Enabled",
]

EXPECTED_NAMES = {
    "SwitchoverServer A", "SwitchoverServer B", *RECOVERY_FLAGS, "Switchover Auto Rejoin",
    "Switchover Fence Policy",
    "Mail Interaction Recovery Filter Enabled", "CustomMirrorDir", "InitialMirrorDir",
    "MirrorExceptions", "Custom Upgrade Attribute Exceptions",
    "Custom Upgrade File Synchronization Directories",
    "Custom Upgrade File Synchronization Exceptions",
    "Custom Upgrade Synchronization Directories", "ForceSwitchoverFQDNs",
    "SwitchoverServerFQDN A", "SwitchoverServerFQDN B", "Server A Address", "Server B Address",
    "StatServer_DisableQPSLoggingOnBackup", "Switchover Disable Gateway Ping",
    "Switchover Monitoring", "Switchover NetTest A", "Switchover NetTest B",
    "Switchover Ping on Aux Connection", "Switchover Use QoS for Ping",
    "Switchover Upgrade Higher DS Exclusions", "Switchover Upgrade Higher File Exclusions",
    "Handler Path", "Resource Path", "I3Tables Path",
    "Switchover Synchronous DS Replication", *NUMERIC,
    "Switchover Max UDP Failures", "Switchover UDP Maximum Ping Delay",
    "Switchover UDP Monitor", "Switchover UDP Normal Retry Delay",
}

UDP_MONITOR = ["Switchover Max UDP Failures", "Switchover UDP Maximum Ping Delay",
               "Switchover UDP Monitor", "Switchover UDP Normal Retry Delay"]
#: Accepted, read by nothing: each says so in the docs and warns when set.
NO_EFFECT = {*UDP_MONITOR, "ForceSwitchoverFQDNs", "SwitchoverServerFQDN A",
             "SwitchoverServerFQDN B", "StatServer_DisableQPSLoggingOnBackup"}


def refusal(name: str, value: object) -> str:
    with pytest.raises(ParamError) as info:
        lookup(name).parse(value)
    return str(info.value)


# --- the catalogue itself --------------------------------------------------------------


def test_catalogue_holds_exactly_the_named_parameters() -> None:
    assert set(CATALOGUE) == EXPECTED_NAMES


def test_every_numeric_parameter_has_its_reference_range_listed_here() -> None:
    numeric = {n for n, s in CATALOGUE.items() if s.kind in ("int", "seconds")}
    assert numeric == set(NUMERIC)


def test_dynamic_exactly_the_reference_list_plus_interaction_recovery() -> None:
    dynamic = {n for n, s in CATALOGUE.items() if s.dynamic}
    assert dynamic == {
        "CustomMirrorDir", "Switchover Max TS Failures", "Switchover TS Failure Retry Delay",
        "Switchover TS Timeout", "Mail Interaction Recovery Filter Enabled", *RECOVERY_FLAGS,
        "Switchover Auto Rejoin", "Switchover Fence Policy",
    }


def test_project_extensions_are_marked_and_say_why() -> None:
    ext = {n for n, s in CATALOGUE.items() if s.section == "project extension"}
    assert ext == {
        "Switchover Initial Mirror Timeout", "Switchover Synchronous DS Replication",
        "Switchover Synchronous DS Timeout", "Switchover Auto Rejoin",
        "Switchover Witness Lease TTL", "Switchover Fence Policy",
    }
    assert "registry" in CATALOGUE["Switchover Initial Mirror Timeout"].description
    assert CATALOGUE["Switchover Synchronous DS Replication"].default is False


def test_every_spec_has_a_description_and_a_valid_default() -> None:
    for spec in CATALOGUE.values():
        assert spec.description.strip(), spec.name
        if spec.default is not None:
            assert spec.parse(spec.format(spec.default)) == spec.default, spec.name


def test_open_ranges_say_they_were_chosen() -> None:
    for name in ("Switchover DS Request Timeout", "Switchover Max Restarts",
                 "Switchover NetTest Timeout"):
        assert "range chosen by switchover" in CATALOGUE[name].description.lower()


def test_spec_is_frozen() -> None:
    with pytest.raises(AttributeError):
        CATALOGUE["Switchover TS Timeout"].default = 20  # type: ignore[misc]
    assert isinstance(CATALOGUE["Switchover TS Timeout"], ParamSpec)


# --- numeric ranges, for every numeric parameter -----------------------------------------


@pytest.mark.parametrize("name", sorted(NUMERIC))
def test_numeric_default(name: str) -> None:
    default, _, _ = NUMERIC[name]
    assert CATALOGUE[name].default == default
    assert ServerParameters.from_mapping({})[name] == default


@pytest.mark.parametrize("name", sorted(NUMERIC))
def test_numeric_range_ends_accepted(name: str) -> None:
    _, lo, hi = NUMERIC[name]
    spec = lookup(name)
    assert spec.parse(lo) == lo
    assert spec.parse(str(lo)) == lo
    if hi is None:
        assert spec.maximum is None
        assert spec.parse(10**6) == 10**6
    else:
        assert spec.parse(hi) == hi
        assert spec.parse(f" {hi} ") == hi


@pytest.mark.parametrize("name", sorted(NUMERIC))
def test_numeric_one_past_each_end_refused(name: str) -> None:
    _, lo, hi = NUMERIC[name]
    range_text = f"{lo}..{hi}" if hi is not None else f"{lo} or more"
    message = refusal(name, lo - 1)
    assert f'server parameter "{name}" = {lo - 1}: allowed {range_text}' in message
    if hi is not None:
        message = refusal(name, hi + 1)
        assert f'server parameter "{name}" = {hi + 1}: allowed {range_text}' in message


def test_ts_timeout_message_quotes_the_reference() -> None:
    assert refusal("Switchover TS Timeout", 3) == (
        'server parameter "Switchover TS Timeout" = 3: allowed 5..60 seconds '
        '(reference: "Set this value between 5 - 60 seconds")'
    )
    assert "allowed 5..60 seconds" in refusal("Switchover TS Timeout", 61)


@pytest.mark.parametrize(
    "name, good, bad",
    [
        ("Switchover TS Timeout", [5, 10, 60], [4, 61]),
        ("Switchover Notifier Reconnect Delay", [5, 60], [4, 61, 0]),
        ("Switchover Primary Monitor Retry Count", [1, 50], [0, 51]),
        ("Switchover Unreachable Primary Ping Count", [-1, 0, 3, 1000], [-2]),
        ("Switchover Reconnect Timeout", [0, 30, 100000], [-1]),
        ("Switchover Max TS Failures", [1, 2], [0]),
        ("Switchover TS Failure Retry Delay", [1], [0]),
        ("Switchover QoS DSCP", [0, 34, 63], [64, -1]),
        ("Switchover Unreachable Primary Ping Delay", [1, 300], [0, 301]),
        ("Switchover Primary Monitor Timeout", [0, 300], [301]),
    ],
)
def test_key_ranges(name: str, good: list[int], bad: list[int]) -> None:
    for value in good:
        assert lookup(name).parse(value) == value
    for value in bad:
        assert f'"{name}" = {value}: allowed' in refusal(name, value)


def test_unbounded_ranges_are_worded_without_a_maximum() -> None:
    message = refusal("Switchover Reconnect Timeout", -1)
    assert "allowed 0 or more seconds" in message
    assert "There is no maximum value" in message
    assert "allowed -1 or more" in refusal("Switchover Unreachable Primary Ping Count", -2)


@pytest.mark.parametrize("raw", ["10.5", 10.5, "ten", "", True, None, [10]])
def test_seconds_must_be_whole_numbers(raw: object) -> None:
    message = refusal("Switchover TS Timeout", raw)
    assert "not a whole number of seconds" in message
    assert "5..60 seconds" in message


def test_integral_floats_and_padded_text_are_whole_seconds() -> None:
    assert lookup("Switchover TS Timeout").parse(10.0) == 10
    assert lookup("Switchover TS Timeout").parse(" 12 ") == 12
    assert lookup("Switchover TS Timeout").parse("+12") == 12


# --- booleans ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    "raw, expected",
    [
        ("Yes", True), ("yes", True), ("YES", True), ("No", False), ("no", False),
        ("1", True), ("0", False), ("On", True), ("off", False), ("True", True),
        ("false", False), (" Yes ", True), (True, True), (False, False), (1, True), (0, False),
    ],
)
def test_bool_forms(raw: object, expected: bool) -> None:
    assert lookup("Switchover Use QoS for Ping").parse(raw) is expected
    assert lookup("Mail Interaction Recovery Enabled").parse(raw) is expected


@pytest.mark.parametrize("raw", ["2", 2, "-1", "maybe", "", "y", 1.0])
def test_plain_bool_refuses_other_values(raw: object) -> None:
    message = refusal("Switchover Disable Gateway Ping", raw)
    assert 'server parameter "Switchover Disable Gateway Ping"' in message
    assert "Yes/No, 1/0, On/Off or True/False" in message
    assert "non-zero" not in message


@pytest.mark.parametrize("name", RECOVERY_FLAGS)
@pytest.mark.parametrize("raw", ["2", 7, "-1", " 42 ", "01"])
def test_recovery_flags_take_any_non_zero_integer(name: str, raw: object) -> None:
    assert lookup(name).parse(raw) is True


@pytest.mark.parametrize("name", RECOVERY_FLAGS)
def test_recovery_flags_default_off_and_zero_is_off(name: str) -> None:
    assert CATALOGUE[name].default is False
    assert lookup(name).parse("0") is False
    assert lookup(name).parse(0) is False
    assert "any non-zero integer" in refusal(name, "enabled")


def test_filter_flag_is_not_a_recovery_enabled_flag() -> None:
    assert "Yes/No" in refusal("Mail Interaction Recovery Filter Enabled", "2")


def test_bool_defaults_from_the_reference() -> None:
    params = ServerParameters.from_mapping({})
    assert params["Switchover Disable Gateway Ping"] is True
    assert params["Switchover Use QoS for Ping"] is False
    assert params["Switchover Ping on Aux Connection"] is False
    assert params["ForceSwitchoverFQDNs"] is False
    assert params["StatServer_DisableQPSLoggingOnBackup"] is False
    assert params["Mail Interaction Recovery Filter Enabled"] is False


# --- lists ------------------------------------------------------------------------------


def test_dirlist_posix_form() -> None:
    value = lookup("CustomMirrorDir").parse("/I3/Server/Data1;+/I3/IC/Server/Data2")
    assert value == (("/I3/Server/Data1", False), ("/I3/IC/Server/Data2", True))


def test_dirlist_reference_example_translated() -> None:
    # "Subdirectory mirroring", pasted as the reference prints it
    value = lookup("CustomMirrorDir").parse(r"D:\I3\Server\Data1;+D:\I3\IC\Server\Data2")
    assert value == (("/I3/Server/Data1", False), ("/I3/IC/Server/Data2", True))


def test_dirlist_trims_spaces_and_drops_empty_items() -> None:
    value = lookup("InitialMirrorDir").parse(" /I3/IC/Server/Data1 ;; + /I3/IC/Recordings/ ; ")
    assert value == (("/I3/IC/Server/Data1", False), ("/I3/IC/Recordings", True))
    assert lookup("InitialMirrorDir").parse("") == ()
    assert lookup("InitialMirrorDir").parse(["+/a", "/b;/c"]) == (
        ("/a", True), ("/b", False), ("/c", False),
    )


def test_dirlist_normalises_and_merges_like_the_mirror() -> None:
    value = lookup("CustomMirrorDir").parse("/a;+/a/;/I3/IC/../IC/Flows;/I3/IC/./Flows")
    assert value == (("/a", True), ("/I3/IC/Flows", False))


SPACE_END = "a directory name cannot begin or end with a space"
ROOT_ITSELF = "the root directory itself cannot be mirrored"

#: (value, item named, reason); tests/unit/test_files_spec.py checks these against the
#: mirror's parser too.
DIRLIST_REFUSALS = [
    ("+", "+", "empty path after '+'"),
    ("/I3/a;+ ;/I3/b", "+", "empty path after '+'"),
    ("I3/IC/Server", "I3/IC/Server", "path must be absolute"),
    (r"D:I3\IC", r"D:I3\IC", "path must be absolute"),
    ("++/I3/IC", "++/I3/IC", "path must be absolute"),
    ("/I3/a;/../etc", "/../etc", "'..' climbs above the root"),
    (r"+\\server\share", r"+\\server\share", "network paths are not supported"),
    ("/I3/a\tb", "/I3/a\tb", "invisible or control character U+0009 in path"),
    ("/I3/a;+/I3/IC/Work /", "+/I3/IC/Work /", f"{SPACE_END} ('Work ')"),
    ("/I3/a;D:\\", "D:\\", ROOT_ITSELF),
    ("/ok;+relative", "+relative", "path must be absolute"),
    ("/a\x00b", "/a\x00b", "NUL character in path"),
    ("/I3/../../etc", "/I3/../../etc", "'..' climbs above the root"),
    (r"\\server\share", r"\\server\share", "network paths are not supported"),
    ("/a\nb", "/a\nb", "invisible or control character U+000A in path"),
    ("/a\x85b", "/a\x85b", "invisible or control character U+0085 in path"),
    ("/I3/\u202ekcap", "/I3/\u202ekcap",
     "invisible or control character U+202E (RIGHT-TO-LEFT OVERRIDE) in path"),
    ("/I3/IC\u200b", "/I3/IC\u200b",
     "invisible or control character U+200B (ZERO WIDTH SPACE) in path"),
    ("\ufeff/I3/IC", "\ufeff/I3/IC",
     "invisible or control character U+FEFF (ZERO WIDTH NO-BREAK SPACE) in path"),
    # a name ending in a space would lose it once the value is written back and read again
    ("+D:\\I3\\IC \\ ", "+D:\\I3\\IC \\", f"{SPACE_END} ('IC ')"),
    ("/I3/ IC/x", "/I3/ IC/x", f"{SPACE_END} (' IC')"),
    ("/I3/ /x", "/I3/ /x", f"{SPACE_END} (' ')"),
    ("/I3/IC\xa0/x", "/I3/IC\xa0/x", f"{SPACE_END} ('IC\\xa0')"),
    ("/I3/IC\u3000/x", "/I3/IC\u3000/x", f"{SPACE_END} ('IC\\u3000')"),
    ("/I3/ ../x", "/I3/ ../x", f"{SPACE_END} (' ..')"),
    ("/", "/", ROOT_ITSELF),
    ("+/", "+/", ROOT_ITSELF),
    ("D:\\", "D:\\", ROOT_ITSELF),
    ("\\", "\\", ROOT_ITSELF),
    ("+/I3/..", "+/I3/..", ROOT_ITSELF),
    ("/a;/.", "/.", ROOT_ITSELF),
]


@pytest.mark.parametrize("raw, item, problem", DIRLIST_REFUSALS)
def test_dirlist_refusals(raw: str, item: str, problem: str) -> None:
    message = refusal("CustomMirrorDir", raw)
    assert message.startswith(f'server parameter "CustomMirrorDir" = {show_value(raw)}: ')
    assert f"item {show_value(item)}: {problem}; allowed " in message


def test_refusals_escape_invisible_characters() -> None:
    """A refusal shows U+202E as an escape, never raw: raw, it would reorder the line."""
    message = refusal("CustomMirrorDir", "/I3/\u202eabc")
    assert "\u202e" not in message and '"/I3/\\u202eabc"' in message


def test_dirlist_refuses_a_value_that_is_no_list() -> None:
    assert "';'-separated list of absolute directories" in refusal("CustomMirrorDir", 42)


@pytest.mark.parametrize(
    "name",
    [
        "InitialMirrorDir",
        "Custom Upgrade File Synchronization Directories",
        "Switchover Upgrade Higher File Exclusions",
    ],
)
def test_every_dirlist_parameter_speaks_the_same_language(name: str) -> None:
    assert CATALOGUE[name].kind == "dirlist"
    assert lookup(name).parse(r"+D:\I3\IC\Flows; /data ") == (
        ("/I3/IC/Flows", True), ("/data", False),
    )
    message = refusal(name, "/ok;relative")
    assert message.startswith(f'server parameter "{name}" = ')
    assert 'item "relative": path must be absolute' in message


def test_custom_mirror_dir_default_is_the_eleven_default_directories() -> None:
    default = CATALOGUE["CustomMirrorDir"].default
    assert len(default) == 11
    assert all(recursive for _, recursive in default)
    paths = [path for path, _ in default]
    assert paths[0] == "/I3/IC/Resources"
    assert "/I3/IC/Certificates/LinesAuthority" in paths
    assert paths[-1] == "/I3/IC/Server/Reports"


@pytest.mark.parametrize(
    "raw, expected",
    [
        ("txt; gif; myext", ("txt", "gif", "myext")),
        (".TXT", ("txt",)),
        ("Tmp;.bak; TMP", ("tmp", "bak")),
        ("tar.gz", ("tar.gz",)),
        ("*.txt; *.GIF", ("txt", "gif")),
        ("", ()),
    ],
)
def test_extlist(raw: str, expected: tuple[str, ...]) -> None:
    assert lookup("MirrorExceptions").parse(raw) == expected


@pytest.mark.parametrize(
    "raw, problem",
    [
        (".", "empty extension"),
        ("*", "empty extension"),
        ("a/b", "an extension cannot hold '/', '\\', spaces or wildcards"),
        ("my ext", "an extension cannot hold '/', '\\', spaces or wildcards"),
        ("a*b", "an extension cannot hold '/', '\\', spaces or wildcards"),
        ("t?t", "an extension cannot hold '/', '\\', spaces or wildcards"),
        ("txt.", "an extension cannot end with a dot or hold '..' (no file extension has an "
                 "empty part)"),
        ("tar..gz", "an extension cannot end with a dot or hold '..' (no file extension has "
                    "an empty part)"),
        ("\u200btxt", "invisible or control character U+200B (ZERO WIDTH SPACE) in extension"),
        ("t\x9fxt", "invisible or control character U+009F in extension"),
    ],
)
def test_extlist_refusals(raw: str, problem: str) -> None:
    message = refusal("MirrorExceptions", raw)
    assert message == (
        f'server parameter "MirrorExceptions" = {show_value(raw)}: {show_value(raw)} is not a '
        f"file extension: {problem}; allowed a ';'-separated list of file extensions such as "
        "txt; gif; myext"
    )


def test_extlist_star_without_dot_is_the_extension() -> None:
    # "*txt" reads as "txt" (the '*' is dropped like a leading dot), as docs/files.md says
    assert lookup("MirrorExceptions").parse("*txt; *.Gif") == ("txt", "gif")


def test_upgrade_exceptions_default_to_mirror_exceptions() -> None:
    assert CATALOGUE["Custom Upgrade File Synchronization Exceptions"].default is None
    assert CATALOGUE["Custom Upgrade File Synchronization Exceptions"].kind == "extlist"


def test_appendix_c_defaults() -> None:
    assert CATALOGUE["Custom Upgrade Synchronization Directories"].default == (
        "${CONFIG}/Users", "${CONFIG}/Passwords", "${CONFIG}/Workgroups", "${CONFIG}/Roles",
        "${CONFIG}/Default User", "${SERVER}/Workstations", "${CONFIG}/ProcessAutomation",
    )
    assert CATALOGUE["Custom Upgrade File Synchronization Directories"].default == (
        ("/I3/IC/Flows", True),
    )
    assert CATALOGUE["Custom Upgrade Attribute Exceptions"].default == ()
    assert CATALOGUE["Switchover Upgrade Higher DS Exclusions"].default == ()
    assert CATALOGUE["Switchover Upgrade Higher File Exclusions"].default == ()


def test_ds_path_list() -> None:
    value = lookup("Custom Upgrade Synchronization Directories").parse(
        "${CONFIG}/Users; ${CONFIG}/Passwords;"
    )
    assert value == ("${CONFIG}/Users", "${CONFIG}/Passwords")


def test_attribute_exceptions_reference_example() -> None:
    value = lookup("Custom Upgrade Attribute Exceptions").parse(
        "User(Workgroups, Extension);Workgroup(Members, View User Queue List)"
    )
    assert value == (
        ("User", ("Extension", "Workgroups")),
        ("Workgroup", ("Members", "View User Queue List")),
    )


@pytest.mark.parametrize(
    "raw, problem",
    [
        ("foo", "the attribute list in parentheses is missing"),
        ("User", "the attribute list in parentheses is missing"),
        ("User(Workgroups", "is never closed"),
        ("User(a(b))", "more than one pair of parentheses"),
        ("(Workgroups)", "the DS class name before '(' is empty"),
        ("User()", "no attribute names"),
        ("User(a,,b)", "an attribute name is empty"),
        ("User(a) Workgroup(b)", "nothing may follow the closing ')'"),
    ],
)
def test_attribute_exceptions_malformed(raw: str, problem: str) -> None:
    """Refused with the upgrade filter's own parser, where the value is set."""
    message = refusal("Custom Upgrade Attribute Exceptions", raw)
    assert message.startswith('server parameter "Custom Upgrade Attribute Exceptions"')
    assert problem in message


@pytest.mark.parametrize("name", ["Custom Upgrade Synchronization Directories",
                                  "Switchover Upgrade Higher DS Exclusions"])
@pytest.mark.parametrize("raw, problem", [
    ("foo", "must start with ${CONFIG}, ${SERVER} or a separator"),
    ("${CONFIG}/Users;${BOGUS}/x", "unknown macro '${BOGUS}'"),
    ("${CONFIG}/../x", "'..'"),
])
def test_ds_path_lists_malformed(name: str, raw: str, problem: str) -> None:
    """The filter would refuse these and replicate nothing right: refused when set."""
    message = refusal(name, raw)
    assert message.startswith(f'server parameter "{name}"')
    assert problem in message


# --- names, addresses, paths ------------------------------------------------------------


@pytest.mark.parametrize("raw", ["10.60.0.2", "::1", "nettest-b.example.com", "ICServer2"])
def test_address_accepts_names_and_ips(raw: str) -> None:
    assert lookup("Switchover NetTest A").parse(raw) == raw


@pytest.mark.parametrize("raw", ["bad host", "999.1.1.1", "-lead.example", 7])
def test_address_refusals(raw: object) -> None:
    assert "host name or" in refusal("Switchover NetTest A", raw)


def test_empty_address_means_not_configured() -> None:
    assert lookup("Server A Address").parse("  ") is None


@pytest.mark.parametrize("raw", ["", "   ", 5, "A;B"])
def test_server_name_refusals(raw: object) -> None:
    assert 'server parameter "SwitchoverServer A"' in refusal("SwitchoverServer A", raw)


def test_default_mirrored_directories() -> None:
    params = ServerParameters.from_mapping({})
    assert params["Handler Path"] == "/I3/IC/Handlers"
    assert params["Resource Path"] == "/I3/IC/Resources"
    assert params["I3Tables Path"] == "/I3/IC/Server/I3Tables"
    assert params["Switchover Monitoring"] == "TsServer"


def test_directory_parameters_take_the_reference_examples() -> None:
    # "For example, `\I3\IC\Handlers`" ("Default mirrored directories")
    assert lookup("Handler Path").parse(r"\I3\IC\Handlers") == "/I3/IC/Handlers"
    assert lookup("Resource Path").parse(r"D:\I3\IC\Resources\ ") == "/I3/IC/Resources"
    assert lookup("I3Tables Path").parse("/I3/IC/Server/I3Tables/") == "/I3/IC/Server/I3Tables"


@pytest.mark.parametrize(
    "raw, problem",
    [
        ("", "allowed an absolute directory"),
        ("I3/IC/Handlers", "path must be absolute"),
        ("/../Handlers", "'..' climbs above the root"),
        (5, "allowed an absolute directory"),
        ("/", "the root directory itself cannot be mirrored"),
        ("\\", "the root directory itself cannot be mirrored"),
        ("/I3/IC/Handlers /", "a directory name cannot begin or end with a space ('Handlers ')"),
        ("/I3/IC/Handlers\u200b", "invisible or control character U+200B (ZERO WIDTH SPACE)"),
    ],
)
def test_directory_parameter_refusals(raw: object, problem: str) -> None:
    message = refusal("Handler Path", raw)
    assert message.startswith('server parameter "Handler Path" = ')
    assert problem in message


# --- lookup -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    "name", ["switchover ts timeout", "SWITCHOVER TS TIMEOUT", "  Switchover   TS\tTimeout "]
)
def test_lookup_ignores_case_and_spacing(name: str) -> None:
    assert lookup(name).name == "Switchover TS Timeout"


def test_lookup_unknown_suggests_the_closest_name() -> None:
    with pytest.raises(ParamError) as info:
        lookup("Switchover TS Timout")
    assert str(info.value) == (
        'unknown server parameter "Switchover TS Timout" '
        '(did you mean "Switchover TS Timeout"?)'
    )


def test_lookup_unknown_without_a_close_name() -> None:
    with pytest.raises(ParamError) as info:
        lookup("Colour of the rack")
    assert str(info.value) == 'unknown server parameter "Colour of the rack"'


# --- ServerParameters -------------------------------------------------------------------


def test_values_are_typed_and_read_case_insensitively() -> None:
    params = ServerParameters.from_mapping(
        {"switchover ts timeout": "15", "MirrorExceptions": "txt; GIF", "SwitchoverServer A": "S1"}
    )
    assert params["Switchover TS Timeout"] == 15
    assert params["SWITCHOVER TS TIMEOUT"] == 15
    assert params["mirrorexceptions"] == ("txt", "gif")
    assert params["Switchover Reconnect Timeout"] == 30  # default
    assert params.is_set("Switchover TS Timeout")
    assert not params.is_set("Switchover Reconnect Timeout")
    assert params.raw("Switchover TS Timeout") == "15"
    assert params.raw("MirrorExceptions") == "txt; GIF"
    assert params.raw("Switchover Reconnect Timeout") is None
    assert params.as_dict() == {
        "Switchover TS Timeout": 15,
        "MirrorExceptions": ("txt", "gif"),
        "SwitchoverServer A": "S1",
    }


def test_from_mapping_refuses_the_first_bad_value_with_its_message() -> None:
    with pytest.raises(ParamError) as info:
        ServerParameters.from_mapping({"Switchover TS Timeout": 3})
    assert str(info.value).startswith('server parameter "Switchover TS Timeout" = 3: allowed')
    with pytest.raises(ParamError, match="did you mean"):
        ServerParameters.from_mapping({"Switchover TS Timout": 10})


def test_from_mapping_refuses_a_name_given_twice() -> None:
    with pytest.raises(ParamError, match="given twice"):
        ServerParameters.from_mapping({"Switchover TS Timeout": 10, "switchover ts timeout": 12})


def test_unknown_name_on_read_is_refused_but_get_and_in_are_safe() -> None:
    params = ServerParameters.from_mapping({})
    with pytest.raises(ParamError, match="unknown server parameter"):
        params["Switchover TS Timout"]
    assert params.get("nope", "fallback") == "fallback"
    assert "switchover ts timeout" in params
    assert "nope" not in params
    assert len(params) == len(CATALOGUE)
    assert set(params) == set(CATALOGUE)


def test_parameters_are_immutable() -> None:
    params = ServerParameters.from_mapping({"Switchover TS Timeout": 20})
    with pytest.raises(TypeError):
        params["Switchover TS Timeout"] = 30  # type: ignore[index]
    params.as_dict()["Switchover TS Timeout"] = 30
    assert params["Switchover TS Timeout"] == 20


def test_with_values_and_changed() -> None:
    before = ServerParameters.from_mapping({"Switchover TS Timeout": 20, "CustomMirrorDir": "+/a"})
    after = before.with_values({"switchover ts timeout": 30, "Switchover Max TS Failures": "4"})
    assert before["Switchover TS Timeout"] == 20  # unchanged original
    assert after["Switchover TS Timeout"] == 30
    assert after["CustomMirrorDir"] == (("/a", True),)
    assert after.changed(before) == {"Switchover TS Timeout", "Switchover Max TS Failures"}
    assert before.changed(before) == set()
    unset = after.with_values({"CustomMirrorDir": None})
    assert not unset.is_set("CustomMirrorDir")
    assert unset.changed(after) == {"CustomMirrorDir"}
    with pytest.raises(ParamError, match="allowed 5..60 seconds"):
        before.with_values({"Switchover TS Timeout": 61})


def test_setting_a_default_explicitly_is_not_a_change() -> None:
    explicit = ServerParameters.from_mapping({"Switchover TS Timeout": 10})
    assert explicit.changed(ServerParameters.from_mapping({})) == set()
    assert explicit == ServerParameters.from_mapping({})


# --- documentation ----------------------------------------------------------------------


def test_docs_parameters_md_is_generated_from_the_catalogue() -> None:
    assert DOCS.read_text(encoding="utf-8") == render_markdown(), (
        "docs/parameters.md is stale: run `python -m switchover.params > docs/parameters.md`"
    )


def test_rendered_table_lists_every_parameter() -> None:
    text = render_markdown()
    for name in CATALOGUE:
        assert f"| {name} |" in text
    assert "| Switchover TS Timeout | seconds | `10` | 5..60 | yes |" in text
    assert "| Switchover Reconnect Timeout | seconds | `30` | 0.. | no |" in text


# --- parameters with no effect ----------------------------------------------------------


def test_exactly_the_listed_parameters_have_no_effect() -> None:
    assert {n for n, s in CATALOGUE.items() if s.no_effect} == NO_EFFECT


@pytest.mark.parametrize("name", UDP_MONITOR)
@pytest.mark.parametrize("value", ["Yes", 3, 2.5, True, "", "anything at all"])
def test_udp_monitor_parameters_load_with_a_one_line_warning(name: str, value: object) -> None:
    params = ServerParameters.from_mapping({name.upper(): value})
    assert params.is_set(name)
    (warning,) = params.warnings()
    assert warning == (
        f'server parameter "{name}" has no effect: the UDP monitor was retired by the '
        "reference in 2015 R1 (the primary monitor does its work) and switchover has none; "
        "the value is accepted and ignored"
    )
    assert "\n" not in warning


def test_udp_monitor_parameter_refuses_a_table_with_its_name() -> None:
    assert refusal("Switchover UDP Monitor", {"a": 1}) == (
        'server parameter "Switchover UDP Monitor" = {\'a\': 1}: allowed a plain value '
        "(text, a number or Yes/No)"
    )


def test_no_warning_for_parameters_with_an_effect_or_not_set() -> None:
    assert ServerParameters.from_mapping({"Switchover TS Timeout": 20}).warnings() == ()
    assert ServerParameters().warnings() == ()
    params = ServerParameters.from_mapping({"StatServer_DisableQPSLoggingOnBackup": "Yes",
                                            "Switchover QoS DSCP": 46})
    assert params.warnings() == (
        'server parameter "StatServer_DisableQPSLoggingOnBackup" has no effect: it configures '
        "the reference's Statserver (its CSV log of queue statistics), which switchover does "
        "not have",
    )


def test_docs_say_no_effect_for_each_such_parameter() -> None:
    text = DOCS.read_text(encoding="utf-8")
    for name in NO_EFFECT:
        section = text.split(f"### {name}\n", 1)[1].split("\n### ", 1)[0]
        assert "No effect here: " + CATALOGUE[name].no_effect in section, name


def test_params_set_prints_the_warning_under_the_change() -> None:
    from switchover.commands.params import _render

    result = {"change": 'parameter "Switchover UDP Monitor" = Yes', "server": "A", "seq": 4,
              "replicated": "asynchronously", "warning": 'server parameter "X" has no effect'}
    assert _render("set", result).splitlines()[1:] == [
        'warning: server parameter "X" has no effect']
    del result["warning"]
    assert len(_render("set", result).splitlines()) == 1


@pytest.mark.parametrize("raw, value", [("Require", "Require"), ("best  effort", "Best Effort"),
                                        ("BEST EFFORT", "Best Effort")])
def test_fence_policy_takes_its_two_values_in_any_case(raw, value) -> None:
    assert CATALOGUE["Switchover Fence Policy"].parse(raw) == value


def test_fence_policy_refusal_names_the_parameter_and_the_choices() -> None:
    with pytest.raises(ParamError) as exc:
        CATALOGUE["Switchover Fence Policy"].parse("maybe")
    assert str(exc.value) == ('server parameter "Switchover Fence Policy" = "maybe": '
                              "allowed Require or Best Effort (any letter case)")
