"""The language of directory and extension lists: CustomMirrorDir's "Formatting tips".

One language for every directory parameter (CustomMirrorDir, InitialMirrorDir, the
upgrade-state lists, Handler/Resource/I3Tables Path) and for MirrorExceptions, used both
by the parameter kinds (`params_kinds`) and by the file mirror
(`replication/files/spec.py`, through `params_spec`): a list the mirror would take must
never be refused at config load, nor one the mirror would refuse accepted there.
"""
from __future__ import annotations

import posixpath
import re
import unicodedata
from pathlib import PurePosixPath

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
