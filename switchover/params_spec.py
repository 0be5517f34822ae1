"""What one server parameter is, and how its text becomes a typed value.

Server parameters arrive as text (the DS tree, `switchover params set`) or as TOML
values (`[server_parameters]`). Every consumer wants a typed, range-checked value and
every operator wants a refusal that says which parameter, which value and what would
have been accepted, so both live here, next to the kinds the catalogue uses.
`switchover.params` re-exports what components read parameters with; the languages of
directory and extension lists (`parse_dir_list`, `parse_ext_list`, `normalise_path`,
`MirrorSpecError`) are imported from here by `replication/files/spec.py` too, so config
load, DS writes and the mirror accept and refuse exactly the same lists.
"""
from __future__ import annotations

import ipaddress
import json
import posixpath
import re
import unicodedata
from dataclasses import dataclass
from pathlib import PurePosixPath
from typing import Any, Callable

__all__ = [
    "KINDS",
    "MirrorSpecError",
    "ParamError",
    "ParamSpec",
    "normalise_path",
    "parse_dir_list",
    "parse_ext_list",
    "show_value",
    "valid_address",
]


class ParamError(ValueError):
    """A refused server parameter name or value; the message alone must let an operator fix it."""

    def __init__(self, message: str, *, name: str | None = None, value: object = None) -> None:
        super().__init__(message)
        self.name = name
        self.value = value


def show_value(raw: object) -> str:
    """Render a value the way an operator would recognise it from what they typed.

    Text is JSON with every control or format character escaped (`\\u202e`), not only
    the ones JSON must escape: a refusal that prints U+202E or U+200B raw would reorder
    or hide the very character it refuses.
    """
    if isinstance(raw, str):
        return _escape_invisible(json.dumps(raw, ensure_ascii=False))
    if isinstance(raw, bool):
        return "true" if raw else "false"
    if isinstance(raw, (list, tuple)):
        return "[" + ", ".join(show_value(item) for item in raw) + "]"
    return repr(raw)


def _escape_invisible(text: str) -> str:
    """JSON escapes (surrogate pairs beyond U+FFFF) for every Cc/Cf character in `text`."""
    return "".join(json.dumps(ch)[1:-1] if unicodedata.category(ch) in ("Cc", "Cf") else ch
                   for ch in text)


_INT_TEXT = re.compile(r"[+-]?\d+(\.0*)?")
_TRUE = frozenset({"yes", "1", "on", "true"})
_FALSE = frozenset({"no", "0", "off", "false"})
_HOST_LABEL = re.compile(r"[A-Za-z0-9_](?:[A-Za-z0-9_-]{0,61}[A-Za-z0-9_])?")


def valid_address(text: str) -> bool:
    """True for an IPv4/IPv6 address or a DNS host name (RFC 1123 labels, `_` tolerated)."""
    try:
        ipaddress.ip_address(text)
        return True
    except ValueError:
        pass
    name = text[:-1] if text.endswith(".") else text
    if not name or len(name) > 253:
        return False
    labels = name.split(".")
    if all(label.isdigit() for label in labels):
        return False  # a mistyped IPv4 address, not a host name
    return all(_HOST_LABEL.fullmatch(label) for label in labels)


def _whole_number(raw: object) -> int | None:
    if isinstance(raw, bool):
        return None
    if isinstance(raw, int):
        return raw
    if isinstance(raw, float):
        return int(raw) if raw.is_integer() else None
    if isinstance(raw, str) and _INT_TEXT.fullmatch(raw.strip()):
        return int(float(raw.strip())) if "." in raw else int(raw.strip())
    return None


def _items(raw: object) -> list[str] | None:
    """Split a `;`-separated list (TOML arrays of strings are accepted as pre-split)."""
    if isinstance(raw, str):
        parts = raw.split(";")
    elif isinstance(raw, (list, tuple)) and all(isinstance(p, str) for p in raw):
        parts = [piece for p in raw for piece in p.split(";")]
    else:
        return None
    return [p.strip() for p in parts if p.strip()]


