"""What the failover benchmark's scenarios share: a row's figures, the web service and
its client on the LAN, the status watch, and careful teardown.

See bench/failover.py (the table, the switchover pair's faults), bench/keepalived.py
(keepalived's) and bench/partition.py (partitions, with and without the witness).
"""
from __future__ import annotations

import signal
import statistics
import subprocess
import threading
import time
from dataclasses import dataclass, field
from typing import Any, Callable

from bench.lan_web import HttpClient, start_http_server, stop_http_server
from bench.netns import PREFIX, VIP, Topology
from switchover.localpair import LocalPair

NAMES = ("ICServer1", "ICServer2")
FAULT_TIMEOUT = 60.0  # seconds to wait for the new active after a fault


@dataclass
class Result:
    name: str
    contender: str
    scale: float | None
    expected: float | None  # seconds, real
    goal: str
    #: Client-observed downtime goal: the median under this many seconds ...
    client_limit: float | None = None
    #: ... and under the median of this keepalived scenario in the same run.
    ahead_of: str | None = None
    #: "Switchover Witness Lease TTL" of a pair guarded by a witness; None: no witness.
    ttl: float | None = None
    vip: list[float] = field(default_factory=list)
    client: list[float] = field(default_factory=list)
    status: list[float] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)


def say(text: str) -> None:
    print(f"[failover {time.strftime('%H:%M:%S')}] {text}", flush=True)


def stop_process(proc: subprocess.Popen, timeout: float = 10.0) -> None:
    """SIGTERM, then SIGKILL, one process this benchmark started (by its PID)."""
    if proc.poll() is None:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(5)


def cleanup(what: str, step: Callable[[], Any]) -> None:
    """One teardown step; a failure is reported and the next step still runs."""
    try:
        step()
    except Exception as exc:
        say(f"cleanup of {what} failed: {exc}")


class StatusWatch(threading.Thread):
    """Polls B's status until it reads Primary; notes the monotonic time it did."""

    def __init__(self, pair: LocalPair, name: str, timeout: float) -> None:
        super().__init__(name="status-watch", daemon=True)
        self.pair, self.host, self.timeout = pair, name, timeout
        self.at: float | None = None
        self._halt = threading.Event()

    def run(self) -> None:
        deadline = time.monotonic() + self.timeout
        while not self._halt.is_set() and time.monotonic() < deadline:
            try:
                status = self.pair.status(self.host, timeout=1.0)
            except Exception:
                status = None
            if status and status.get("state") == "Primary":
                self.at = time.monotonic()
                return
            time.sleep(0.01)

    def stop(self) -> None:
        self._halt.set()
        self.join(5)


def start_pair(pair: LocalPair, timeout: float = 30.0) -> None:
    pair.start_active(timeout=timeout)
    pair.start_backup(timeout=timeout)


def start_web(topo: Topology) -> list[subprocess.Popen]:
    """The web service on both hosts (answering its server's name on every address)."""
    servers: list[subprocess.Popen] = []
    try:
        for name, letter in zip(NAMES, "AB"):
            servers.append(start_http_server(topo, letter, name))
    except BaseException:
        for proc in servers:
            stop_http_server(proc)
        raise
    return servers


def watch_client(topo: Topology, name: str) -> HttpClient:
    """A client on the LAN, once the VIP answers with `name`'s service."""
    client = HttpClient(topo, limit=FAULT_TIMEOUT + 60).start()
    if client.wait_answer(name, time.monotonic(), 10) is None:
        client.stop()
        raise RuntimeError(f"the VIP never answered with {name}'s service")
    return client


def client_answered(client: HttpClient, name: str, t0: float) -> float | None:
    """Seconds from `t0` to the first 200 from `name`, waiting for it (then a little
    longer, so the tail of the switch is recorded too)."""
    at = client.wait_answer(name, t0, FAULT_TIMEOUT)
    time.sleep(0.2)
    client.stop()
    return None if at is None else at - t0


def vip_hooks(topo: Topology) -> dict[str, dict[str, Any]]:
    """The shipped vip hook, configured as deploy/README.md says."""
    cidr = f"{VIP}/{PREFIX}"
    return {name: {"commence": [["vip", "up", cidr, topo.ifname(letter)]],
                   "discontinue": [["vip", "down", cidr, topo.ifname(letter)]]}
            for name, letter in zip(NAMES, "AB")}


def in_sync(pair: LocalPair, a: str) -> bool:
    """A sees B as its backup with no warnings: what a planned hand-over needs."""
    peer = (pair.status(a) or {}).get("peer", {})
    return peer.get("state") == "Backup" and peer.get("warnings") == []


def fmt(values: list[float]) -> str:
    if not values:
        return "—"
    return (f"{statistics.median(values):6.3f} ({min(values):.3f}–{max(values):.3f})")
