"""A whole pair on 127.0.0.1: two host processes, their modules, their own dirs and ports.

Used by `switchover demo`, the integration tests and the benchmarks, so all three start
real processes the same way an operator's supervisor would: `switchover run --config`.
Optionally each host gets its own address (`addresses`) and network namespace (`netns`):
its processes then start under `ip netns exec NS` and admin calls to it are made from
inside that namespace (tests/netns, bench/failover.py).
"""
from __future__ import annotations

import ctypes
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Mapping, TypeVar

from switchover.config import Config, load_config

NAMES = ("ICServer1", "ICServer2")
#: The address every host binds when `LocalPair.addresses` names none for it.
LOOPBACK = "127.0.0.1"
#: setns(2) flag for a network namespace.
CLONE_NEWNET = 0x40000000

T = TypeVar("T")


def enter_netns(netns: str) -> None:
    """Move the calling thread into the network namespace `netns` (for good: only call it
    on a thread made for the purpose). Needs CAP_SYS_ADMIN (root)."""
    libc = ctypes.CDLL(None, use_errno=True)
    with open(f"/run/netns/{netns}", "rb") as handle:
        if libc.setns(handle.fileno(), CLONE_NEWNET) != 0:
            err = ctypes.get_errno()
            raise OSError(err, f"setns into {netns}: {os.strerror(err)}")


def run_in_netns(netns: str | None, fn: Callable[[], T], timeout: float = 30.0) -> T:
    """Call `fn` on a fresh thread that has joined the network namespace `netns`.

    A network namespace belongs to a thread (setns(2)), and the threads a thread starts
    inherit it; so sockets `fn` opens, including the I/O threads of a ZeroMQ context it
    creates, live in `netns`. The thread ends with `fn`, so no other work ever runs in
    the namespace. `None` calls `fn` here. Needs CAP_SYS_ADMIN (root).
    """
    if not netns:
        return fn()
    result: dict[str, Any] = {}

    def target() -> None:
        try:
            enter_netns(netns)
            result["value"] = fn()
        except BaseException as exc:  # handed to the caller
            result["error"] = exc

    thread = threading.Thread(target=target, name=f"netns-{netns}", daemon=True)
    thread.start()
    thread.join(timeout)
    if thread.is_alive():
        raise TimeoutError(f"call in network namespace {netns} took over {timeout:.1f} s")
    if "error" in result:
        raise result["error"]
    return result["value"]


def free_ports(count: int) -> list[int]:
    """Ports the kernel says are free now (bound and released together, so distinct)."""
    socks = []
    try:
        for _ in range(count):
            sock = socket.socket()
            sock.bind(("127.0.0.1", 0))
            socks.append(sock)
        return [s.getsockname()[1] for s in socks]
    finally:
        for sock in socks:
            sock.close()


def _toml_value(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (int, float)):
        return repr(value)
    if isinstance(value, (list, tuple)):
        return "[" + ", ".join(_toml_value(v) for v in value) + "]"
    escaped = str(value).replace("\\", "\\\\").replace('"', '\\"')
    return f'"{escaped}"'


