"""Mirror specs: the reference's examples, defaults, malformed input, upgrade states."""
from __future__ import annotations

from dataclasses import replace
from pathlib import Path, PurePosixPath as P

import pytest

from switchover.replication.files.settings import build_specs
from switchover.replication.files.spec import (
    DEFAULT_CUSTOM_MIRROR_DIR, DEFAULT_HANDLER_PATH, DEFAULT_I3TABLES_PATH,
    DEFAULT_RESOURCE_PATH, DEFAULT_UPGRADE_FILE_SYNC_DIRS, MirrorDir, MirrorSpec,
    MirrorSpecError, has_exception, normalise_path, parse_dirs, parse_exceptions,
    upgrade_higher, upgrade_lower_dirs, warnings)
from switchover.params import CATALOGUE, ParamError, ParamSpec, ServerParameters, lookup
from switchover.params_errors import show_value
from tests.unit.test_params import DIRLIST_REFUSALS, ROOT_ITSELF, SPACE_END

ROOT = Path("/srv/hostA")


def test_formatting_tips_example() -> None:
    assert parse_dirs(r"D:\I3\IC\Server\Data1; D:\I3\IC\Server\Data2") == (
        MirrorDir(P("/I3/IC/Server/Data1"), False), MirrorDir(P("/I3/IC/Server/Data2"), False))


def test_subdirectory_mirroring_example() -> None:
    assert parse_dirs(r"D:\I3\Server\Data1;+D:\I3\IC\Server\Data2") == (
        MirrorDir(P("/I3/Server/Data1"), False), MirrorDir(P("/I3/IC/Server/Data2"), True))


@pytest.mark.parametrize("text", [r"+D:\I3\IC\ImportantDir", r"+D:\I3\IC\Server\Data1",
                                  "  +  /I3/IC/ImportantDir  ;", "+/I3/IC/./x/../ImportantDir"])
def test_recursive_examples(text: str) -> None:
    (d,) = parse_dirs(text)
    assert d.recursive and d.path in (P("/I3/IC/ImportantDir"), P("/I3/IC/Server/Data1"))


def test_reference_default_list_pasted_from_windows() -> None:
    windows = ";".join([r"+D:\I3\IC\Resources", r"+D:\I3\IC\HostTools", r"+D:\I3\IC\Server\LRA",
                        r"+D:\I3\IC\ClientSettings", r"+C:\I3\IC\Flows", r"+C:\I3\IC\TFTPRoot",
                        r"+C:\I3\IC\Provision", r"+C:\I3\IC\Certificates\LinesAuthority",
                        r"+C:\I3\IC\Certificates\Email", r"+C:\I3\IC\Server\I3RxDocs",
                        r"+C:\I3\IC\Server\Reports"])
    assert parse_dirs(windows) == parse_dirs(DEFAULT_CUSTOM_MIRROR_DIR)
    assert len(parse_dirs(DEFAULT_CUSTOM_MIRROR_DIR)) == 11
    assert all(d.recursive for d in parse_dirs(DEFAULT_CUSTOM_MIRROR_DIR))


def test_empty_items_ignored_and_duplicates_merged() -> None:
    assert parse_dirs("") == () and parse_dirs(None) == () and parse_dirs(" ; ;") == ()
    assert parse_dirs("/a;+/a;/a/") == (MirrorDir(P("/a"), True),)


@pytest.mark.parametrize("text, why", [
    ("+", "empty path after '+'"), ("/a; + ;/b", "empty path after '+'"),
    ("I3/IC/Flows", "absolute"), (r"D:I3\IC", "absolute"), ("/a\x00b", "NUL"),
    ("/../etc", "climbs"), ("/I3/../../etc", "climbs"), (r"\\server\share", "network"),
    ("/a\nb", "control"),
])
def test_malformed_names_parameter_and_item(text: str, why: str) -> None:
    with pytest.raises(MirrorSpecError) as e:
        parse_dirs(text, "InitialMirrorDir")
    assert "InitialMirrorDir" in str(e.value) and why in str(e.value)
    assert e.value.param == "InitialMirrorDir"


def test_dotdot_inside_root_is_fine() -> None:
    assert normalise_path("/I3/IC/../IC/Flows") == P("/I3/IC/Flows")