# --- directories: CustomMirrorDir's format -------------------------------------------
# One language for every directory parameter (CustomMirrorDir, InitialMirrorDir, the
# upgrade-state lists, Handler/Resource/I3Tables Path), used both by the catalogue and by
# replication/files/spec.py: a list the mirror would take must never be refused at config
# load, nor one the mirror would refuse accepted there.

_DRIVE = re.compile(r"^[A-Za-z]:")


class MirrorSpecError(ValueError):
    """A malformed directory in a mirror parameter; the message names the parameter, the
    item and why, and the catalogue repeats `why` in its ParamError."""

    def __init__(self, param: str, item: str, why: str) -> None:
        super().__init__(f"{param}: bad item {item!r}: {why}")
        self.param, self.item, self.why = param, item, why


def _invisible(text: str) -> str | None:
    """Name the first control or format character in `text` (None if there is none).

    Unicode categories Cc (C0 and C1 controls) and Cf (format characters such as U+200B
    ZERO WIDTH SPACE, U+202E RIGHT-TO-LEFT OVERRIDE, U+FEFF) show as nothing or reorder
    what an operator reads, so a path holding one is not the path they see; naming the
    code point is the only way a refusal can show it.
    """
    for ch in text:
        if unicodedata.category(ch) in ("Cc", "Cf"):
            name = unicodedata.name(ch, "")
            return f"U+{ord(ch):04X}" + (f" ({name})" if name else "")
    return None


def normalise_path(raw: str, param: str = "path") -> PurePosixPath:
    """Translate one directory as an operator writes it into a logical POSIX path.

    The reference writes Windows paths and operators paste them: `D:\\I3\\IC\\Server\\Data1`
    and `\\I3\\IC\\Handlers` become `/I3/IC/Server/Data1` and `/I3/IC/Handlers` (drive letter
    dropped, `\\` -> `/`, case kept). `..` is resolved but may never climb above `/`, so
    no parameter reaches outside the host's root.

    Raises MirrorSpecError for an empty, relative or network (UNC) path, an invisible or
    control character, a directory name that begins or ends with whitespace, a `..` above
    `/`, and the root itself. The whitespace rule keeps the result stable: spaces around
    the whole item are trimmed, so a name ending in a space would lose it as soon as the
    path is written back as text and read again (`D:\\I3\\IC \\` would be `/I3/IC ` here
    and `/I3/IC` in the mirror); Windows, where these paths come from, drops a trailing
    space from a name, and a leading one is a typo far more often than a name. The root
    is refused because mirroring the whole host is never meant.
    """
    item = raw.strip()
    if not item:
        raise MirrorSpecError(param, raw, "empty path")
    if "\x00" in item:
        raise MirrorSpecError(param, raw, "NUL character in path")
    invisible = _invisible(item)
    if invisible:
        raise MirrorSpecError(param, raw, f"invisible or control character {invisible} in path")
    text = _DRIVE.sub("", item, count=1).replace("\\", "/")
    if text.startswith("//"):
        raise MirrorSpecError(param, raw, "network paths are not supported")
    if not text.startswith("/"):
        raise MirrorSpecError(param, raw, "path must be absolute")
    depth = 0
    for part in text.split("/"):
        if part != part.strip():
            raise MirrorSpecError(param, raw, "a directory name cannot begin or end with a "
                                              f"space ({part!r})")
        if part == "..":
            depth -= 1
            if depth < 0:
                raise MirrorSpecError(param, raw, "'..' climbs above the root")
        elif part not in ("", "."):
            depth += 1
    if depth == 0:
        raise MirrorSpecError(param, raw, "the root directory itself cannot be mirrored")
    return PurePosixPath(posixpath.normpath(text))


def parse_dir_list(text: str | None, param: str) -> tuple[tuple[PurePosixPath, bool], ...]:
    """Parse a `;`-separated directory list ("Formatting tips") into (path, recursive).

    `+` in front means recursive. Spaces around items are trimmed and empty items (a
    trailing `;`) ignored. A path listed twice is kept once, in its first place, recursive
    if either mention was. A refusal names the whole item as written, `+` included.
    """
    found: dict[PurePosixPath, bool] = {}
    for raw in (text or "").split(";"):
        item = raw.strip()
        if not item:
            continue
        recursive = item.startswith("+")
        body = item[1:].strip() if recursive else item
        if not body:
            raise MirrorSpecError(param, item, "empty path after '+'")
        try:
            path = normalise_path(body, param)
        except MirrorSpecError as exc:
            raise MirrorSpecError(param, item, exc.why) from None
        found[path] = found.get(path, False) or recursive
    return tuple(found.items())


