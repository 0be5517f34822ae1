"""From server parameters to mirror specs: what this host mirrors in its current state.

`ServerParameters` holds typed values (a dirlist is a tuple of (path, recursive)); the
spec parser reads the reference's text form, so the values are turned back into text with
the catalogue's own `format` before parsing. Parsing twice is cheap and keeps one parser
(spec.py) for everything an operator writes.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Mapping

from switchover.replication.files.spec import MirrorSpec, upgrade_higher, upgrade_lower_dirs
from switchover.params import lookup

#: Every parameter that changes what is mirrored; a change to any of them rebuilds the spec.
MIRROR_PARAMS = (
    "CustomMirrorDir", "InitialMirrorDir", "MirrorExceptions", "Handler Path",
    "Resource Path", "I3Tables Path", "Custom Upgrade File Synchronization Directories",
    "Custom Upgrade File Synchronization Exceptions",
    "Switchover Upgrade Higher File Exclusions",
)
HEALTH_INTERVAL = "Switchover File Monitor Health Check Interval"
HEALTH_TIMEOUT = "Switchover File Monitor Health Check Timeout"
INITIAL_TIMEOUT = "Switchover Initial Mirror Timeout"


def texts(params: Mapping[str, object]) -> dict[str, str | None]:
    """The mirror parameters in the reference's text form (None when unset and no default)."""
    out: dict[str, str | None] = {}
    for name in MIRROR_PARAMS:
        value = params.get(name) if hasattr(params, "get") else params[name]
        out[name] = None if value is None else lookup(name).format(value)
    return out


@dataclass(frozen=True)
class Specs:
    """The specs one set of parameters gives.

    `normal` is what a backup in no upgrade state mirrors; `watch` is what the active
    watches and serves: the normal spec plus the Upgrade Lower opt-in directories, with
    only the exceptions both share, so a backup in any state finds what it asks for (each
    backup narrows with its own spec).
    """

    normal: MirrorSpec
    lower: MirrorSpec
    higher: MirrorSpec
    source: tuple[tuple[str, str | None], ...]

    def for_upgrade(self, upgrade: str | None) -> MirrorSpec:
        """The backup's spec in its upgrade state (Appendix C)."""
        if upgrade == "lower":
            return self.lower
        if upgrade == "higher":
            return self.higher
        return self.normal

    @property
    def watch(self) -> MirrorSpec:
        extra = tuple(d for d in self.lower.continuous if d not in self.normal.continuous)
        return MirrorSpec(root=self.normal.root, continuous=self.normal.continuous + extra,
                          initial=self.normal.initial, handler=self.normal.handler,
                          exceptions=self.normal.exceptions & self.lower.exceptions)


def build_specs(root: Path, params: Mapping[str, object]) -> Specs:
    """Parse the mirror parameters; raises MirrorSpecError naming a malformed one."""
    t = texts(params)
    normal = MirrorSpec.build(
        root, custom=t["CustomMirrorDir"], initial=t["InitialMirrorDir"],
        exceptions=t["MirrorExceptions"], handler_path=t["Handler Path"],
        resource_path=t["Resource Path"], i3tables_path=t["I3Tables Path"])
    lower = upgrade_lower_dirs(normal, t["Custom Upgrade File Synchronization Directories"],
                               t["Custom Upgrade File Synchronization Exceptions"])
    higher = upgrade_higher(normal, t["Switchover Upgrade Higher File Exclusions"])
    return Specs(normal, lower, higher, tuple(sorted(t.items())))


def param_seconds(params: Mapping[str, object], name: str, default: float) -> float:
    """A seconds parameter as a float; the default when it cannot be read."""
    try:
        value = params.get(name) if hasattr(params, "get") else params[name]
        return float(value) if value is not None else default
    except (KeyError, TypeError, ValueError):
        return default