def test_exceptions_reference_example_and_case() -> None:
    assert parse_exceptions("txt; gif; myext") == {"txt", "gif", "myext"}
    assert parse_exceptions(".TXT;*.Gif; ;") == {"txt", "gif"}
    spec = MirrorSpec.build(ROOT, custom="/d", exceptions="txt; gif; myext",
                            resource_path="", i3tables_path="", handler_path="")
    for name in ("a.txt", "a.TXT", "a.Txt", "b.gif", "c.myext", "x.tar.myext"):
        assert spec.is_excluded(P("/d") / name)
        assert spec.classify(P("/d") / name) is None
    for name in ("a.txta", "txt", "a.wav", "a_txt"):
        assert spec.classify(P("/d") / name) == "continuous", name
    with pytest.raises(MirrorSpecError, match="MirrorExceptions"):
        parse_exceptions("a/b")


NOT_AN_EXTENSION = "an extension cannot hold '/', '\\', spaces or wildcards"
EMPTY_PART = "an extension cannot end with a dot or hold '..' (no file extension has an empty part)"


@pytest.mark.parametrize("text, expected", [
    ("txt; gif; myext", {"txt", "gif", "myext"}),  # the reference's example
    (".TXT;*.Gif; ;", {"txt", "gif"}),
    ("*txt", {"txt"}),  # the '*' is dropped like a leading dot
    ("tar.gz", {"tar.gz"}),
    ("", set()),
    (".", "empty extension"),
    ("*", "empty extension"),
    ("a/b", NOT_AN_EXTENSION),
    ("my ext", NOT_AN_EXTENSION),
    ("my\xa0ext", NOT_AN_EXTENSION),
    ("a*b", NOT_AN_EXTENSION),
    ("t?t", NOT_AN_EXTENSION),
    ("a\\b", NOT_AN_EXTENSION),
    ("txt.", EMPTY_PART),
    ("tar..gz", EMPTY_PART),
    ("t\u200bxt", "invisible or control character U+200B (ZERO WIDTH SPACE) in extension"),
    ("\u202etxt", "invisible or control character U+202E (RIGHT-TO-LEFT OVERRIDE) in extension"),
    ("t\x85xt", "invisible or control character U+0085 in extension"),
    ("t\txt", "invisible or control character U+0009 in extension"),
])
def test_the_catalogue_and_the_mirror_read_extension_lists_alike(
        text: str, expected: set[str] | str) -> None:
    """MirrorExceptions is accepted at config load exactly when the mirror can use it, and
    both read it as the expected extensions or refuse it for the expected reason."""
    try:
        mirror: frozenset[str] | str = parse_exceptions(text)
    except MirrorSpecError as exc:
        mirror = exc.why
    try:
        catalogue: frozenset[str] | str = frozenset(lookup("MirrorExceptions").parse(text))
    except ParamError as exc:
        catalogue = str(exc)
    if isinstance(expected, str):
        assert mirror == expected
        assert isinstance(catalogue, str)
        assert catalogue.startswith(f'server parameter "MirrorExceptions" = {show_value(text)}: ')
        assert (f"{show_value(text.strip())} is not a file extension: {expected}; allowed a "
                "';'-separated list of file extensions") in catalogue
    else:
        assert mirror == catalogue == frozenset(expected)


def test_refused_extensions_could_only_match_odd_names() -> None:
    """Why `txt.` and `tar..gz` are refused: they would match only names ending in a dot
    or holding an empty part, never `a.txt` or `a.tar.gz`."""
    assert not has_exception("a.txt", ["txt."]) and not has_exception("a.tar.gz", ["tar..gz"])


def test_dotted_exception_entries_match_like_plain_ones() -> None:
    spec = MirrorSpec.build(ROOT, custom="/d", exceptions=".TXT", resource_path="",
                            i3tables_path="", handler_path="")
    assert spec.is_excluded("/d/notes.txt") and spec.is_excluded("/d/NOTES.Txt")


