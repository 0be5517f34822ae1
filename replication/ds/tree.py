"""The DS configuration tree, pure: paths, macros, entries and the limits every write obeys.

The reference keeps CIC's configuration in "the registry" (DSServer): a tree of keys, each
with a class and attributes, that the backup must mirror exactly ("Synchronizing the
registry on both servers"). Here a key is an absolute path such as
``/Config/Users/alice``; ``${CONFIG}`` stands for ``/Config`` and ``${SERVER}`` for
``/Servers/<active server name>`` ("The active server name is replicated and used for both
servers", "Switchover system architecture").

Everything that crosses a trust boundary (an operator's command, a frame from the peer)
becomes an `Entry` or a path only through the validating functions here, so the store and
the hash tree can trust what they hold. Every refusal is a `DSError` naming what was wrong.
"""
from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Iterable, Iterator, Mapping, Protocol

ROOT = "/"
SEP = "/"
CONFIG = "/Config"
SERVERS = "/Servers"

MAX_PATH_LENGTH = 1024
MAX_DEPTH = 32
MAX_SEGMENT_LENGTH = 255
MAX_CLASS_LENGTH = 64
MAX_ATTRIBUTES = 1024
MAX_ATTRIBUTE_NAME_LENGTH = 256
MAX_VALUES_PER_ATTRIBUTE = 4096
#: Bytes (UTF-8) of one attribute's whole value list.
MAX_ATTRIBUTE_BYTES = 64 * 1024
#: Bytes (UTF-8) of all attribute values of one entry.
MAX_ENTRY_BYTES = 1024 * 1024
#: Operations in one write: a bigger batch must be split by the caller, so that one
#: transaction (and one change-log row) never grows without bound.
MAX_OPS_PER_WRITE = 10_000

#: Flag set on entries written by the install scripts (Appendix C: not replicated in
#: Upgrade Higher state).
WRITTEN_BY_INSTALLER = "written_by_installer"

#: DS classes the reference names; any class matching `_CLASS_RE` is accepted.
USER = "User"
WORKGROUP = "Workgroup"
ROLE = "Role"
STATION = "Station"
LINE = "Line"
HANDLER = "Handler"
SERVER_PARAMETER = "ServerParameter"
CONTAINER = "Container"
KNOWN_CLASSES = frozenset(
    {USER, WORKGROUP, ROLE, STATION, LINE, HANDLER, SERVER_PARAMETER, CONTAINER}
)

# A segment: letters and digits of any script, space and a few punctuation marks that
# CIC names use ("Default User", "john.doe@example.com", "Line 1 (SIP)"). Excluded: both
# separators, "$", "{", "}" (macro syntax), ";" (list separator in parameters) and
# control characters.
_SEGMENT_RE = re.compile(r"[\w .@+#&'(),:=!~%\[\]-]+")
_SEG = r"(?!\.\.?(?:/|$))(?! )[\w .@+#&'(),:=!~%\[\]-]{1,255}(?<! )"
#: A canonical path in one match: the fast path of `normalize`.
_PATH_RE = re.compile(rf"(?:/{_SEG})+")
_CLASS_RE = re.compile(r"[A-Za-z][A-Za-z0-9 _-]*")
_FLAG_RE = re.compile(r"[a-z][a-z0-9_]*")
_ATTR_FORBIDDEN = re.compile(r"[\x00-\x1f\x7f(),;]")
_ATTR_OK = re.compile(r"(?! )[^\x00-\x1f\x7f(),;]{1,%d}(?<! )" % MAX_ATTRIBUTE_NAME_LENGTH)
_MACRO_RE = re.compile(r"\$\{([^}]*)\}")


class DSError(ValueError):
    """A path, entry or write the DS refuses; the message says what and why."""


