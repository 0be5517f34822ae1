"""Mirror specs: which directories the backup mirrors, and when.

The reference's server parameters are lists of Windows paths ("D:\\I3\\IC\\Server\\Data1;
+D:\\I3\\IC\\Server\\Data2"). Operators paste those examples, so they are accepted
literally and translated to POSIX (drop the drive letter, ``\\`` -> ``/``) by
``switchover.params_spec`` (``parse_dir_list``, ``normalise_path``): the parameter catalogue
validates with the same parser, so config load and DS writes refuse exactly what this module
would. Every path is *logical*: absolute, as written, normalised, and only later placed under
the host's ``root`` (a Path; ``/`` in production, a private directory per host in tests). A
logical path may never climb above ``/`` with ``..``, so nothing a parameter says can reach
outside ``root``; nor may it be ``/`` itself (mirroring the whole host is never meant).
Because the service reads the catalogue's stored value written back as text
(``settings.texts``), the parser refuses whatever would read differently the second time
(a directory name beginning or ending with a space), rather than quietly changing it.

What is mirrored when (the reference's "Default mirrored directories", "CustomMirrorDir",
"InitialMirrorDir"):

- ``continuous``: Resource Path and I3Tables Path (non-recursive, see ``MirrorSpec``) and
  every CustomMirrorDir entry: synchronised at start, then every change follows.
- ``handler``: Handler Path, its own files only, synchronised once at start; later handler
  publishes reach the backup as publishes, not as file events.
- ``initial``: InitialMirrorDir entries, compared at start only.

When several entries cover one path the strongest wins: continuous > handler > initial.
"""
from __future__ import annotations

from dataclasses import dataclass, field, replace
from pathlib import Path, PurePosixPath
from typing import Iterable, Literal, Mapping

from switchover.params_spec import (MirrorSpecError, normalise_path, parse_dir_list,
                                     parse_ext_list)

Kind = Literal["continuous", "initial", "handler"]

DEFAULT_CUSTOM_MIRROR_DIR = (
    "+/I3/IC/Resources;+/I3/IC/HostTools;+/I3/IC/Server/LRA;+/I3/IC/ClientSettings;"
    "+/I3/IC/Flows;+/I3/IC/TFTPRoot;+/I3/IC/Provision;+/I3/IC/Certificates/LinesAuthority;"
    "+/I3/IC/Certificates/Email;+/I3/IC/Server/I3RxDocs;+/I3/IC/Server/Reports"
)
DEFAULT_HANDLER_PATH = "/I3/IC/Handlers"
DEFAULT_RESOURCE_PATH = "/I3/IC/Resources"
DEFAULT_I3TABLES_PATH = "/I3/IC/Server/I3Tables"
DEFAULT_UPGRADE_FILE_SYNC_DIRS = "+/I3/IC/Flows"

#: "The maximum practical length of the sum of all of the paths entered in 1 server
#: parameter is approximately 2000 characters."
PRACTICAL_LIMIT = 2000

#: The reference's "Caution!": processes write temporary files there.
CAUTION_DIRS = (PurePosixPath("/I3/IC/Work"), PurePosixPath("/I3/IC/Logs"),
                PurePosixPath("/I3/IC/FBMC"))

#: Marker in the applier's temporary names; such files are never mirrored.
TEMP_MARKER = ".so-tmp-"


@dataclass(frozen=True, order=True)
class MirrorDir:
    """One directory of a list: a logical absolute path and whether ``+`` was given."""

    path: PurePosixPath
    recursive: bool = False

    def covers(self, path: PurePosixPath, is_dir: bool = False) -> bool:
        """True if `path` is this directory or mirrored as part of it.

        A non-recursive entry covers the directory itself and the files directly in it,
        never a subdirectory ("To stop recursive monitoring, remove the +").
        """
        if path == self.path:
            return True
        if self.recursive:
            return self.path in path.parents
        return path.parent == self.path and not is_dir

    def under(self, root: Path) -> Path:
        """The real directory under `root` (lexical: the applier checks symlinks)."""
        return Path(root, *self.path.parts[1:])

    def __str__(self) -> str:
        return ("+" if self.recursive else "") + str(self.path)