def test_default_spec_kinds() -> None:
    spec = MirrorSpec.build(ROOT, initial=r"+D:\I3\IC\Recordings")
    assert spec.classify("/I3/IC/Handlers/Main.ihd") == "handler"
    assert spec.classify("/I3/IC/Handlers/Custom/x.ihd") is None  # subdirs not by default
    assert spec.classify("/I3/IC/Handlers/Custom", is_dir=True) is None
    assert spec.classify("/I3/IC/Server/I3Tables/t.i3t") == "continuous"
    assert spec.classify("/I3/IC/Server/I3Tables/sub/t.i3t") is None  # non-recursive
    assert spec.classify("/I3/IC/Resources/deep/prompt.wav") == "continuous"  # +Resources
    assert spec.classify("/I3/IC/Recordings/2024/call.wav") == "initial"
    assert spec.classify("/I3/IC/Work/tmp.dat") is None
    assert spec.classify("/etc/passwd") is None


def test_non_recursive_ignores_subdirectories() -> None:
    spec = MirrorSpec.build(ROOT, custom="/data", resource_path="", i3tables_path="")
    assert spec.classify("/data/f.bin") == "continuous"
    assert spec.classify("/data", is_dir=True) == "continuous"
    assert spec.classify("/data/sub", is_dir=True) is None
    assert spec.classify("/data/sub/f.bin") is None


def test_strongest_kind_wins() -> None:
    spec = MirrorSpec.build(ROOT, custom=r"+D:\I3\IC\Handlers\Custom",
                            initial="+/I3/IC/Handlers")
    assert spec.classify("/I3/IC/Handlers/Custom/c.ihd") == "continuous"
    assert spec.classify("/I3/IC/Handlers/main.ihd") == "handler"
    assert spec.classify("/I3/IC/Handlers/Other/o.ihd") == "initial"
    assert [(k, str(d)) for k, d in spec.dirs() if "Handlers" in str(d)] == [
        ("continuous", "+/I3/IC/Handlers/Custom"), ("handler", "/I3/IC/Handlers"),
        ("initial", "+/I3/IC/Handlers")]
    assert ("continuous", "/I3/IC/Resources") in [(k, str(d)) for k, d in spec.dirs()]
    default = MirrorSpec.build(ROOT, initial="/I3/IC/Flows")
    assert [(k, str(d)) for k, d in default.dirs() if "Resources" in str(d)] == [
        ("continuous", "+/I3/IC/Resources")]  # Resource Path merged into +Resources
    assert default.dirs("initial") == ((("initial", MirrorDir(P("/I3/IC/Flows"), False))),)


def test_from_parameters_case_insensitive_names() -> None:
    spec = MirrorSpec.from_parameters(ROOT, {"custommirrordir": "+/x", "MIRROREXCEPTIONS": "tmp",
                                             "Handler Path": r"D:\I3\IC\Handlers"})
    assert spec.classify("/x/y/z") == "continuous" and spec.is_excluded("/x/a.tmp")
    assert spec.classify("/I3/IC/Flows/f") is None  # CustomMirrorDir replaced its default
    assert spec.classify("/I3/IC/Handlers/h.ihd") == "handler"


def test_logical_and_real_paths() -> None:
    spec = MirrorSpec.build(ROOT)
    assert spec.real("/I3/IC/Flows/a") == ROOT / "I3/IC/Flows/a"
    assert spec.logical(ROOT / "I3/IC/Flows/a") == P("/I3/IC/Flows/a")
    assert spec.logical("/elsewhere/x") is None
    assert MirrorDir(P("/I3/IC"), True).under(ROOT) == ROOT / "I3/IC"


def test_temp_files_never_mirrored() -> None:
    spec = MirrorSpec.build(ROOT)
    assert spec.classify("/I3/IC/Flows/.f.so-tmp-abc123") is None


def test_warnings_caution_dirs_and_length() -> None:
    assert warnings(DEFAULT_CUSTOM_MIRROR_DIR) == []
    for text in (r"D:\I3\IC\Work", r"+D:\I3\IC\Logs\sub", "+/I3/IC", "/I3/IC/FBMC"):
        w = warnings(text, "InitialMirrorDir")
        assert len(w) == 1 and w[0].startswith("InitialMirrorDir"), text
    assert warnings("/I3/IC") == []  # non-recursive parent: Work is not mirrored
    long = ";".join(f"/I3/IC/Dir{i:04d}/with/a/long/enough/name" for i in range(60))
    assert any("2000" in w for w in warnings(long))
    with pytest.raises(MirrorSpecError):
        warnings("relative/path")


