"""Server parameters: the catalogue, lookup by the reference's names, validated value sets.

Operators type parameter names the way the reference prints them, in any letter case and
with stray spaces; components read them the same way (`params["Switchover TS Timeout"]`).
`ServerParameters` is immutable so a component can hold one snapshot and compare it with
the next (`changed`) when a dynamic parameter is edited on the active.
"""
from __future__ import annotations

import difflib
from collections.abc import Iterator, Mapping
from typing import Any

from switchover.params_catalogue import CATALOGUE
from switchover.params_errors import ParamError, show_value
from switchover.params_kinds import KINDS, valid_address
from switchover.params_spec import ParamSpec

__all__ = [
    "CATALOGUE",
    "KINDS",
    "ParamError",
    "ParamSpec",
    "ServerParameters",
    "lookup",
    "no_effect_warning",
    "render_markdown",
    "valid_address",
]


def _key(name: str) -> str:
    return " ".join(name.split()).casefold()


_BY_KEY: dict[str, ParamSpec] = {_key(name): spec for name, spec in CATALOGUE.items()}


def lookup(name: str) -> ParamSpec:
    """The spec for `name`, ignoring letter case and extra whitespace; a typo gets a hint."""
    spec = _BY_KEY.get(_key(name)) if isinstance(name, str) else None
    if spec is not None:
        return spec
    message = f"unknown server parameter {show_value(name)}"
    if isinstance(name, str):
        close = difflib.get_close_matches(_key(name), list(_BY_KEY), n=1, cutoff=0.6)
        if close:
            message += f' (did you mean "{_BY_KEY[close[0]].name}"?)'
    raise ParamError(message, name=name if isinstance(name, str) else None, value=None)


def _raw_text(spec: ParamSpec, raw: object) -> str:
    if isinstance(raw, str):
        return raw
    if isinstance(raw, (list, tuple)) and all(isinstance(item, str) for item in raw):
        return ";".join(raw)
    if isinstance(raw, bool):
        return "Yes" if raw else "No"
    return str(raw)


def no_effect_warning(spec: ParamSpec) -> str:
    """The one-line warning for setting a parameter that has no effect here."""
    return f'server parameter "{spec.name}" has no effect: {spec.no_effect}'


