"""The kinds of server parameter values, one parser each.

A kind (seconds, bool, address, dirlist...) is how the text an operator writes becomes
the typed value components read, and what a refusal says would have been accepted. The
catalogue names a kind for every parameter; `ParamSpec.parse` picks the parser here.
"""
from __future__ import annotations

import ipaddress
import re
from typing import TYPE_CHECKING, Callable

from switchover.mirror_lists import MirrorSpecError, normalise_path, parse_dir_list, parse_ext_list
from switchover.params_errors import ParamError, show_value

if TYPE_CHECKING:
    from switchover.params_spec import ParamSpec


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


PARSERS: dict[str, Callable[[ParamSpec, object], object]] = {
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
KINDS = frozenset(PARSERS)