def is_temp_name(name: str) -> bool:
    """True for the applier's temporary files (`.<name>.so-tmp-<random>`)."""
    return name.startswith(".") and TEMP_MARKER in name


def parse_dirs(text: str | None, param: str = "CustomMirrorDir") -> tuple[MirrorDir, ...]:
    """Parse a directory list with the catalogue's parser (`parse_dir_list`), as MirrorDirs.

    Raises MirrorSpecError naming `param`, the item and why.
    """
    return tuple(MirrorDir(path, recursive) for path, recursive in parse_dir_list(text, param))


def parse_exceptions(text: str | None, param: str = "MirrorExceptions") -> frozenset[str]:
    """MirrorExceptions (`txt; gif; myext`) as lower-case extensions without a dot, parsed
    by the catalogue's own `parse_ext_list`."""
    return frozenset(parse_ext_list(text, param))


def has_exception(name: str, exceptions: Iterable[str]) -> bool:
    """True if file `name` ends in one of `exceptions` (case-insensitive; `tar.gz` works)."""
    low = name.lower()
    return any(low.endswith("." + ext) for ext in exceptions)


def warnings(spec_text: str | None, param: str = "CustomMirrorDir") -> list[str]:
    """Cautions for a directory list: Work, Logs, FBMC, and the ~2,000 character limit.

    Raises MirrorSpecError if the list is malformed, so a caller sees errors first.
    """
    dirs = parse_dirs(spec_text, param)
    out: list[str] = []
    for d in dirs:
        low = PurePosixPath(str(d.path).lower())
        for caution in CAUTION_DIRS:
            c = PurePosixPath(str(caution).lower())
            inside = low == c or c in low.parents
            contains = d.recursive and low in c.parents
            if inside or contains or low.name == c.name.lower():
                out.append(
                    f"{param}: {d} mirrors {caution.name} ({caution}); processes write "
                    "temporary files there that the backup does not need, and mirroring "
                    "them can cause problems")
                break
    total = sum(len(item.strip()) for item in (spec_text or "").split(";"))
    if total > PRACTICAL_LIMIT:
        out.append(f"{param}: the paths total {total} characters, past the practical "
                   f"limit of about {PRACTICAL_LIMIT}")
    return out


def _param(params: Mapping[str, object], name: str, default: str | None) -> str | None:
    """Read a server parameter by the reference's name, case-insensitively."""
    want = name.lower()
    for key, value in params.items():
        if key.lower() == want:
            return None if value is None else str(value)
    return default


