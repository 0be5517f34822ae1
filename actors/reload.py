"""SIGHUP: what a running host takes from its re-read configuration, and the one rule
that keeps the server parameters and the DS in agreement.

The rule: after the first start the parameters live in the DS ("Server Parameters" in
the DS tree, replicated to the backup; the first active seeds them from its file). A
SIGHUP never replaces the running values with the file's. A value that changed in
`[server_parameters]` since the file was last read is, on the active, written to the DS
as `switchover params set` writes it (the same command, so the same validation), and
from there reaches both hosts' monitors; on any other server it is refused with a
warning naming the active, because a backup that wrote its own values would be
overwritten at its next resync. Unchanged lines do nothing, so a `params set` survives
every later SIGHUP, and `params get` says where each running value comes from.

A SIGHUP also re-reads `[security] admin_keys` (operators' keys and rights) and `[hooks]`,
and reopens the log file (logrotate). Addresses, ports, names and keys need a restart.
"""
from __future__ import annotations

import dataclasses
import logging
from typing import TYPE_CHECKING, Any, Callable, Mapping

from switchover.config import Config, ConfigError, load_config
from switchover.logs import configure_logging
from switchover.params import ParamError, lookup
from switchover.sdnotify import notify

if TYPE_CHECKING:
    from switchover.actors.host import Host

log = logging.getLogger("SwitchoverMain")


def reload_host(host: "Host") -> None:
    """Apply a re-read configuration; a file the loader refuses changes nothing."""
    try:
        fresh = load_config(host.config.path)
    except ConfigError as exc:
        log.error("SwitchoverMain: reload refused, keeping the running configuration: %s", exc)
        return
    notify("RELOADING=1")
    try:
        old = host.config
        configure_logging(old.data_dir / "switchover.log", server=old.server_name,
                          settings=old.log)
        host.events.reopen()
        host.auth.allow("admin", host.admin_rights(fresh.security.admin_keys))
        host.hooks.configure(fresh.hooks)
        host.config = dataclasses.replace(
            old, hooks=fresh.hooks, parameters=fresh.parameters,
            security=dataclasses.replace(old.security, admin_keys=fresh.security.admin_keys))
        # SwitchoverMain reads its hook commands from its deps' config at every run.
        host.main_deps.config = dataclasses.replace(host.main_deps.config, hooks=fresh.hooks)
        changed = sorted(fresh.parameters.changed(old.parameters))
        log.info("SwitchoverMain: configuration reloaded (log reopened, admin keys and hooks "
                 "re-read); parameters changed in the file: %s", ", ".join(changed) or "none")
        if changed:
            _file_parameters(host, fresh, changed)
    finally:
        notify("READY=1", f"STATUS={host.status_line()}")


def _file_parameters(host: "Host", fresh: Config, changed: list[str]) -> None:
    """The rule above, for the parameters whose file values changed."""
    params_set = _ds_command(host, "params.set")
    if params_set is None:  # no DS service in this host: the file is all there is
        host.set_params(fresh.parameters)
        return
    role = host.shared.snapshot().get("role")
    names = ", ".join(f'"{n}"' for n in changed)
    if role != "active":
        host.events.record(
            "warning",
            f"Switchover Service: [server_parameters] {names} changed in the file on "
            f"{fresh.server_name}, which is not the active server: not applied. The "
            f"parameters live in the DS; change them on the active {fresh.peer.name} "
            "(its file and a SIGHUP, or `switchover params set`)")
        return
    for name in changed:
        value = _text(fresh, name)
        if value is None:
            log.warning('SwitchoverMain: "%s" left the file and has no default; the DS '
                        "keeps its value (`switchover params unset` removes it)", name)
            continue
        try:
            params_set({"name": name, "value": value})
        except Exception as exc:  # the command's refusal (ParamError, DSError, ...): one line
            host.events.record("error", f'Switchover Service: reload: "{name}" = {value} '
                                        f"not written to the DS: {exc}")
            continue
        host.events.record("info", f'Switchover Service: reload: "{name}" = {value} written '
                                   "to the DS from [server_parameters]")


def _text(config: Config, name: str) -> str | None:
    """The file's text for `name`, or its default's when the line was removed."""
    raw = config.parameters.raw(name)
    if raw is not None:
        return raw
    value = config.parameters[name]
    try:
        return None if value is None else lookup(name).format(value)
    except ParamError:
        return None


def _ds_command(host: "Host", name: str) -> Callable[[Mapping[str, Any]], Any] | None:
    for service in host.services:
        entry = service.commands().get(name)
        if entry is not None:
            return entry[1]
    return None
