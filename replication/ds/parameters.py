"""Server parameters as DS entries: ``${SERVER}/Server Parameters/<name>``, attribute Value.

The reference keeps server parameters in Interaction Administrator's "Server Parameters"
container, so they replicate with the rest of the tree and the backup sees a change as it
happens (dynamic parameters). Here each parameter is one entry of class ServerParameter
whose "Value" attribute holds one string.

The catalogue that knows each parameter's kind and range lives in switchover/params.py;
this module takes its check as an injected ``validate(name, value)`` that raises with a
message naming the parameter, so a write holding one bad value is refused whole, with
that message, before anything is stored.
"""
from __future__ import annotations

from typing import Callable, Mapping, Sequence

from .changes import ChangeSet, Delete, Op, Put
from .store import DSStore
from .tree import SERVER_PARAMETER, SERVERS, DSError, Entry, check_segment, join, segments

CONTAINER_NAME = "Server Parameters"
VALUE = "Value"

#: ``validate(name, value)`` raises (e.g. switchover.params.ParamError) to refuse.
Validator = Callable[[str, str], object]
#: Called with {name: new value, or None when removed} after a committed change.
Watcher = Callable[[Mapping[str, "str | None"]], None]


class ParameterError(DSError):
    """A write refused because of a parameter; the message is the validator's own."""


def container_path(server: str) -> str:
    return f"{SERVERS}/{check_segment(server)}/{CONTAINER_NAME}"


def parameter_path(server: str, name: str) -> str:
    return join(container_path(server), check_segment(name.strip()))


def parameter_entry(server: str, name: str, value: str) -> Entry:
    return Entry.make(parameter_path(server, name), SERVER_PARAMETER, {VALUE: (str(value),)})


def is_parameter_path(path: str) -> bool:
    """``/Servers/<any server>/Server Parameters/<name>``: the backup mirrors the active's."""
    seg = segments(path)
    return len(seg) == 4 and seg[0] == SERVERS[1:] and seg[2] == CONTAINER_NAME


class ParameterGuard:
    """A `DSStore` guard: refuses a write whose parameter entries are malformed or whose
    values the catalogue refuses."""

    def __init__(self, validate: Validator) -> None:
        self._validate = validate

    def __call__(self, ops: Sequence[Op]) -> None:
        seen: dict[tuple[str, str], str] = {}
        for op in ops:
            if not isinstance(op, Put) or not is_parameter_path(op.path):
                continue
            e = op.entry
            server, name = segments(e.path)[1], segments(e.path)[3]
            if e.ds_class != SERVER_PARAMETER:
                raise ParameterError(f"server parameter {name!r}: class must be "
                                     f"{SERVER_PARAMETER}, not {e.ds_class!r}")
            values = e.attributes.get(VALUE)
            if values is None or len(values) != 1:
                raise ParameterError(f"server parameter {name!r}: attribute {VALUE!r} must "
                                     f"hold exactly one value")
            key = (server, name.casefold())
            if seen.get(key, name) != name:
                raise ParameterError(f"server parameters {seen[key]!r} and {name!r} differ "
                                     "only by case; a parameter name is case-insensitive")
            seen[key] = name
            try:
                self._validate(name, values[0])
            except Exception as exc:  # the validator's refusal, whatever its type
                raise ParameterError(str(exc)) from exc


class ServerParameters:
    """Read, change and watch one server's parameters in a `DSStore`.

    Names are matched case-insensitively, as the reference's are: setting
    "switchover ts timeout" updates an existing "Switchover TS Timeout" entry.
    """

    def __init__(self, store: DSStore, server: str, validate: Validator) -> None:
        self._store, self._server = store, server
        self._container = container_path(server)
        self._guard = ParameterGuard(validate)
        store.add_guard(self._guard)

    def all(self) -> dict[str, str]:
        return {e.path.rsplit("/", 1)[1]: e.value(VALUE, "") or ""
                for e in self._store.children(self._container)}

    def get(self, name: str, default: str | None = None) -> str | None:
        key = name.strip().casefold()
        for n, v in self.all().items():
            if n.casefold() == key:
                return v
        return default

    def write(self, updates: Mapping[str, str | None]) -> ChangeSet:
        """Set (or, with None, remove) several parameters in one transaction."""
        existing = {n.casefold(): n for n in self.all()}
        ops: list[Op] = []
        for name, value in updates.items():
            stored = existing.get(name.strip().casefold(), name.strip())
            if value is None:
                ops.append(Delete(parameter_path(self._server, stored)))
            else:
                ops.append(Put(parameter_entry(self._server, stored, str(value))))
        return self._store.write(ops)

    def set(self, name: str, value: str) -> ChangeSet:
        return self.write({name: value})

    def watch(self, callback: Watcher) -> Callable[[], None]:
        """Report parameter changes after each commit that touches this container
        (dynamic parameter monitoring); returns an unsubscribe function."""
        snapshot = self.all()
        prefix = self._container

        def on_change(cs: ChangeSet) -> None:
            nonlocal snapshot
            if not any(op.path == prefix or op.path.startswith(prefix + "/")
                       or prefix.startswith(op.path + "/") for op in cs.ops):
                return
            now = self.all()
            changed = {n: now.get(n) for n in snapshot.keys() | now.keys()
                       if snapshot.get(n) != now.get(n)}
            snapshot = now
            if changed:
                callback(changed)

        return self._store.subscribe(on_change)