@dataclass(frozen=True)
class MirrorSpec:
    """Everything one host mirrors: the directories of each kind, and what is left out.

    Resource Path and I3Tables Path are mirrored *non-recursively*: the reference names
    them as directories, gives `+` only to list entries, and ships CustomMirrorDir with
    `+D:\\I3\\IC\\Resources` by default, which would be pointless if Resource Path alone
    already covered Resources' subdirectories. The Handler Path is non-recursive too
    ("handler files in subdirectories ... are not mirrored by default").

    `excluded` (Switchover Upgrade Higher File Exclusions) and `block_handlers` (both
    upgrade states: "Handlers are not replicated in either Upgrade mode") only remove.
    """

    root: Path
    continuous: tuple[MirrorDir, ...] = ()
    initial: tuple[MirrorDir, ...] = ()
    handler: tuple[MirrorDir, ...] = ()
    exceptions: frozenset[str] = frozenset()
    excluded: tuple[MirrorDir, ...] = ()
    block_handlers: tuple[PurePosixPath, ...] = field(default=())

    @classmethod
    def build(cls, root: Path | str, *, custom: str | None = DEFAULT_CUSTOM_MIRROR_DIR,
              initial: str | None = "", exceptions: str | None = "",
              handler_path: str | None = DEFAULT_HANDLER_PATH,
              resource_path: str | None = DEFAULT_RESOURCE_PATH,
              i3tables_path: str | None = DEFAULT_I3TABLES_PATH) -> MirrorSpec:
        """Build a normal (not upgrade) spec from the parameters' texts."""
        defaults: list[MirrorDir] = []
        for name, value in (("Resource Path", resource_path), ("I3Tables Path", i3tables_path)):
            if value and value.strip():
                defaults.append(MirrorDir(normalise_path(value, name), False))
        cont = _merge(defaults + list(parse_dirs(custom, "CustomMirrorDir")))
        hand = ((MirrorDir(normalise_path(handler_path, "Handler Path"), False),)
                if handler_path and handler_path.strip() else ())
        return cls(root=Path(root), continuous=cont,
                   initial=parse_dirs(initial, "InitialMirrorDir"), handler=hand,
                   exceptions=parse_exceptions(exceptions, "MirrorExceptions"))

    @classmethod
    def from_parameters(cls, root: Path | str, params: Mapping[str, object]) -> MirrorSpec:
        """Build from server parameters keyed by the reference's names (any case)."""
        return cls.build(
            root,
            custom=_param(params, "CustomMirrorDir", DEFAULT_CUSTOM_MIRROR_DIR),
            initial=_param(params, "InitialMirrorDir", ""),
            exceptions=_param(params, "MirrorExceptions", ""),
            handler_path=_param(params, "Handler Path", DEFAULT_HANDLER_PATH),
            resource_path=_param(params, "Resource Path", DEFAULT_RESOURCE_PATH),
            i3tables_path=_param(params, "I3Tables Path", DEFAULT_I3TABLES_PATH))

    def dirs(self, *kinds: Kind) -> tuple[tuple[Kind, MirrorDir], ...]:
        """The directories to synchronise for `kinds` (all by default).

        An entry repeated exactly under a weaker kind is dropped (the stronger one covers
        all of it); scanning each entry with `manifest.scan_spec` keeps only what
        `classify` gives to that kind, so overlapping entries never send a file twice.
        """
        order: tuple[Kind, ...] = ("continuous", "handler", "initial")
        seen: set[MirrorDir] = set()
        out: list[tuple[Kind, MirrorDir]] = []
        for kind in order:
            for d in getattr(self, kind):
                if d in seen or self.is_excluded(d.path, True):
                    continue
                seen.add(d)
                if not kinds or kind in kinds:
                    out.append((kind, d))
        return tuple(out)

    def classify(self, path: PurePosixPath | str, is_dir: bool = False) -> Kind | None:
        """How logical `path` is mirrored, or None if it is not (or is excluded)."""
        p = path if isinstance(path, PurePosixPath) else PurePosixPath(path)
        if self.is_excluded(p, is_dir):
            return None
        for kind in ("continuous", "handler", "initial"):
            if any(d.covers(p, is_dir) for d in getattr(self, kind)):
                return kind  # type: ignore[return-value]
        return None

    def kind_filter(self, kind: Kind, base: PurePosixPath):
        """`keep(rel, is_dir)`: whether base/rel is mirrored as `kind`, as `classify` says,
        asking once per directory for files (10,000 files in 100 directories cost 100
        classifications, not 10,000). Names are checked by the caller's scan."""
        memo: dict[str, bool] = {}
        exact = {d.path for d in self.excluded} | set(self.block_handlers)

        def keep(rel: str, is_dir: bool) -> bool:
            if is_dir:
                return self.classify(base / rel, True) == kind
            parent = rel.rpartition("/")[0]
            ok = memo.get(parent)
            if ok is None:
                ok = memo[parent] = self.classify(base / parent / "_", False) == kind
            return ok and (not exact or base / rel not in exact) and \
                not has_exception(rel.rpartition("/")[2], self.exceptions)

        return keep

    def file_classifier(self):
        """`kind_of(text)`: `classify(text, False)` for a normalised logical file path
        (a string), asking once per directory.

        Every rule for a file is either about its name (exceptions, temporary names),
        about its directory and that directory's ancestors, or an exact match with a
        listed path; so the directory's verdict is the verdict for a neutral name in it,
        and names that match a listed path exactly, or carry an exception, are classified
        in full. Used for batches of many files in few directories.
        """
        memo: dict[str, Kind | None] = {}
        listed = {str(d.path) for kind in ("continuous", "handler", "initial", "excluded")
                  for d in getattr(self, kind)} | {str(h) for h in self.block_handlers}
        exceptions = self.exceptions

        def kind_of(text: str) -> Kind | None:
            parent, _, name = text.rpartition("/")
            if text in listed or is_temp_name(name) or (
                    exceptions and has_exception(name, exceptions)):
                return self.classify(PurePosixPath(text), False)
            try:
                return memo[parent]
            except KeyError:
                pass
            probe = f"{parent}/_"
            if probe in listed:
                return self.classify(PurePosixPath(text), False)
            kind = self.classify(PurePosixPath(probe), False)
            if len(memo) > 4096:
                memo.clear()
            memo[parent] = kind
            return kind

        return kind_of

    def is_excluded(self, path: PurePosixPath | str, is_dir: bool = False) -> bool:
        """True if exceptions, exclusions or an upgrade state keep `path` off the backup."""
        p = path if isinstance(path, PurePosixPath) else PurePosixPath(path)
        if not is_dir and (has_exception(p.name, self.exceptions) or is_temp_name(p.name)):
            return True
        return self._blocked(p) or any(_excludes(d, p, is_dir) for d in self.excluded)

    def _blocked(self, p: PurePosixPath) -> bool:
        return any(p == h or h in p.parents for h in self.block_handlers)

    def logical(self, real: Path | str) -> PurePosixPath | None:
        """The logical path of a real path under `root`, None if it is outside."""
        try:
            rel = Path(real).relative_to(self.root)
        except ValueError:
            return None
        return PurePosixPath("/", *rel.parts)

    def real(self, logical: PurePosixPath | str) -> Path:
        """The real path of a logical one (lexical; the applier checks for symlinks)."""
        return Path(self.root, *PurePosixPath(logical).parts[1:])


