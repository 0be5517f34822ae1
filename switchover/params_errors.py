"""How a refused server parameter is told to the operator.

Every refusal must say which parameter, which value and what would have been accepted,
and show the value as the operator typed it, even when it holds a character that would
hide or reorder itself on a terminal. The spec, the value kinds and the config loader
all refuse in these words, so they live apart from any of them.
"""
from __future__ import annotations

import json
import unicodedata


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