@dataclass
class LocalPair:
    base: Path
    time_scale: float = 0.05
    parameters: Mapping[str, Any] = field(default_factory=dict)
    releases: Mapping[str, str] = field(default_factory=dict)
    #: Per host: `[hooks]` keys (commence, discontinue, timeout, retries) and values.
    hooks: Mapping[str, Mapping[str, Any]] = field(default_factory=dict)
    names: tuple[str, str] = NAMES
    processes: dict[str, subprocess.Popen] = field(default_factory=dict)
    #: Per host: the address its sockets bind and its peer connects to (default loopback).
    addresses: Mapping[str, str] = field(default_factory=dict)
    #: Per host: a network namespace its processes run in (`ip netns exec NS ...`) and
    #: in which this object's admin calls to it are made (see :func:`run_in_netns`).
    netns: Mapping[str, str] = field(default_factory=dict)
    #: The `[witness]` table both hosts get (endpoints, prefix, ...), or None for none.
    witness: Mapping[str, Any] | None = None
    #: `[security] admin_keys` of both hosts: a directory of operators' public keys.
    admin_keys: Path | None = None
    #: Serve Prometheus metrics on a port of each host's own (`metrics_ports`).
    metrics: bool = False

    def __post_init__(self) -> None:
        self.base.mkdir(parents=True, exist_ok=True)
        ports = free_ports(10)
        self.metrics_ports = dict(zip(self.names, ports[8:]))
        self.ports = {
            name: dict(zip(("switch_port", "main_port", "aux_port", "admin_port"),
                           ports[i * 4:(i + 1) * 4]))
            for i, name in enumerate(self.names)
        }
        self.keys_dir = self.base / "keys"
        if not (self.keys_dir / "server-group.key_secret").exists():
            from switchover.transport.security import generate_keypair

            generate_keypair(self.keys_dir, "server-group")
        for name in self.names:
            self.write_config(name)

    # --- configuration --------------------------------------------------------------

    def address(self, name: str) -> str:
        return self.addresses.get(name, LOOPBACK)

    def command_prefix(self, name: str) -> list[str]:
        """What a host's processes are started under: `ip netns exec NS` or nothing."""
        netns = self.netns.get(name)
        return ["ip", "netns", "exec", netns] if netns else []

    def config_path(self, name: str) -> Path:
        return self.base / f"{name}.toml"

    def config(self, name: str) -> Config:
        return load_config(self.config_path(name))

    def write_config(self, name: str) -> Path:
        a, b = self.names
        lines = [
            "[server]",
            f"name = {_toml_value(name)}",
            f"data_dir = {_toml_value(str(self.base / name / 'data'))}",
            f"root = {_toml_value(str(self.base / name / 'root'))}",
            f"release = {_toml_value(self.releases.get(name, '2026.1.0'))}",
            f"time_scale = {self.time_scale!r}",
            "",
        ]
        for host in self.names:
            lines.append(f"[servers.{host}]")
            lines.append(f"address = {_toml_value(self.address(host))}")
            lines += [f"{key} = {port}" for key, port in self.ports[host].items()]
            lines.append("")
        lines += [
            "[security]",
            f"server_group_key = {_toml_value(str(self.keys_dir / 'server-group.key_secret'))}",
            *([f"admin_keys = {_toml_value(str(self.admin_keys))}"] if self.admin_keys else []),
            "",
            "[hooks]",
        ]
        for kind, commands in self.hooks.get(name, {}).items():
            lines.append(f"{kind} = {_toml_value(commands)}")
        if self.witness is not None:
            lines += ["", "[witness]"]
            lines += [f"{key} = {_toml_value(value)}" for key, value in self.witness.items()]
        if self.metrics:
            lines += ["", "[metrics]", f'listen = "127.0.0.1:{self.metrics_ports[name]}"']
        lines += ["", "[server_parameters]",
                  f'"SwitchoverServer A" = {_toml_value(a)}',
                  f'"SwitchoverServer B" = {_toml_value(b)}']
        lines += [f"{_toml_value(k)} = {_toml_value(v)}" for k, v in self.parameters.items()]
        path = self.config_path(name)
        path.write_text("\n".join(lines) + "\n")
        return path

    # --- processes ------------------------------------------------------------------

    def _spawn(self, key: str, args: list[str], log_name: str,
               host: str | None = None) -> subprocess.Popen:
        log = open(self.base / log_name, "ab")
        env = {**os.environ, "PYTHONUNBUFFERED": "1"}
        prefix = self.command_prefix(host) if host else []
        proc = subprocess.Popen(
            [*prefix, sys.executable, "-m", "switchover.cli", *args],
            stdout=log, stderr=subprocess.STDOUT, env=env,
        )
        log.close()
        self.processes[key] = proc
        return proc

    def start_host(self, name: str, *flags: str) -> subprocess.Popen:
        return self._spawn(name, ["run", "--config", str(self.config_path(name)), *flags],
                           f"{name}.log", host=name)

    def start_module(self, name: str, module: str = "TsServer", *flags: str) -> subprocess.Popen:
        return self._spawn(f"{name}/{module}",
                           ["module", "--config", str(self.config_path(name)),
                            "--name", module, *flags],
                           f"{name}-{module}.log", host=name)

    def kill(self, key: str, sig: int = signal.SIGKILL) -> None:
        proc = self.processes[key]
        if proc.poll() is None:
            proc.send_signal(sig)
        proc.wait(timeout=10)

    def stop_all(self) -> None:
        for proc in self.processes.values():
            if proc.poll() is None:
                proc.send_signal(signal.SIGTERM)
        deadline = time.monotonic() + 10
        for proc in self.processes.values():
            try:
                proc.wait(timeout=max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(timeout=5)

    # --- observation ----------------------------------------------------------------

    def status(self, name: str, timeout: float = 3.0) -> dict[str, Any] | None:
        from switchover.client import CommandFailed, admin_call

        try:
            return run_in_netns(
                self.netns.get(name),
                lambda: admin_call(self.config(name), "status", timeout=timeout),
                timeout=timeout + 10,
            )
        except CommandFailed:
            return None

    def admin(self, name: str, command: str, args: Mapping[str, Any] | None = None,
              timeout: float = 10.0) -> Any:
        from switchover.client import admin_call

        return run_in_netns(
            self.netns.get(name),
            lambda: admin_call(self.config(name), command, args, timeout=timeout),
            timeout=timeout + 10,
        )

    def wait_for(self, predicate: Callable[[], Any], timeout: float, what: str) -> Any:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            value = predicate()
            if value:
                return value
            time.sleep(0.05)
        raise TimeoutError(f"timed out after {timeout:.1f} s waiting for {what}")

    def wait_state(self, name: str, state: str, timeout: float = 20.0) -> dict[str, Any]:
        return self.wait_for(
            lambda: (s := self.status(name, timeout=1.0)) and s["state"] == state and s,
            timeout, f"{name} to reach state {state}",
        )

    def wait_module(self, name: str, module: str = "TsServer", timeout: float = 20.0) -> None:
        """Until `module` is registered with `name`'s Notifier: what the backup's
        ModuleMonitor pings (without it the backup would switch over)."""
        self.wait_for(lambda: module in (self.status(name) or {}).get("modules", {}),
                      timeout, f"{module} registered on {name}")

    def start_active(self, module: bool = True, timeout: float = 20.0) -> str:
        """Server A up first, so the active, with its TsServer registered unless
        `module` is False; its name."""
        a = self.names[0]
        self.start_host(a)
        self.wait_state(a, "Primary", timeout=timeout)
        if module:
            self.start_module(a)
            self.wait_module(a, timeout=timeout)
        return a

    def start_backup(self, *flags: str, timeout: float = 20.0) -> str:
        """Server B up second, so the backup, with main and aux connected; its name."""
        b = self.names[1]
        self.start_host(b, *flags)
        self.wait_state(b, "Backup", timeout=timeout)
        self.wait_for(lambda: (self.status(b) or {}).get("connections") ==
                      {"main": True, "aux": True}, timeout, f"main and aux up on {b}")
        return b

    def events(self, name: str) -> list[dict[str, Any]]:
        from switchover.logs import read_events

        return read_events(self.base / name / "data" / "events.jsonl")

    def log_text(self, name: str) -> str:
        """What `name`'s processes wrote to stdout and stderr, then its switchover log."""
        paths = (self.base / f"{name}.log", self.base / name / "data" / "switchover.log")
        return "".join(p.read_text(errors="replace") for p in paths if p.exists())
