"""Operator commands on the DS tree and the server parameters in it (the reference's
Interaction Administrator): ``ds.get|set|delete|tree|export|import`` and
``params.list|get|set|unset``.

Reads need the "status" right, writes "remote-control". Writes are the active's ("never
configure the backup"): on any other server they are refused with the active's name,
unless ``local_override`` is true on the backup, which changes that server alone (status
shows the drift until the next resync overwrites it). In synchronous mode a write on the
active returns once the backup has applied it or "Switchover Synchronous DS Timeout" has
passed; the result says which.
"""
from __future__ import annotations

import io
import logging
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable, Mapping, Sequence

from switchover.replication.service import ACTIVE, BACKUP, AdminCommand, ServiceCommandError
from switchover.params import CATALOGUE, ParamError, lookup, no_effect_warning

from .changes import ChangeSet, Delete, Op, Put
from .parameters import VALUE, parameter_entry, parameter_path
from .tree import ROOT, DSError, Entry, expand

if TYPE_CHECKING:
    from .service import DSService

log = logging.getLogger("DSReplicator")

READ, WRITE = "status", "remote-control"
TREE_LIMIT = 10_000


class WriteRefused(ServiceCommandError):
    """A write on a server that is not the active (the message names the active)."""

    def __init__(self, reason: str) -> None:
        super().__init__(409, reason)


def entry_json(e: Entry) -> dict[str, Any]:
    return {"path": e.path, "class": e.ds_class,
            "attributes": {k: list(v) for k, v in e.attributes.items()},
            "flags": sorted(e.flags)}


