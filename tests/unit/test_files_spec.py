"""Mirror specs: the reference's examples, defaults, malformed input, upgrade states."""
from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path, PurePosixPath as P

import pytest

from replication.files.settings import build_specs
from replication.files.spec import (
    DEFAULT_CUSTOM_MIRROR_DIR, MirrorDir, MirrorSpec, MirrorSpecError, normalise_path,
    parse_dirs, parse_exceptions, upgrade_higher, upgrade_lower_dirs, warnings)
from switchover.params import ParamError, ServerParameters, lookup

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


@pytest.mark.parametrize("text", ["txt; gif; myext", ".TXT;*.Gif; ;", "tar.gz", "", ".", "*",
                                  "a/b", "my ext", "a*b", "t?t", "a\\b"])
def test_the_catalogue_and_the_mirror_read_extension_lists_alike(text: str) -> None:
    """MirrorExceptions is accepted at config load exactly when the mirror can use it."""
    try:
        mirror: frozenset[str] | str = parse_exceptions(text)
    except MirrorSpecError as exc:
        mirror = exc.why
    try:
        catalogue: frozenset[str] | str = frozenset(lookup("MirrorExceptions").parse(text))
    except ParamError as exc:
        catalogue = str(exc)
    if isinstance(mirror, str):
        assert isinstance(catalogue, str) and mirror in catalogue
    else:
        assert catalogue == mirror


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
    r"D:\I3\IC\Server\Data1; D:\I3\IC\Server\Data2",  # "Formatting tips"
    r"D:\I3\Server\Data1;+D:\I3\IC\Server\Data2",  # "Subdirectory mirroring"
    r"+D:\I3\IC\ImportantDir",  # CustomMirrorDir's table entry
    r"+D:\I3\IC\Resources;+C:\I3\IC\Flows;D:\I3\IC\Handlers\Custom",
]


@pytest.mark.parametrize("text", REFERENCE_EXAMPLES)
def test_catalogue_accepts_reference_examples_as_the_mirror_parses_them(text: str) -> None:
    typed = lookup("CustomMirrorDir").parse(text)
    assert typed == tuple((str(d.path), d.recursive) for d in parse_dirs(text))
    assert all(not path.startswith(("D:", "C:")) and "\\" not in path for path, _ in typed)
    # and the mirror, handed the catalogue's value as the service hands it, sees the same
    params = ServerParameters.from_mapping({"CustomMirrorDir": text})
    specs = build_specs(ROOT, params)
    assert set(parse_dirs(text)) <= set(specs.normal.continuous)


@pytest.mark.parametrize("text", [
    "+", "/a; + ;/b", "I3/IC/Flows", r"D:I3\IC", "/a\x00b", "/../etc", "/I3/../../etc",
    r"\\server\share", r"+\\server\share", "/a\nb", "++/I3/IC", "/ok;+relative",
])
def test_malformed_item_refused_by_both_with_the_same_reason(text: str) -> None:
    with pytest.raises(MirrorSpecError) as mirror:
        parse_dirs(text, "InitialMirrorDir")
    with pytest.raises(ParamError) as param:
        lookup("InitialMirrorDir").parse(text)
    m, message = mirror.value, str(param.value)
    assert m.param == "InitialMirrorDir"
    assert message.startswith('server parameter "InitialMirrorDir" = ')
    assert f"item {json.dumps(m.item, ensure_ascii=False)}: {m.why}; allowed " in message


def test_directory_parameters_agree_with_the_mirror() -> None:
    for name in ("Handler Path", "Resource Path", "I3Tables Path"):
        assert lookup(name).parse(r"D:\I3\IC\Dir") == str(normalise_path(r"D:\I3\IC\Dir"))
        with pytest.raises(MirrorSpecError) as mirror:
            normalise_path("/../Dir", name)
        with pytest.raises(ParamError) as param:
            lookup(name).parse("/../Dir")
        assert str(param.value).startswith(f'server parameter "{name}" = ')
        assert f": {mirror.value.why}; allowed " in str(param.value)
