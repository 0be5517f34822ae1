"""What one server parameter is: its name, kind, default, range and where they come from.

Server parameters arrive as text (the DS tree, `switchover params set`) or as TOML
values (`[server_parameters]`). Every consumer wants a typed, range-checked value and
every operator wants a refusal that says which parameter, which value and what would
have been accepted: a `ParamSpec` gives both, with the parser of its kind
(`params_kinds`) and the refusal's words (`params_errors`). The languages of directory
and extension lists live in `mirror_lists`; they are re-exported here because
`replication/files/spec.py` imports them from this module.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from switchover.mirror_lists import MirrorSpecError, normalise_path, parse_dir_list, parse_ext_list
from switchover.params_errors import ParamError, show_value
from switchover.params_kinds import KINDS, PARSERS

__all__ = [
    "CHOSEN",
    "MirrorSpecError",
    "ParamSpec",
    "catalogued",
    "normalise_path",
    "parse_dir_list",
    "parse_ext_list",
]


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
        return PARSERS[self.kind](self, raw)

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


#: How a range_note begins when the reference gives no range and switchover chose one.
CHOSEN = "range chosen by switchover: "


def catalogued(
    name: str,
    kind: str,
    default: object,
    description: str,
    *,
    section: str,
    minimum: float | None = None,
    maximum: float | None = None,
    dynamic: bool = False,
    range_note: str = "",
    no_effect: str = "",
    choices: tuple[str, ...] = (),
) -> ParamSpec:
    """A catalogue entry whose default is written as text and parsed by the entry itself,
    so a default can never be a value the parameter would refuse."""
    probe = ParamSpec(name, kind, None, minimum, maximum, dynamic, section, description,
                      range_note, choices=choices)
    typed = None if default is None else probe.parse(default)
    return ParamSpec(name, kind, typed, minimum, maximum, dynamic, section, description,
                     range_note, no_effect, choices)