def parse_ext_list(text: str | None, param: str) -> tuple[str, ...]:
    """Parse a MirrorExceptions-style list (`txt; gif; myext`) into lower-case extensions.

    Operators also write `.txt` and `*.txt`; both mean `txt` (so does `*txt`: the `*` and
    any leading dots are dropped). An extension may have dots of its own (`tar.gz`) but no
    path separator, space, wildcard, invisible or control character, no trailing dot and
    no `..`: a file matches when its name ends in `.` + the extension, so `txt.` or
    `tar..gz` could only match names Windows cannot hold or nobody means; all of these are
    mistakes, and a list that silently matches nothing loses nothing visible until the
    wrong files are mirrored.
    """
    found: dict[str, None] = {}
    for raw in (text or "").split(";"):
        item = raw.strip()
        if not item:
            continue
        ext = item.lower().removeprefix("*").lstrip(".")
        if not ext:
            raise MirrorSpecError(param, item, "empty extension")
        invisible = _invisible(ext)
        if invisible:
            raise MirrorSpecError(param, item,
                                  f"invisible or control character {invisible} in extension")
        if re.search(r"[/\\*?\s]", ext):
            raise MirrorSpecError(param, item, "an extension cannot hold '/', '\\', spaces "
                                               "or wildcards")
        if ext.endswith(".") or ".." in ext:
            raise MirrorSpecError(param, item, "an extension cannot end with a dot or hold "
                                               "'..' (no file extension has an empty part)")
        found[ext] = None
    return tuple(found)


@dataclass(frozen=True)
class ParamSpec:
    """One server parameter as the reference names it, with its default and allowed range.

    `minimum`/`maximum` are in the reference's own units (seconds, counts), never scaled by
    `time_scale`: the operator's 10 s is validated as 10 s. `range_note` quotes where the
    range comes from (the reference's words, or why switchover chose it) so that a refusal
    can cite it. `no_effect`, when set, says why switchover does nothing with the
    parameter (accepted so that a configuration written for the reference still loads).
    """

    name: str
    kind: str
    default: object
    minimum: float | None
    maximum: float | None
    dynamic: bool
    section: str
    description: str
    range_note: str = ""
    no_effect: str = ""
    #: A "choice" parameter's values, as written in docs and shown back.
    choices: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        if self.kind not in KINDS:
            raise ValueError(f"unknown parameter kind {self.kind!r} for {self.name!r}")
        if (self.kind == "choice") != bool(self.choices):
            raise ValueError(f"{self.name!r}: choices go with the kind \"choice\" only")

    # --- refusals -------------------------------------------------------------------

    def error(self, raw: object, problem: str) -> ParamError:
        """A refusal naming this parameter, the offending value and `problem`."""
        return ParamError(
            f'server parameter "{self.name}" = {show_value(raw)}: {problem}',
            name=self.name,
            value=raw,
        )

    def range_text(self) -> str:
        """The allowed numeric range in words, e.g. `5..60 seconds` or `-1 or more`."""
        unit = " seconds" if self.kind == "seconds" else ""
        lo, hi = _num(self.minimum), _num(self.maximum)
        if lo is not None and hi is not None:
            text = f"{lo}..{hi}{unit}"
        elif lo is not None:
            text = f"{lo} or more{unit}"
        elif hi is not None:
            text = f"at most {hi}{unit}"
        else:
            text = f"any whole number{unit}"
        return f"{text} ({self.range_note})" if self.range_note else text

    # --- parsing --------------------------------------------------------------------

    def parse(self, raw: object) -> object:
        """Validate `raw` (text or a TOML value) and return the typed value consumers use."""
        return _PARSERS[self.kind](self, raw)

    def format(self, value: Any) -> str:
        """The text form of a typed value, as it would be written in the DS or a config."""
        if value is None:
            return ""
        if self.kind == "bool":
            return "Yes" if value else "No"
        if self.kind == "dirlist":
            return ";".join(("+" if recursive else "") + path for path, recursive in value)
        if self.kind in ("list", "extlist", "dspaths"):
            return ";".join(value)
        if self.kind == "attrexceptions":
            return ";".join(f"{cls}({', '.join(attrs)})" for cls, attrs in value)
        return str(value)

    @property
    def recovery_flag(self) -> bool:
        """The "... Interaction Recovery Enabled" flags take any non-zero integer as on."""
        return self.kind == "bool" and self.name.endswith("Interaction Recovery Enabled")