def test_upgrade_lower_opt_in_only() -> None:
    spec = MirrorSpec.build(ROOT, exceptions="bak", initial="+/I3/IC/Recordings")
    low = upgrade_lower_dirs(spec)
    assert low.classify("/I3/IC/Flows/sub/f.xml") == "continuous"  # default +C:\I3\IC\Flows
    assert low.classify("/I3/IC/Resources/p.wav") is None
    assert low.classify("/I3/IC/Server/I3Tables/t") is None
    assert low.classify("/I3/IC/Recordings/r.wav") is None
    assert low.is_excluded("/I3/IC/Flows/f.bak")  # falls back to MirrorExceptions
    low2 = upgrade_lower_dirs(spec, r"+D:\I3\IC\Flows;+D:\I3\IC\Handlers", "xml")
    assert low2.is_excluded("/I3/IC/Flows/f.xml") and not low2.is_excluded("/I3/IC/Flows/f.bak")
    assert low2.classify("/I3/IC/Handlers/h.ihd") is None  # handlers never in upgrade
    assert [d for _, d in low2.dirs()] == [MirrorDir(P("/I3/IC/Flows"), True)]
    with pytest.raises(MirrorSpecError, match="Custom Upgrade File Synchronization Dir"):
        upgrade_lower_dirs(spec, "+")


def test_upgrade_higher_opt_out() -> None:
    spec = MirrorSpec.build(ROOT, custom="+/I3/IC/Flows;+/I3/IC;/data",
                            initial="+/I3/IC/Recordings")
    high = upgrade_higher(spec, r"+D:\I3\IC\Flows\Old;/data")
    assert high.classify("/I3/IC/Flows/new.xml") == "continuous"
    assert high.classify("/I3/IC/Flows/Old/x.xml") is None
    assert high.classify("/I3/IC/Flows/Old", is_dir=True) is None
    assert high.classify("/data/f") is None
    assert high.classify("/data", is_dir=True) == "continuous"  # only its files excluded
    assert high.classify("/I3/IC/Handlers/h.ihd") is None  # even under +/I3/IC
    assert high.classify("/I3/IC/Handlers", is_dir=True) is None
    assert high.classify("/I3/IC/Recordings/r.wav") == "continuous"
    assert not any(k == "handler" for k, _ in high.dirs())
    assert upgrade_higher(spec).classify("/I3/IC/Flows/Old/x.xml") == "continuous"


def test_file_classifier_agrees_with_classify() -> None:
    spec = MirrorSpec.build("/", custom="+/I3/IC;/flat;/I3/IC/Flows/_", initial="+/init",
                            exceptions="tmp")
    spec = upgrade_higher(spec, "+/I3/IC/Flows/Old;/I3/IC/Server;/I3/IC/x.bin")
    spec = replace(spec, block_handlers=(P("/I3/IC/Handlers"),))
    kind_of = spec.file_classifier()
    paths = ["/I3/IC/a.xml", "/I3/IC/x.bin", "/I3/IC/y.tmp", "/I3/IC/.a.so-tmp-1",
             "/I3/IC/Flows/Old/f", "/I3/IC/Flows/Old/deep/f", "/I3/IC/Flows/_",
             "/I3/IC/Flows/_/f", "/I3/IC/Flows/g", "/I3/IC/Server/f", "/I3/IC/Server/s/f",
             "/I3/IC/Handlers", "/I3/IC/Handlers/h.ihd", "/flat/f", "/flat/sub/f", "/flat",
             "/init/a/b/c", "/init", "/elsewhere/f", "/f"]
    for _ in range(2):  # the second pass answers from the per-directory memo
        for p in paths:
            assert kind_of(p) == spec.classify(p, False), p


# --- one parser: the parameter catalogue accepts and refuses what the mirror does ------

