"""Parsing of the Appendix C server parameters that choose what an upgrade state replicates.

- "Custom Upgrade Synchronization Directories" and "Switchover Upgrade Higher DS
  Exclusions": semicolon-delimited DS paths, e.g. ``${CONFIG}\\Users;${CONFIG}\\Passwords``.
- "Custom Upgrade Attribute Exceptions": semicolon-delimited ``Class(attr, attr)`` items,
  e.g. ``User(Workgroups, Extension);Workgroup(Members, View User Queue List)``.

Spaces around items and names are trimmed, both ``\\`` and ``/`` separate DS path
segments, ``${CONFIG}`` and ``${SERVER}`` are expanded, and empty items (a trailing ``;``)
are skipped. Anything else malformed is a `SpecError` naming the parameter and the item:
a misspelt parameter silently replicating nothing (or everything) would only be noticed
after the data it should have carried was lost.
"""
from __future__ import annotations

import re
from typing import Mapping

from switchover.replication.ds.tree import DSError, expand

SYNC_DIRS = "Custom Upgrade Synchronization Directories"
ATTRIBUTE_EXCEPTIONS = "Custom Upgrade Attribute Exceptions"
HIGHER_DS_EXCLUSIONS = "Switchover Upgrade Higher DS Exclusions"

#: The reference's defaults; the parameter adds to them ("in addition to the default
#: paths listed above").
DEFAULT_SYNC_DIRS = ("${CONFIG}/Users;${CONFIG}/Passwords;${CONFIG}/Workgroups;"
                     "${CONFIG}/Roles;${CONFIG}/Default User;${SERVER}/Workstations;"
                     "${CONFIG}/ProcessAutomation")


class SpecError(ValueError):
    """A malformed upgrade parameter value; the message names parameter and item."""


def _items(text: str | None) -> list[tuple[int, str]]:
    if text is None:
        return []
    if not isinstance(text, str):
        raise SpecError(f"value must be text, not {type(text).__name__}")
    return [(i, item.strip()) for i, item in enumerate(text.split(";"), start=1)
            if item.strip()]


def parse_ds_paths(text: str | None, active_server: str,
                   parameter: str = SYNC_DIRS) -> tuple[str, ...]:
    """The expanded, canonical DS paths of a path-list parameter, in order, deduplicated.

    The reference prints its example as ``\\${CONFIG}\\Users``; a separator before a
    leading macro is accepted, since the macro is an absolute path anyway.
    """
    out: list[str] = []
    for i, item in _items(text):
        raw = item
        if raw[:1] in "/\\" and raw[1:].lstrip().startswith("${"):
            raw = raw[1:].lstrip()
        if not raw.startswith("${") and raw[:1] not in "/\\":
            raise SpecError(f"{parameter}: item {i} {item!r} must start with ${{CONFIG}}, "
                            "${SERVER} or a separator (an absolute DS path)")
        try:
            path = expand(raw, active_server)
        except DSError as exc:
            raise SpecError(f"{parameter}: item {i} {item!r}: {exc}") from None
        if path not in out:
            out.append(path)
    return tuple(out)


def parse_attribute_exceptions(text: str | None,
                               parameter: str = ATTRIBUTE_EXCEPTIONS
                               ) -> dict[str, frozenset[str]]:
    """``{class: attribute names}``; a class named twice gets the union of its lists."""
    out: dict[str, set[str]] = {}
    for i, item in _items(text):
        where = f"{parameter}: item {i} {item!r}"
        if "(" not in item:
            raise SpecError(f"{where}: expected Class(attribute, ...), "
                            "the attribute list in parentheses is missing")
        open_ = item.index("(")
        close = item.find(")", open_)
        if close < 0:
            raise SpecError(f"{where}: the '(' is never closed (missing ')')")
        cls, body = item[:open_].strip(), item[open_ + 1:close]
        if "(" in body or ")" in cls:
            raise SpecError(f"{where}: more than one pair of parentheses")
        if item[close + 1:].strip():
            raise SpecError(f"{where}: nothing may follow the closing ')' "
                            "(separate items with ';')")
        if not cls:
            raise SpecError(f"{where}: the DS class name before '(' is empty")
        if not re.fullmatch(r"[A-Za-z][A-Za-z0-9 _-]*", cls):
            raise SpecError(f"{where}: {cls!r} is not a DS class name")
        names = [n.strip() for n in body.split(",")]
        if not body.strip():
            raise SpecError(f"{where}: no attribute names between the parentheses")
        if any(not n for n in names):
            raise SpecError(f"{where}: an attribute name is empty (check the commas)")
        out.setdefault(cls, set()).update(names)
    return {c: frozenset(a) for c, a in out.items()}


def lookup(params: Mapping[str, str], name: str) -> str | None:
    """A parameter's value by the reference's name, case-insensitively."""
    key = name.casefold()
    for k, v in params.items():
        if k.casefold() == key:
            return v
    return None
