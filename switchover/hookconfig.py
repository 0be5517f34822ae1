"""The `[hooks]` table: what runs when this host becomes or stops being the active server.

The reference's "Switchover Event initiator" runs a handler on Commence (this server
becomes active) and Discontinue (it ceases operations). Beyond the reference, Fence runs
on the server about to become active, before Commence, when the old active was lost
rather than told to stop (docs/witness.md, "Fencing"). Each entry is one command:

- a list, the argument vector run without a shell: `["vip", "up", "10.0.0.100/24",
  "eth0"]`; a bare first word names a hook shipped in `deploy/hooks/`, a path (absolute,
  or relative to the config file) names the operator's own program;
- a string, a shell command line (older configurations keep working);
- a table `{ command = <list or string>, timeout = 10 }` to give that one hook its own
  time limit.

`timeout` (seconds, real time: a VIP does not move faster under `time_scale`) applies to
every hook without its own, and `retries` bounds how often a failed commence hook is
tried again. Everything is checked at load time, so a typo in a hook's name stops the
host at start instead of leaving the VIP behind at the first switch.
"""
from __future__ import annotations

import os
import shlex
from dataclasses import dataclass
from importlib.resources import files
from pathlib import Path
from typing import Any, Callable, Mapping

#: Where the hooks this project ships live (package data of `switchover.deploy`, the
#: checkout's deploy/ folder); a bare name in `[hooks]` resolves here.
SHIPPED_HOOKS = Path(str(files("switchover.deploy") / "hooks"))
HOOK_KEYS = ("commence", "discontinue", "fence", "timeout", "retries")
DEFAULT_TIMEOUT = 60.0
DEFAULT_RETRIES = 2
MAX_RETRIES = 10


@dataclass(frozen=True)
class HookCommand:
    """One hook: an argument vector run directly, or (`shell`) a shell command line."""

    argv: tuple[str, ...] = ()
    shell: str = ""
    #: Seconds this hook may run; None takes `[hooks] timeout`.
    timeout: float | None = None

    def label(self) -> str:
        """How the log and the event log name this hook."""
        return self.shell or shlex.join(self.argv)


@dataclass(frozen=True)
class Hooks:
    """The commands run on Commence, Discontinue and Fence, with their time limit and
    retries (commence only: a fence's failure is for "Switchover Fence Policy")."""

    commence: tuple[HookCommand, ...] = ()
    discontinue: tuple[HookCommand, ...] = ()
    fence: tuple[HookCommand, ...] = ()
    timeout: float = DEFAULT_TIMEOUT
    retries: int = DEFAULT_RETRIES


def shipped_hooks() -> list[str]:
    """The names a bare first word may take."""
    if not SHIPPED_HOOKS.is_dir():
        return []
    return sorted(p.name for p in SHIPPED_HOOKS.iterdir() if p.is_file() and os.access(p, os.X_OK))


#: `fail(key, value, problem)` builds the loader's one-line error naming file and key.
Fail = Callable[[str, object, str], Exception]


def parse_hooks(table: Mapping[str, Any], base: Path, fail: Fail) -> Hooks:
    """Validate `[hooks]`; relative program paths resolve against `base` (the file's dir)."""
    timeout = table.get("timeout", DEFAULT_TIMEOUT)
    if not _seconds(timeout):
        raise fail("timeout", timeout, "allowed a number of seconds greater than 0")
    retries = table.get("retries", DEFAULT_RETRIES)
    if isinstance(retries, bool) or not isinstance(retries, int) or not 0 <= retries <= MAX_RETRIES:
        raise fail("retries", retries, f"allowed a whole number 0..{MAX_RETRIES}")
    kinds = {}
    for kind in ("commence", "discontinue", "fence"):
        value = table.get(kind, [])
        if isinstance(value, (str, dict)):
            value = [value]
        if not isinstance(value, list):
            raise fail(kind, value, "allowed a list of hooks: [\"vip\", \"up\", ...] lists, "
                                    "shell command strings or {command = ..., timeout = N}")
        kinds[kind] = tuple(_command(f"{kind}[{i}]", entry, base, fail)
                            for i, entry in enumerate(value))
    return Hooks(timeout=float(timeout), retries=retries, **kinds)


def _seconds(value: object) -> bool:
    return not isinstance(value, bool) and isinstance(value, (int, float)) and value > 0


def _command(key: str, entry: object, base: Path, fail: Fail) -> HookCommand:
    timeout = None
    if isinstance(entry, dict):
        unknown = set(entry) - {"command", "timeout"}
        if unknown or "command" not in entry:
            raise fail(key, entry, "a hook table takes `command` (required) and `timeout`")
        timeout = entry.get("timeout")
        if timeout is not None and not _seconds(timeout):
            raise fail(f"{key} timeout", timeout, "allowed a number of seconds greater than 0")
        entry = entry["command"]
    if isinstance(entry, str):
        if not entry.strip():
            raise fail(key, entry, "allowed a non-empty shell command")
        return HookCommand(shell=entry, timeout=timeout)
    if (not isinstance(entry, list) or not entry
            or not all(isinstance(arg, str) for arg in entry) or not entry[0].strip()):
        raise fail(key, entry, "allowed a non-empty list of strings, e.g. "
                               "[\"vip\", \"up\", \"10.0.0.100/24\", \"eth0\"]")
    return HookCommand(argv=(_program(key, entry[0], base, fail), *entry[1:]), timeout=timeout)


def _program(key: str, name: str, base: Path, fail: Fail) -> str:
    if "/" not in name:
        path = SHIPPED_HOOKS / name
        if not (path.is_file() and os.access(path, os.X_OK)):
            shipped = ", ".join(shipped_hooks()) or "none found"
            raise fail(key, name, f"not a shipped hook (shipped: {shipped}); give a path "
                                  "for a program of your own")
        return str(path)
    path = Path(os.path.normpath(base / Path(name).expanduser()))
    if not (path.is_file() and os.access(path, os.X_OK)):
        raise fail(key, name, f"{path} is not an executable file")
    return str(path)