REFERENCE_EXAMPLES = [
    (r"D:\I3\IC\Server\Data1; D:\I3\IC\Server\Data2",  # "Formatting tips"
     (("/I3/IC/Server/Data1", False), ("/I3/IC/Server/Data2", False))),
    (r"+D:\I3\IC\Server\Data1", (("/I3/IC/Server/Data1", True),)),  # "Formatting tips"
    (r"D:\I3\Server\Data1;+D:\I3\IC\Server\Data2",  # "Subdirectory mirroring"
     (("/I3/Server/Data1", False), ("/I3/IC/Server/Data2", True))),
    (r"+D:\I3\IC\ImportantDir", (("/I3/IC/ImportantDir", True),)),  # CustomMirrorDir's table
    (r"D:\I3\IC\Server\Data;D:\I3\IC\Reports;D:\I3\IC\Handlers\Custom",  # "Recommendations"
     (("/I3/IC/Server/Data", False), ("/I3/IC/Reports", False),
      ("/I3/IC/Handlers/Custom", False))),
    (r"D:\I3\IC\Work;D:\I3\IC\Logs;D:\I3\IC\FBMC",  # the "Caution!" (warned, not refused)
     (("/I3/IC/Work", False), ("/I3/IC/Logs", False), ("/I3/IC/FBMC", False))),
    (r"+D:\I3\IC\Resources;+C:\I3\IC\Flows;D:\I3\IC\Handlers\Custom",
     (("/I3/IC/Resources", True), ("/I3/IC/Flows", True), ("/I3/IC/Handlers/Custom", False))),
]


@pytest.mark.parametrize("text, expected", REFERENCE_EXAMPLES)
def test_catalogue_accepts_reference_examples_as_the_mirror_parses_them(
        text: str, expected: tuple[tuple[str, bool], ...]) -> None:
    assert lookup("CustomMirrorDir").parse(text) == expected
    assert parse_dirs(text) == tuple(MirrorDir(P(path), rec) for path, rec in expected)
    # and the mirror, handed the catalogue's value as the service hands it, sees the same
    params = ServerParameters.from_mapping({"CustomMirrorDir": text})
    specs = build_specs(ROOT, params)
    assert {MirrorDir(P(path), rec) for path, rec in expected} <= set(specs.normal.continuous)




@pytest.mark.parametrize("text, item, why", DIRLIST_REFUSALS)
def test_malformed_item_refused_by_both_with_the_same_reason(text: str, item: str,
                                                             why: str) -> None:
    with pytest.raises(MirrorSpecError) as mirror:
        parse_dirs(text, "InitialMirrorDir")
    with pytest.raises(ParamError) as param:
        lookup("InitialMirrorDir").parse(text)
    m, message = mirror.value, str(param.value)
    assert (m.param, m.item, m.why) == ("InitialMirrorDir", item, why)
    assert message.startswith(f'server parameter "InitialMirrorDir" = {show_value(text)}: ')
    assert f"item {show_value(item)}: {why}; allowed a ';'-separated list " in message


@pytest.mark.parametrize("raw, why", [
    ("/../Dir", "'..' climbs above the root"),
    ("/", ROOT_ITSELF),
    ("D:\\", ROOT_ITSELF),
    ("/I3/IC/Handlers /", f"{SPACE_END} ('Handlers ')"),
    ("/I3/IC/\u202eX", "invisible or control character U+202E (RIGHT-TO-LEFT OVERRIDE) in path"),
])
def test_directory_parameters_agree_with_the_mirror(raw: str, why: str) -> None:
    for name in ("Handler Path", "Resource Path", "I3Tables Path"):
        assert lookup(name).parse(r"D:\I3\IC\Dir") == "/I3/IC/Dir"
        assert normalise_path(r"D:\I3\IC\Dir", name) == P("/I3/IC/Dir")
        with pytest.raises(MirrorSpecError) as mirror:
            normalise_path(raw, name)
        with pytest.raises(ParamError) as param:
            lookup(name).parse(raw)
        assert (mirror.value.param, mirror.value.item, mirror.value.why) == (name, raw, why)
        assert str(param.value) == (f'server parameter "{name}" = {show_value(raw)}: {why}; '
                                    r"allowed an absolute directory such as /I3/IC/Handlers "
                                    r"or D:\I3\IC\Handlers")


# --- parse -> format -> parse is the identity ------------------------------------------
# The mirror never sees what the operator wrote: `settings.texts` formats the catalogue's
# stored value back to text and parses that. Any input the catalogue accepts must
# therefore read the same the second time, or the mirror would watch another directory.