def normalize(path: str) -> str:
    """Return the canonical spelling of an absolute DS path, or raise `DSError`.

    Both separators are accepted (operators copy paths from the reference, which writes
    ``\\``) and Unicode is NFC-normalised so that two spellings of one name are one key.
    A single trailing separator is dropped; anything else unusual (empty, ``.`` or ``..``
    segments) is refused rather than guessed at, because a silently "fixed" path would
    write somewhere the operator did not mean.
    """
    if not isinstance(path, str):
        raise DSError(f"DS path must be a string, not {type(path).__name__}")
    if (len(path) <= MAX_PATH_LENGTH and _PATH_RE.fullmatch(path)
            and path.count(SEP) <= MAX_DEPTH and unicodedata.is_normalized("NFC", path)):
        return path
    if not path:
        raise DSError("DS path is empty")
    p = unicodedata.normalize("NFC", path.replace("\\", SEP))
    if not p.startswith(SEP):
        raise DSError(f"DS path {path!r} is not absolute (must start with '/')")
    if p == ROOT:
        return ROOT
    if p.endswith(SEP):
        p = p[:-1]
    if len(p) > MAX_PATH_LENGTH:
        raise DSError(f"DS path {path[:60]!r}... is {len(p)} characters long "
                      f"(at most {MAX_PATH_LENGTH})")
    segments = p[1:].split(SEP)
    if len(segments) > MAX_DEPTH:
        raise DSError(f"DS path {path!r} is {len(segments)} levels deep (at most {MAX_DEPTH})")
    for seg in segments:
        check_segment(seg, path)
    return p


def check_segment(seg: str, path: str = "") -> str:
    """Validate one path segment (a key name); return it unchanged."""
    where = f" in DS path {path!r}" if path else ""
    if seg == "":
        raise DSError(f"empty segment{where}")
    if seg in (".", ".."):
        raise DSError(f"segment {seg!r}{where} is not allowed (paths are never relative)")
    if len(seg) > MAX_SEGMENT_LENGTH:
        raise DSError(f"segment {seg[:40]!r}...{where} is longer than {MAX_SEGMENT_LENGTH}")
    if seg != seg.strip():
        raise DSError(f"segment {seg!r}{where} has leading or trailing spaces")
    if not _SEGMENT_RE.fullmatch(seg):
        bad = sorted({c for c in seg if not _SEGMENT_RE.fullmatch(c)})
        raise DSError(f"segment {seg!r}{where} contains characters not allowed: {bad!r}")
    return seg


def expand(path: str, active_server: str) -> str:
    """Replace a leading ``${CONFIG}`` or ``${SERVER}`` macro and normalise.

    A macro stands for an absolute path, so it may only begin a path; macro names are
    matched case-insensitively, as operators type them in parameter values.
    """
    p = path.strip()
    m = _MACRO_RE.search(p)
    if m is None:
        return normalize(p)
    if m.start() != 0:
        raise DSError(f"macro {m.group(0)!r} in DS path {path!r} must begin the path")
    name = m.group(1).strip().upper()
    if name == "CONFIG":
        base = CONFIG
    elif name == "SERVER":
        base = f"{SERVERS}/{check_segment(active_server)}" if active_server else ""
        if not base:
            raise DSError(f"DS path {path!r} uses ${{SERVER}} but no active server is known")
    else:
        raise DSError(f"unknown macro {m.group(0)!r} in DS path {path!r} "
                      "(known: ${CONFIG}, ${SERVER})")
    rest = p[m.end():]
    if _MACRO_RE.search(rest):
        raise DSError(f"DS path {path!r} has more than one macro")
    if rest and rest[0] not in "/\\":
        raise DSError(f"DS path {path!r}: a separator must follow {m.group(0)}")
    return normalize(base + rest)


def segments(path: str) -> tuple[str, ...]:
    """The names along a canonical path; the root has none."""
    return () if path == ROOT else tuple(path[1:].split(SEP))


def depth(path: str) -> int:
    return 0 if path == ROOT else path.count(SEP)


def join(parent: str, name: str) -> str:
    return SEP + name if parent == ROOT else parent + SEP + name