def _num(value: float | None) -> str | None:
    if value is None:
        return None
    return str(int(value)) if float(value).is_integer() else str(value)


# --- one parser per kind --------------------------------------------------------------


def _parse_number(spec: ParamSpec, raw: object) -> int:
    value = _whole_number(raw)
    if value is None:
        what = "whole number of seconds" if spec.kind == "seconds" else "whole number"
        raise spec.error(raw, f"not a {what}; allowed {spec.range_text()}")
    if (spec.minimum is not None and value < spec.minimum) or (
        spec.maximum is not None and value > spec.maximum
    ):
        raise spec.error(raw, f"allowed {spec.range_text()}")
    return value


def _parse_bool(spec: ParamSpec, raw: object) -> bool:
    if isinstance(raw, bool):
        return raw
    text = str(raw).strip().lower() if isinstance(raw, (str, int)) else None
    if text in _TRUE:
        return True
    if text in _FALSE:
        return False
    if spec.recovery_flag and text is not None and re.fullmatch(r"[+-]?\d+", text):
        return int(text) != 0
    allowed = "Yes/No, 1/0, On/Off or True/False (any letter case)"
    if spec.recovery_flag:
        allowed += ", or any non-zero integer for on"
    raise spec.error(raw, f"allowed {allowed}")


def _parse_text(spec: ParamSpec, raw: object) -> str:
    if not isinstance(raw, str):
        raise spec.error(raw, "allowed text (a string)")
    return raw.strip()


def _parse_choice(spec: ParamSpec, raw: object) -> str:
    """One of the spec's values, matched ignoring letter case and extra spaces."""
    wanted = " ".join(raw.split()).lower() if isinstance(raw, str) else None
    for choice in spec.choices:
        if choice.lower() == wanted:
            return choice
    raise spec.error(raw, "allowed " + " or ".join(spec.choices) + " (any letter case)")


def _parse_ignored(spec: ParamSpec, raw: object) -> str:
    """Any plain value, kept as text: nothing reads it, but a table is surely a mistake."""
    if isinstance(raw, bool):
        return "Yes" if raw else "No"
    if isinstance(raw, (str, int, float)):
        return str(raw).strip()
    if isinstance(raw, (list, tuple)) and all(isinstance(item, str) for item in raw):
        return ";".join(item.strip() for item in raw)
    raise spec.error(raw, "allowed a plain value (text, a number or Yes/No)")


def _parse_name(spec: ParamSpec, raw: object) -> str:
    if not isinstance(raw, str) or not raw.strip():
        raise spec.error(raw, "allowed a non-empty name")
    name = raw.strip()
    if any(ch in name for ch in ";\t\r\n"):
        raise spec.error(raw, "allowed a single name (no ';', tabs or line breaks)")
    return name


def _parse_address(spec: ParamSpec, raw: object) -> str | None:
    if not isinstance(raw, str):
        raise spec.error(raw, "allowed a host name or IP address (a string)")
    text = raw.strip()
    if not text:
        return None  # present but empty: the reference's "not configured"
    if not valid_address(text):
        raise spec.error(raw, "allowed a host name or an IPv4/IPv6 address")
    return text


def _parse_path(spec: ParamSpec, raw: object) -> str:
    allowed = r"allowed an absolute directory such as /I3/IC/Handlers or D:\I3\IC\Handlers"
    if not isinstance(raw, str) or not raw.strip():
        raise spec.error(raw, allowed)
    try:
        return str(normalise_path(raw, spec.name))
    except MirrorSpecError as exc:
        raise spec.error(raw, f"{exc.why}; {allowed}") from None