class ServerParameters(Mapping[str, Any]):
    """A validated, immutable set of server parameters over the whole catalogue.

    Reading a parameter that was not set gives the catalogue default, because that is what
    the reference does when an optional parameter is absent. Iteration covers every
    catalogue name; `as_dict` holds only what was explicitly set.
    """

    __slots__ = ("_values", "_raw")

    def __init__(self) -> None:
        self._values: dict[str, object] = {}
        self._raw: dict[str, str] = {}

    @classmethod
    def from_mapping(cls, raw: Mapping[str, object]) -> ServerParameters:
        """Validate every name and value; the first refusal raises `ParamError`."""
        params = cls()
        seen: dict[str, str] = {}
        for name, value in raw.items():
            spec = lookup(name)
            if spec.name in seen:
                raise ParamError(
                    f'server parameter "{spec.name}" is given twice '
                    f"(as {show_value(seen[spec.name])} and {show_value(name)})",
                    name=spec.name,
                    value=value,
                )
            seen[spec.name] = name
            params._values[spec.name] = spec.parse(value)
            params._raw[spec.name] = _raw_text(spec, value)
        return params

    # --- reading ------------------------------------------------------------------

    def __getitem__(self, name: str) -> Any:
        spec = lookup(name)
        return self._values.get(spec.name, spec.default)

    def get(self, name: str, default: Any = None) -> Any:  # type: ignore[override]
        """Like `[]`, but an unknown name gives `default` instead of refusing."""
        try:
            return self[name]
        except ParamError:
            return default

    def __contains__(self, name: object) -> bool:
        return isinstance(name, str) and _key(name) in _BY_KEY

    def __iter__(self) -> Iterator[str]:
        return iter(CATALOGUE)

    def __len__(self) -> int:
        return len(CATALOGUE)

    def is_set(self, name: str) -> bool:
        """Whether the parameter was given explicitly (even if equal to its default)."""
        return lookup(name).name in self._values

    def raw(self, name: str) -> str | None:
        """The text as the operator wrote it, or None when the parameter is not set."""
        return self._raw.get(lookup(name).name)

    def warnings(self) -> tuple[str, ...]:
        """One line per explicitly set parameter that switchover does nothing with.

        The reference says such values "are ignored and have no effect": they must not stop
        a start, but an operator who set one expecting an effect has to be told.
        """
        return tuple(no_effect_warning(CATALOGUE[name]) for name in self._values
                     if CATALOGUE[name].no_effect)

    def as_dict(self) -> dict[str, object]:
        """Explicitly set values by canonical name (defaults left out)."""
        return dict(self._values)

    # --- deriving -----------------------------------------------------------------

    def with_values(self, changes: Mapping[str, object]) -> ServerParameters:
        """A copy with `changes` applied and validated; a value of None unsets a parameter."""
        merged: dict[str, object] = {name: self._raw[name] for name in self._values}
        for name, value in changes.items():
            canonical = lookup(name).name
            if value is None:
                merged.pop(canonical, None)
            else:
                merged[canonical] = value
        return ServerParameters.from_mapping(merged)

    def changed(self, other: ServerParameters) -> set[str]:
        """Canonical names whose effective values differ (unset and set-to-default are equal)."""
        return {name for name in CATALOGUE if self[name] != other[name]}

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, ServerParameters):
            return NotImplemented
        return not self.changed(other)

    __hash__ = None  # type: ignore[assignment]

    def __repr__(self) -> str:
        return f"ServerParameters({self.as_dict()!r})"


# --- documentation --------------------------------------------------------------------


def _cell(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")


def _default_text(spec: ParamSpec) -> str:
    if spec.default is None:
        return "(not set)"
    text = spec.format(spec.default)
    return f"`{text}`" if text else "(empty)"


def _range_cell(spec: ParamSpec) -> str:
    if spec.choices:
        return " or ".join(spec.choices)
    if spec.kind not in ("int", "seconds"):
        return ""
    lo = "" if spec.minimum is None else f"{spec.minimum:g}"
    hi = "" if spec.maximum is None else f"{spec.maximum:g}"
    return f"{lo}..{hi}"


def render_markdown() -> str:
    """The operator's parameter table, generated so docs/parameters.md cannot drift."""
    lines = [
        "# Server parameters",
        "",
        "Generated from `switchover/params_catalogue.py` by",
        "`python -m switchover.params > docs/parameters.md`; do not edit by hand.",
        "",
        "Names are matched ignoring letter case and extra spaces. Durations are in the",
        "reference's seconds and are checked against these ranges before `time_scale` applies.",
        "A range `a..` has no maximum. *dynamic* parameters take effect without a restart.",
        "",
        "| name | kind | default | range | dynamic | section |",
        "|---|---|---|---|---|---|",
    ]
    for spec in CATALOGUE.values():
        row = [
            spec.name,
            spec.kind,
            _default_text(spec),
            _range_cell(spec),
            "yes" if spec.dynamic else "no",
            spec.section,
        ]
        lines.append("| " + " | ".join(_cell(cell) for cell in row) + " |")
    lines += ["", "## Descriptions", ""]
    for spec in CATALOGUE.values():
        lines += [f"### {spec.name}", "", spec.description, ""]
        if spec.no_effect:
            lines += [f"No effect here: {spec.no_effect}. Setting it (in the configuration "
                      "or with `switchover params set`) gives a one-line warning saying so.", ""]
        if spec.range_note:
            lines += [f"Range: {_range_cell(spec)} ({spec.range_note}).", ""]
    return "\n".join(lines)


if __name__ == "__main__":
    print(render_markdown(), end="")