def parent_of(path: str) -> str:
    """The parent of a canonical non-root path (the root's parent is the root)."""
    i = path.rfind(SEP)
    return ROOT if i <= 0 else path[:i]


def name_of(path: str) -> str:
    return path[path.rfind(SEP) + 1:]


def ancestors(path: str) -> Iterator[str]:
    """Proper ancestors of a canonical path, nearest first, the root excluded."""
    p = parent_of(path)
    while p != ROOT:
        yield p
        p = parent_of(p)


def is_under(path: str, prefix: str) -> bool:
    """True if `path` is `prefix` or lies below it (both canonical)."""
    if prefix == ROOT:
        return True
    return path == prefix or path.startswith(prefix + SEP)


@dataclass(frozen=True)
class Entry:
    """One DS entry: its path, class, attributes (name -> values, in order) and flags.

    Frozen and holding a read-only mapping, so it can be sent between actors and threads
    without copying. Build one with `Entry.make` (validates) when data comes from outside.
    """

    path: str
    ds_class: str
    attributes: Mapping[str, tuple[str, ...]] = field(default_factory=dict)
    flags: frozenset[str] = frozenset()

    def __post_init__(self) -> None:
        attrs = self.attributes
        if not isinstance(attrs, MappingProxyType):
            attrs = MappingProxyType({k: tuple(attrs[k]) for k in sorted(attrs)})
            object.__setattr__(self, "attributes", attrs)
        if not isinstance(self.flags, frozenset):
            object.__setattr__(self, "flags", frozenset(self.flags))

    def __hash__(self) -> int:
        return hash((self.path, self.ds_class, tuple(self.attributes.items()), self.flags))

    @classmethod
    def make(cls, path: str, ds_class: str,
             attributes: Mapping[str, Iterable[str] | str] | None = None,
             flags: Iterable[str] = ()) -> "Entry":
        """Validate and build; a bare string attribute value means a one-value list."""
        attrs: dict[str, tuple[str, ...]] = {}
        if attributes:
            for k in sorted(attributes):
                v = attributes[k]
                attrs[k] = (v,) if isinstance(v, str) else tuple(v)
        entry = build_entry(normalize(path), ds_class, MappingProxyType(attrs),
                            frozenset(flags))
        validate_entry(entry)
        entry.__dict__["_valid"] = True  # spares re-validation in each write
        return entry

    def value(self, name: str, default: str | None = None) -> str | None:
        """The first value of attribute `name` (most attributes hold one)."""
        values = self.attributes.get(name)
        return values[0] if values else default

    def without_attributes(self, names: Iterable[str]) -> "Entry":
        """A copy lacking the named attributes (matched case-insensitively)."""
        drop = {n.casefold() for n in names}
        kept = {k: v for k, v in self.attributes.items() if k.casefold() not in drop}
        if len(kept) == len(self.attributes):
            return self
        copy = build_entry(self.path, self.ds_class, MappingProxyType(kept), self.flags)
        if self.__dict__.get("_valid"):
            copy.__dict__["_valid"] = True  # a subset of a valid entry is valid
        return copy


def build_entry(path: str, ds_class: str, attributes: MappingProxyType,
                flags: frozenset[str]) -> Entry:
    """Build without validation or copying: for data the store itself wrote, and for
    `Entry.make` after it has normalised its arguments (a 100,000-entry sync builds
    every entry at least once, and the dataclass constructor would double that cost)."""
    entry = object.__new__(Entry)
    entry.__dict__.update(path=path, ds_class=ds_class, attributes=attributes, flags=flags)
    return entry


def validate_entry(entry: Entry) -> None:
    """Refuse an entry whose path, class, attributes or flags break the DS rules."""
    if entry.__dict__.get("_valid"):
        return
    validate_fields(entry.path, entry.ds_class, entry.attributes, entry.flags)