def _parse_list(spec: ParamSpec, raw: object) -> tuple[str, ...]:
    items = _items(raw)
    if items is None:
        raise spec.error(raw, "allowed a ';'-separated list of entries")
    return tuple(items)


def _parse_dirlist(spec: ParamSpec, raw: object) -> tuple[tuple[str, bool], ...]:
    """Validate with the mirror's own parser (`parse_dir_list`) so both agree."""
    items = _items(raw)
    allowed = (
        "allowed a ';'-separated list of absolute directories, each optionally preceded by "
        r"+ for recursive (e.g. D:\I3\Server\Data1;+D:\I3\IC\Server\Data2 or "
        "/I3/Server/Data1;+/I3/IC/Server/Data2)"
    )
    if items is None:
        raise spec.error(raw, allowed)
    try:
        dirs = parse_dir_list(";".join(items), spec.name)
    except MirrorSpecError as exc:
        raise spec.error(raw, f"item {show_value(exc.item)}: {exc.why}; {allowed}") from None
    return tuple((str(path), recursive) for path, recursive in dirs)


def _parse_extlist(spec: ParamSpec, raw: object) -> tuple[str, ...]:
    """Validate with the mirror's own parser (`parse_ext_list`) so both agree."""
    items = _items(raw)
    allowed = "allowed a ';'-separated list of file extensions such as txt; gif; myext"
    if items is None:
        raise spec.error(raw, allowed)
    try:
        return parse_ext_list(";".join(items), spec.name)
    except MirrorSpecError as exc:
        raise spec.error(raw, f"{show_value(exc.item)} is not a file extension: {exc.why}; "
                              f"{allowed}") from None


# The Appendix C DS filters are parsed by the filter's own parser
# (replication/upgrade/spec.py, pure), imported when first used, so that this module
# still imports nothing else of ours when loaded: a value the filter would refuse is
# refused here, where it is set, and never reaches a backup that would replicate
# unfiltered.

#: A server name for ${SERVER} while validating (the filter uses the active's).
_ANY_SERVER = "server"


def _upgrade_refusal(spec: ParamSpec, raw: object, exc: Exception) -> ParamError:
    """The filter parser's message, without its repetition of the parameter's name."""
    return spec.error(raw, str(exc).removeprefix(f"{spec.name}: "))


def _parse_dspaths(spec: ParamSpec, raw: object) -> tuple[str, ...]:
    from switchover.replication.upgrade.spec import SpecError, parse_ds_paths

    items = _items(raw)
    if items is None:
        raise spec.error(raw, "allowed a ';'-separated list of DS paths such as "
                              "${CONFIG}/Users;${SERVER}/Workstations")
    try:
        parse_ds_paths(";".join(items), _ANY_SERVER, spec.name)
    except SpecError as exc:
        raise _upgrade_refusal(spec, raw, exc) from None
    return tuple(items)


def _parse_attrexceptions(spec: ParamSpec, raw: object) -> tuple[tuple[str, tuple[str, ...]], ...]:
    from switchover.replication.upgrade.spec import SpecError, parse_attribute_exceptions

    items = _items(raw)
    if items is None:
        raise spec.error(raw, "allowed DS class names each followed by comma-separated "
                              "attribute names in parentheses, ';'-separated (e.g. "
                              "User(Workgroups, Extension);Workgroup(Members))")
    try:
        parsed = parse_attribute_exceptions(";".join(items), spec.name)
    except SpecError as exc:
        raise _upgrade_refusal(spec, raw, exc) from None
    return tuple((cls, tuple(sorted(attrs))) for cls, attrs in parsed.items())


_PARSERS: dict[str, Callable[[ParamSpec, object], object]] = {
    "int": _parse_number,
    "seconds": _parse_number,
    "bool": _parse_bool,
    "text": _parse_text,
    "choice": _parse_choice,
    "name": _parse_name,
    "address": _parse_address,
    "path": _parse_path,
    "list": _parse_list,
    "dspaths": _parse_dspaths,
    "dirlist": _parse_dirlist,
    "extlist": _parse_extlist,
    "attrexceptions": _parse_attrexceptions,
    "ignored": _parse_ignored,
}

#: Every parameter kind the catalogue may use.
KINDS = frozenset(_PARSERS)