class DSAdmin:
    def __init__(self, service: "DSService") -> None:
        self.s = service
        self.store = service.store

    def _path(self, args: Mapping[str, Any], default: str | None = None) -> str:
        raw = args.get("path", default)
        if not isinstance(raw, str):
            raise DSError("a DS path is required (e.g. ${CONFIG}/Users/alice)")
        return expand(raw, self.s.server_name())

    # -- writes ----------------------------------------------------------------------

    def write(self, ops: Sequence[Op], args: Mapping[str, Any], what: str) -> dict[str, Any]:
        """Commit on the active (waiting for the backup in synchronous mode), or apply a
        local override on the backup, or refuse."""
        s = self.s
        me = s.ctx.config.server_name
        if s.role == ACTIVE:
            cs = self.store.write(ops)
            return {"seq": cs.seq, "server": me, "change": what, **self._replicated(cs)}
        if s.role == BACKUP and args.get("local_override"):
            self.store.write_local(ops)
            s.drift.append(what)
            return {"seq": self.store.seq, "server": me, "change": what,
                    "replicated": "local override on the backup only: it will be "
                                  "overwritten at the next resync"}
        role = s.role if s.role != "none" else "not yet active"
        raise WriteRefused(
            f"{me} is {'the backup' if s.role == BACKUP else role}: make DS changes on the "
            f"active server {s.active_name()} (never configure the backup); "
            f"--local-override changes {me} alone until the next resync")

    def _replicated(self, cs: ChangeSet) -> dict[str, Any]:
        s = self.s
        if not s._synchronous():
            return {"replicated": "asynchronously"}
        if not getattr(s.ctx.notifier, "peer_connected", True):
            s.acks.wait(cs.seq, 0)  # records the lag for status
            return {"replicated": "no backup connected: the backup lags"}
        timeout = float(s.ctx.params()["Switchover Synchronous DS Timeout"])
        if s.acks.wait(cs.seq, s.ctx.clock.real_seconds(timeout)):
            return {"replicated": "applied on the backup"}
        return {"replicated": f"not applied by the backup within {timeout:g} s: the write "
                              "stands, the backup lags"}

    # -- ds.* ------------------------------------------------------------------------

    def get(self, args: Mapping[str, Any]) -> dict[str, Any]:
        path = self._path(args)
        entry = self.store.get(path)
        if entry is None:
            raise DSError(f"no DS entry at {path}")
        return entry_json(entry)

    def set(self, args: Mapping[str, Any]) -> dict[str, Any]:
        path = self._path(args)
        attrs = args.get("attributes") or {}
        if not isinstance(attrs, Mapping):
            raise DSError("attributes must be an object {name: [values]}")
        old = self.store.get(path)
        ds_class = args.get("class") or (old.ds_class if old else "Container")
        merged: dict[str, Any] = {}
        if old is not None and args.get("merge", True):
            merged.update({k: list(v) for k, v in old.attributes.items()})
        for name, values in attrs.items():
            if values is None:
                merged.pop(name, None)
            else:
                merged[name] = [values] if isinstance(values, str) else list(values)
        flags = args.get("flags")
        flags = (old.flags if old else ()) if flags is None else flags
        entry = Entry.make(path, str(ds_class), merged, flags)
        return self.write([Put(entry)], args, f"set {path}")

    def delete(self, args: Mapping[str, Any]) -> dict[str, Any]:
        path = self._path(args)
        if self.store.get(path) is None:
            raise DSError(f"no DS entry at {path}")
        return self.write([Delete(path)], args, f"delete {path}")

    def tree(self, args: Mapping[str, Any]) -> dict[str, Any]:
        path = self._path(args, ROOT)
        limit = int(args.get("limit") or TREE_LIMIT)
        depth = args.get("depth")
        base = 0 if path == ROOT else path.count("/")
        out: list[dict[str, Any]] = []
        truncated = False
        for e in self.store.walk(path):
            if depth is not None and e.path.count("/") - base > int(depth):
                continue
            if len(out) >= limit:
                truncated = True
                break
            out.append(entry_json(e))
        hashed = self.store.subtree_hash(path)
        return {"path": path, "entries": out, "truncated": truncated,
                "hash": hashed.hex() if hashed else None, "seq": self.store.seq}

    def export(self, args: Mapping[str, Any]) -> dict[str, Any]:
        target = args.get("file")
        if target:
            n = self.store.export(Path(str(target)))
            return {"file": str(target), "entries": n, "seq": self.store.seq}
        buf = io.BytesIO()
        n = self.store.export(buf)
        return {"text": buf.getvalue().decode(), "entries": n, "seq": self.store.seq}

    def import_(self, args: Mapping[str, Any]) -> dict[str, Any]:
        if self.s.role != ACTIVE:
            self.write([], {}, "import")  # refuses with the active's name
        source = args.get("file")
        if source:
            sets = self.store.import_(Path(str(source)))
        elif isinstance(args.get("text"), str):
            sets = self.store.import_(io.BytesIO(args["text"].encode()))
        else:
            raise DSError("ds.import needs a file (on this host) or text")
        last = sets[-1] if sets else None
        extra = self._replicated(last) if last else {}
        return {"changes": len(sets), "seq": self.store.seq, "entries": self.store.count(),
                **extra}

    # -- params.* ----------------------------------------------------------------------

    def _param_row(self, name: str, stored: Mapping[str, str]) -> dict[str, Any]:
        spec = lookup(name)
        in_ds = {n.casefold(): v for n, v in stored.items()}.get(spec.name.casefold())
        params = self.s.ctx.params()
        source = "DS" if in_ds is not None else (
            "config" if self.s.ctx.config.parameters.is_set(spec.name) else "default")
        return {"name": spec.name, "value": in_ds if in_ds is not None
                else spec.format(params[spec.name]), "source": source,
                "dynamic": spec.dynamic, "kind": spec.kind}

    def params_list(self, args: Mapping[str, Any]) -> dict[str, Any]:
        stored = self.s.parameters()
        rows = [self._param_row(n, stored) for n in CATALOGUE]
        if not args.get("all"):
            rows = [r for r in rows if r["source"] != "default"]
        return {"server": self.s.server_name(), "parameters": rows}

    def params_get(self, args: Mapping[str, Any]) -> dict[str, Any]:
        spec = lookup(str(args.get("name", "")))
        row = self._param_row(spec.name, self.s.parameters())
        row.update(default=spec.format(spec.default) if spec.default is not None else None,
                   minimum=spec.minimum, maximum=spec.maximum,
                   description=spec.description,
                   path=parameter_path(self.s.server_name(), spec.name))
        return row

    def params_set(self, args: Mapping[str, Any]) -> dict[str, Any]:
        spec = lookup(str(args.get("name", "")))
        value = args.get("value")
        if value is None:
            raise ParamError(f'params set "{spec.name}" needs a value', name=spec.name,
                             value=None)
        spec.parse(value)  # the catalogue's own message when refused
        name = self._stored_name(spec.name)
        entry = parameter_entry(self.s.server_name(), name, str(value))
        result = self.write([Put(entry)], args, f'parameter "{spec.name}" = {value}')
        if spec.no_effect:
            result["warning"] = no_effect_warning(spec)
            log.warning("DS: %s", result["warning"])
        return result

    def params_unset(self, args: Mapping[str, Any]) -> dict[str, Any]:
        spec = lookup(str(args.get("name", "")))
        name = self._stored_name(spec.name)
        path = parameter_path(self.s.server_name(), name)
        if self.store.get(path) is None:
            raise DSError(f'server parameter "{spec.name}" is not set in the DS')
        return self.write([Delete(path)], args, f'parameter "{spec.name}" unset')

    def _stored_name(self, canonical: str) -> str:
        for stored in self.s.parameters():
            if stored.casefold() == canonical.casefold():
                return stored
        return canonical


def commands(service: "DSService") -> dict[str, AdminCommand]:
    admin = DSAdmin(service)
    table: dict[str, tuple[str, Callable[[Mapping[str, Any]], Any]]] = {
        "ds.get": (READ, admin.get), "ds.set": (WRITE, admin.set),
        "ds.delete": (WRITE, admin.delete), "ds.tree": (READ, admin.tree),
        "ds.export": (READ, admin.export), "ds.import": (WRITE, admin.import_),
        "params.list": (READ, admin.params_list), "params.get": (READ, admin.params_get),
        "params.set": (WRITE, admin.params_set), "params.unset": (WRITE, admin.params_unset),
    }
    return table


__all__ = ["DSAdmin", "WriteRefused", "commands", "entry_json", "VALUE"]