PATH_INPUTS = [
    r"\I3\IC\Handlers", r"\I3\IC\Resources", r"\I3\IC\Server\I3Tables",  # the reference's
    DEFAULT_HANDLER_PATH, DEFAULT_RESOURCE_PATH, DEFAULT_I3TABLES_PATH,
    r"D:\I3\IC\Server\Data1", r"D:\I3\IC\Resources\ ", "\t/I3/IC\n", "/I3/IC//Flows///",
    "/I3/IC/../IC/Flows", "/I3/IC/./x/../ImportantDir", "/I3/My Dir/x", "/I3/a\xa0b",
    "/I3/Café/Ünïcode", "/I3/IC.d/x..y/.hidden", "/I3/+plus", "/I3/x+",
]
DIRLIST_INPUTS = [text for text, _ in REFERENCE_EXAMPLES] + PATH_INPUTS + [
    DEFAULT_CUSTOM_MIRROR_DIR, DEFAULT_UPGRADE_FILE_SYNC_DIRS, "",
    "  +  /I3/IC/ImportantDir  ;", "/a;+/a/;/a", "+/I3/+plus; +/I3/My Dir ;",
    "+" + ";+".join(PATH_INPUTS),
]
REFUSED_INPUTS = ["+D:\\I3\\IC \\ ", "+/I3/IC/Work /", "/I3/IC/Handlers /", "/I3/IC\xa0/x",
                  "/", r"D:\ ", "+/I3/..", "/I3/IC\u200b", "/I3/a\x85b"]
DIRECTORY_PARAMS = [spec for spec in CATALOGUE.values() if spec.kind in ("path", "dirlist")]


def test_every_directory_parameter_is_covered() -> None:
    assert {spec.name for spec in DIRECTORY_PARAMS} == {
        "CustomMirrorDir", "InitialMirrorDir", "Custom Upgrade File Synchronization Directories",
        "Switchover Upgrade Higher File Exclusions", "Handler Path", "Resource Path",
        "I3Tables Path"}


@pytest.mark.parametrize("spec", DIRECTORY_PARAMS, ids=lambda spec: spec.name)
def test_parse_format_parse_is_the_identity(spec: ParamSpec) -> None:
    inputs = PATH_INPUTS if spec.kind == "path" else DIRLIST_INPUTS
    for text in inputs:
        value = spec.parse(text)
        assert spec.parse(spec.format(value)) == value, text
        # and the mirror's own reading of the formatted value is the catalogue's value
        if spec.kind == "path":
            assert str(normalise_path(spec.format(value), spec.name)) == value, text
        else:
            assert tuple((str(d.path), d.recursive)
                         for d in parse_dirs(spec.format(value), spec.name)) == value, text
    for text in REFUSED_INPUTS:
        with pytest.raises(ParamError):
            spec.parse(text)
    if spec.default not in (None, "", ()):
        assert spec.parse(spec.format(spec.default)) == spec.default


def test_the_review_examples_are_refused_not_changed() -> None:
    """The inputs that used to store `/I3/IC ` while the mirror used `/I3/IC`."""
    for name, text in (("CustomMirrorDir", "+D:\\I3\\IC \\ "),
                       ("CustomMirrorDir", "+/I3/IC/Work /"),
                       ("Handler Path", "/I3/IC/Handlers /")):
        with pytest.raises(ParamError, match=SPACE_END):
            lookup(name).parse(text)


def test_defaults_are_accepted_everywhere() -> None:
    """No default and no directory the reference prints is refused by the new rules."""
    assert lookup("CustomMirrorDir").parse(DEFAULT_CUSTOM_MIRROR_DIR) == \
        CATALOGUE["CustomMirrorDir"].default
    assert lookup("Custom Upgrade File Synchronization Directories").parse(
        DEFAULT_UPGRADE_FILE_SYNC_DIRS) == (("/I3/IC/Flows", True),)
    for name, default in (("Handler Path", DEFAULT_HANDLER_PATH),
                          ("Resource Path", DEFAULT_RESOURCE_PATH),
                          ("I3Tables Path", DEFAULT_I3TABLES_PATH)):
        assert CATALOGUE[name].default == default == lookup(name).parse(default)
    specs = build_specs(ROOT, ServerParameters.from_mapping({}))
    assert str(specs.normal.handler[0]) == "/I3/IC/Handlers"
    assert len(specs.normal.continuous) == 12  # eleven + I3Tables (Resources merged)