def _excludes(d: MirrorDir, p: PurePosixPath, is_dir: bool) -> bool:
    """An exclusion `+dir` removes the whole subtree; `dir` only the files directly in it."""
    if d.recursive:
        return p == d.path or d.path in p.parents
    return not is_dir and p.parent == d.path


def _merge(dirs: Iterable[MirrorDir]) -> tuple[MirrorDir, ...]:
    """One entry per path, recursive if any mention is; first mention keeps its place."""
    found: dict[PurePosixPath, bool] = {}
    for d in dirs:
        found[d.path] = found.get(d.path, False) or d.recursive
    return tuple(MirrorDir(p, r) for p, r in found.items())


def upgrade_lower_dirs(spec: MirrorSpec,
                       custom_upgrade_file_sync_dirs: str | None = DEFAULT_UPGRADE_FILE_SYNC_DIRS,
                       upgrade_exceptions: str | None = None) -> MirrorSpec:
    """The Upgrade Lower spec: opt-in only (Appendix C).

    Only "Custom Upgrade File Synchronization Directories" are mirrored; their exceptions
    are "Custom Upgrade File Synchronization Exceptions", or MirrorExceptions when that is
    unset. No defaults, no InitialMirrorDir, and never the handler directory.
    """
    dirs = parse_dirs(custom_upgrade_file_sync_dirs,
                      "Custom Upgrade File Synchronization Directories")
    exc = (parse_exceptions(upgrade_exceptions, "Custom Upgrade File Synchronization Exceptions")
           if upgrade_exceptions is not None and upgrade_exceptions.strip() else spec.exceptions)
    return MirrorSpec(root=spec.root, continuous=dirs, exceptions=exc,
                      block_handlers=tuple(h.path for h in spec.handler))


def upgrade_higher(spec: MirrorSpec, higher_file_exclusions: str | None = "") -> MirrorSpec:
    """The Upgrade Higher spec: everything but handlers and the opt-out exclusions.

    "Switchover Upgrade Higher File Exclusions" uses CustomMirrorDir's format: `+dir`
    excludes the directory and everything below it, `dir` only the files directly in it.
    """
    excl = parse_dirs(higher_file_exclusions, "Switchover Upgrade Higher File Exclusions")
    return replace(spec, handler=(), excluded=spec.excluded + excl,
                   block_handlers=spec.block_handlers + tuple(h.path for h in spec.handler))
