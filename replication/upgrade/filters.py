"""What the backup replicates of the DS tree in each state (Appendix C), pure.

- Same release (Backup state): everything (`FULL`).
- Upgrade Higher (backup newer): "almost all data ... except": handler entries, phone
  data (classes Station and Line), entries written by the install scripts, and the paths
  in "Switchover Upgrade Higher DS Exclusions" (opt-out).
- Upgrade Lower (backup older): only what is opted in: the paths of "Custom Upgrade
  Synchronization Directories" (the seven defaults plus the operator's, recursive), minus
  the attributes in "Custom Upgrade Attribute Exceptions". Handlers are not replicated in
  either upgrade state, so the handler rule applies here too.

Each filter answers `admits(entry)` (the entry as replicated, or None) and
`admits_path(path)` (False when nothing at or below `path` is replicated, so
compare-and-update prunes the subtree without looking at it). Paths and class names are
matched case-insensitively, as operators type them in parameter values.
"""
from __future__ import annotations

from typing import Iterable, Mapping

from switchover.replication.ds.tree import HANDLER, LINE, ROOT, STATION, WRITTEN_BY_INSTALLER, Entry
from .spec import (ATTRIBUTE_EXCEPTIONS, DEFAULT_SYNC_DIRS, HIGHER_DS_EXCLUSIONS, SYNC_DIRS,
                   lookup, parse_attribute_exceptions, parse_ds_paths)

#: Containers whose whole subtree is handler data, wherever they are (``${CONFIG}`` or
#: ``${SERVER}``).
HANDLER_CONTAINERS = frozenset({"handlers"})
PHONE_CLASSES = frozenset({STATION.casefold(), LINE.casefold()})


def _under_any(path: str, prefixes: tuple[str, ...]) -> bool:
    p = path.casefold()
    return any(p == q or p.startswith(q + "/") or q == ROOT for q in prefixes)


def _is_handler(path: str, ds_class: str | None = None) -> bool:
    if ds_class is not None and ds_class.casefold() == HANDLER.casefold():
        return True
    return any(seg.casefold() in HANDLER_CONTAINERS for seg in path.split("/"))


class FullFilter:
    """Same release: the backup mirrors the whole tree."""

    def admits(self, entry: Entry) -> Entry | None:
        return entry

    def admits_path(self, path: str) -> bool:
        return True

    def __repr__(self) -> str:
        return "FullFilter()"


FULL = FullFilter()


class UpgradeHigherFilter:
    """Opt-out replication while the backup runs the newer release."""

    def __init__(self, exclusions: Iterable[str] = (),
                 phone_classes: Iterable[str] = (STATION, LINE)) -> None:
        self.exclusions = tuple(p.casefold() for p in exclusions)
        self.phone_classes = frozenset(c.casefold() for c in phone_classes)

    @classmethod
    def from_parameters(cls, params: Mapping[str, str], active_server: str
                        ) -> "UpgradeHigherFilter":
        return cls(parse_ds_paths(lookup(params, HIGHER_DS_EXCLUSIONS), active_server,
                                  HIGHER_DS_EXCLUSIONS))

    def admits_path(self, path: str) -> bool:
        return not (_is_handler(path) or _under_any(path, self.exclusions))

    def admits(self, entry: Entry) -> Entry | None:
        if not self.admits_path(entry.path) or _is_handler(entry.path, entry.ds_class):
            return None
        if entry.ds_class.casefold() in self.phone_classes:
            return None
        if WRITTEN_BY_INSTALLER in entry.flags:
            return None
        return entry

    def __repr__(self) -> str:
        return f"UpgradeHigherFilter(exclusions={self.exclusions!r})"


class UpgradeLowerFilter:
    """Opt-in replication while the backup runs the older release."""

    def __init__(self, sync_dirs: Iterable[str],
                 attribute_exceptions: Mapping[str, Iterable[str]] | None = None) -> None:
        self.sync_dirs = tuple(p.casefold() for p in sync_dirs)
        self.exceptions = {c.casefold(): frozenset(attribute_exceptions[c])
                           for c in (attribute_exceptions or {})}

    @classmethod
    def from_parameters(cls, params: Mapping[str, str], active_server: str
                        ) -> "UpgradeLowerFilter":
        """The defaults plus the operator's directories, and the attribute exceptions."""
        dirs = parse_ds_paths(DEFAULT_SYNC_DIRS, active_server)
        extra = parse_ds_paths(lookup(params, SYNC_DIRS), active_server, SYNC_DIRS)
        return cls(dirs + tuple(p for p in extra if p not in dirs),
                   parse_attribute_exceptions(lookup(params, ATTRIBUTE_EXCEPTIONS)))

    def admits_path(self, path: str) -> bool:
        """Under a synchronization directory, or on the way to one (an ancestor must be
        walked through during compare even though its own entry is not replicated)."""
        if _is_handler(path):
            return False
        p = path.casefold()
        return p == ROOT or any(p == q or p.startswith(q + "/") or q.startswith(p + "/")
                                for q in self.sync_dirs)

    def admits(self, entry: Entry) -> Entry | None:
        if not _under_any(entry.path, self.sync_dirs) or _is_handler(entry.path,
                                                                     entry.ds_class):
            return None
        drop = self.exceptions.get(entry.ds_class.casefold())
        return entry.without_attributes(drop) if drop else entry

    def __repr__(self) -> str:
        return (f"UpgradeLowerFilter(sync_dirs={self.sync_dirs!r}, "
                f"exceptions={self.exceptions!r})")


def filter_for_state(state: str, params: Mapping[str, str], active_server: str
                     ) -> FullFilter | UpgradeHigherFilter | UpgradeLowerFilter:
    """The filter for a backup state name ("UpgradeHigher", "UpgradeLower", else full)."""
    if state == "UpgradeHigher":
        return UpgradeHigherFilter.from_parameters(params, active_server)
    if state == "UpgradeLower":
        return UpgradeLowerFilter.from_parameters(params, active_server)
    return FULL