def validate_fields(path: object, cls_: object, attributes: object, flags: object) -> None:
    """`validate_entry` on the parts of an entry as they arrive from the peer (a path, a
    class, a mapping of attribute name to a list of values, a collection of flags), so a
    bulk load can check them without building an `Entry` first."""
    if not isinstance(path, str) or normalize(path) != path:
        raise DSError(f"DS path {path!r} is not in canonical form")
    if path == ROOT:
        raise DSError("the root has no entry of its own and cannot be written")
    if not isinstance(cls_, str) or len(cls_) > MAX_CLASS_LENGTH or not _CLASS_RE.fullmatch(cls_):
        raise DSError(f"{path}: DS class {cls_!r} is not a valid class name "
                      f"(a letter, then letters, digits, space, '_' or '-'; "
                      f"at most {MAX_CLASS_LENGTH})")
    if not isinstance(attributes, (dict, MappingProxyType)) and not isinstance(attributes,
                                                                            Mapping):
        raise DSError(f"{path}: attributes are not a mapping")
    if len(attributes) > MAX_ATTRIBUTES:
        raise DSError(f"{path}: {len(attributes)} attributes "
                      f"(at most {MAX_ATTRIBUTES})")
    total = 0
    for name, values in attributes.items():
        if not (isinstance(name, str) and name.isascii() and _ATTR_OK.fullmatch(name)):
            _check_attribute_name(path, name)
        if not isinstance(values, (tuple, list)):
            raise DSError(f"{path}: attribute {name!r} does not hold a list of values")
        if len(values) > MAX_VALUES_PER_ATTRIBUTE:
            raise DSError(f"{path}: attribute {name!r} has {len(values)} values "
                          f"(at most {MAX_VALUES_PER_ATTRIBUTE})")
        size = 0
        for v in values:
            if not isinstance(v, str):
                raise DSError(f"{path}: attribute {name!r} has a non-string value "
                              f"of type {type(v).__name__}")
            if v.isascii():
                size += len(v)
                continue
            try:
                size += len(v.encode("utf-8"))
            except UnicodeEncodeError as exc:
                raise DSError(f"{path}: attribute {name!r} has a value that is not "
                              f"valid Unicode ({exc.reason})") from None
        if size > MAX_ATTRIBUTE_BYTES:
            raise DSError(f"{path}: attribute {name!r} holds {size} bytes "
                          f"(at most {MAX_ATTRIBUTE_BYTES} per attribute)")
        total += size
    if total > MAX_ENTRY_BYTES:
        raise DSError(f"{path}: attributes hold {total} bytes "
                      f"(at most {MAX_ENTRY_BYTES} per entry)")
    for flag in flags:
        if not isinstance(flag, str) or not _FLAG_RE.fullmatch(flag):
            raise DSError(f"{path}: flag {flag!r} is not a valid flag name "
                          "(lower-case letters, digits, '_')")


def _check_attribute_name(path: str, name: object) -> None:
    if not isinstance(name, str) or not name or name != name.strip():
        raise DSError(f"{path}: attribute name {name!r} is empty or has surrounding spaces")
    if len(name) > MAX_ATTRIBUTE_NAME_LENGTH:
        raise DSError(f"{path}: attribute name {name[:40]!r}... is longer than "
                      f"{MAX_ATTRIBUTE_NAME_LENGTH}")
    if _ATTR_FORBIDDEN.search(name):
        raise DSError(f"{path}: attribute name {name!r} contains a control character "
                      "or one of '(),;'")
    try:
        name.encode("utf-8")
    except UnicodeEncodeError:
        raise DSError(f"{path}: attribute name {name!r} is not valid Unicode") from None


class DSFilter(Protocol):
    """What an upgrade-state filter offers (replication/upgrade/filters.py)."""

    def admits(self, entry: Entry) -> Entry | None:
        """The entry as replicated (perhaps without some attributes), or None."""

    def admits_path(self, path: str) -> bool:
        """False if nothing at or below `path` is replicated (prunes a whole subtree)."""
