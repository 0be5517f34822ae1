"""A small LAN in network namespaces for the pair: two hosts, a router, a NetTest address.

Used by `tests/netns/` and `bench/failover.py`. Everything lives in namespaces this
module creates (names unique per process and topology, e.g. `so-4242-1a`), so traffic
never leaves them and the root namespace is not touched:

```
  ns A (host A)                 ns R (router / LAN)                  ns B (host B)
  vethA 10.201.0.2/24 ── rA ─┐                                 ┌─ rB ── vethB 10.201.0.3/24
  default via 10.201.0.1     └─ br0 10.201.0.1/24 (bridge) ────┘   default via 10.201.0.1
                                lo 10.202.0.1/32 (NetTest, reached through the gateway)
```

On it, `bench/lan_web.py` runs a web service on each host and a client on the router,
and `bench/arp_observer.py` notes when the new active answers for the VIP.

The test process reaches a host's admin socket by joining that host's namespace on a
short-lived thread (`switchover.localpair.run_in_netns`), so admin calls work even while
the host's link is down (its own address stays local). Commands inside a namespace run
as `ip netns exec NS ...`. `destroy()` deletes every namespace it made; the processes
started in them must be stopped first (by PID, by whoever started them).
"""
from __future__ import annotations

import ipaddress
import itertools
import os
import shutil
import subprocess
import time
from dataclasses import dataclass, field
from typing import Sequence

SUBNET = ipaddress.ip_network("10.201.0.0/24")
NETTEST_NET = ipaddress.ip_network("10.202.0.0/24")
GATEWAY = "10.201.0.1"
NETTEST = "10.202.0.1"
HOST_ADDRESSES = {"A": "10.201.0.2", "B": "10.201.0.3"}
VIP = "10.201.0.100"
PREFIX = 24

_counter = itertools.count(1)
_probe_result: tuple[bool, str] | None = None


class NetnsError(RuntimeError):
    """An `ip` command failed while building or changing the topology."""


def ip(*args: str, netns: str | None = None, check: bool = True,
       timeout: float = 10.0) -> subprocess.CompletedProcess:
    cmd = ["ip", *(("-n", netns) if netns else ()), *args]
    done = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout)
    if check and done.returncode != 0:
        raise NetnsError(f"{' '.join(cmd)}: {done.stderr.strip() or done.returncode}")
    return done


def netns_available() -> tuple[bool, str]:
    """Whether `ip netns add` works here (probed once: add and delete a throwaway one)."""
    global _probe_result
    if _probe_result is not None:
        return _probe_result
    if shutil.which("ip") is None:
        _probe_result = (False, "the `ip` command (iproute2) is not installed")
        return _probe_result
    name = f"so-{os.getpid()}-probe"
    try:
        done = ip("netns", "add", name, check=False)
        if done.returncode != 0:
            _probe_result = (False, f"`ip netns add` is not permitted here: "
                                    f"{done.stderr.strip()}")
        else:
            _probe_result = (True, "")
    except (OSError, subprocess.SubprocessError) as exc:
        _probe_result = (False, f"`ip netns add` failed: {exc}")
    finally:
        ip("netns", "del", name, check=False)
    return _probe_result


def netns_list() -> list[str]:
    out = ip("netns", "list", check=False).stdout
    return [line.split()[0] for line in out.splitlines() if line.strip()]


def ranges_unused() -> str | None:
    """None when the root namespace has nothing in the topology's ranges, else why."""
    done = ip("-4", "-o", "addr", "show", check=False)
    routes = ip("-4", "route", "show", "table", "all", check=False)
    for net in (SUBNET, NETTEST_NET):
        for line in done.stdout.splitlines():
            for word in line.split():
                if "/" in word:
                    try:
                        iface = ipaddress.ip_interface(word)
                    except ValueError:
                        continue
                    if iface.network.overlaps(net):
                        return f"{net} is in use in the root namespace: {line.strip()}"
        for line in routes.stdout.splitlines():
            first = line.split()[0] if line.split() else ""
            if first in ("default", "local", "broadcast", "unreachable", "blackhole"):
                first = line.split()[1] if len(line.split()) > 1 else ""
            try:
                dest = ipaddress.ip_network(first, strict=False)
            except ValueError:
                continue
            if dest.prefixlen and dest.overlaps(net):
                return f"{net} is routed in the root namespace: {line.strip()}"
    return None


@dataclass
class Topology:
    """The LAN above; `build()` makes it, `destroy()` removes it (always call it)."""

    letters: Sequence[str] = ("A", "B")
    tag: str = field(default_factory=lambda: f"so-{os.getpid()}-{next(_counter)}")
    created: list[str] = field(default_factory=list)

    def __post_init__(self) -> None:
        self.router = f"{self.tag}r"
        self.hosts = {letter: f"{self.tag}{letter.lower()}" for letter in self.letters}

    # --- names
    def ns(self, letter: str) -> str:
        return self.hosts[letter]

    def address(self, letter: str) -> str:
        return HOST_ADDRESSES[letter]

    @staticmethod
    def ifname(letter: str) -> str:
        return f"veth{letter}"

    def mac(self, letter: str) -> bytes:
        out = ip("-o", "link", "show", self.ifname(letter), netns=self.ns(letter)).stdout
        words = out.split()
        return bytes.fromhex(words[words.index("link/ether") + 1].replace(":", ""))

    # --- life cycle
    def build(self) -> "Topology":
        try:
            for name in (self.router, *self.hosts.values()):
                ip("netns", "add", name)
                self.created.append(name)
                ip("link", "set", "lo", "up", netns=name)
            r = self.router
            ip("link", "add", "br0", "type", "bridge", "stp_state", "0", "forward_delay", "0",
               netns=r)
            ip("addr", "add", f"{GATEWAY}/{PREFIX}", "dev", "br0", netns=r)
            ip("link", "set", "br0", "up", netns=r)
            ip("addr", "add", f"{NETTEST}/32", "dev", "lo", netns=r)
            for letter, name in self.hosts.items():
                dev, port = self.ifname(letter), f"r{letter}"
                ip("link", "add", dev, "netns", name, "type", "veth", "peer", "name", port,
                   "netns", r)
                ip("link", "set", port, "master", "br0", netns=r)
                ip("link", "set", port, "up", netns=r)
                ip("addr", "add", f"{self.address(letter)}/{PREFIX}", "dev", dev, netns=name)
                ip("link", "set", dev, "up", netns=name)
                ip("route", "add", "default", "via", GATEWAY, netns=name)
            return self
        except BaseException:
            self.destroy()
            raise

    def destroy(self) -> None:
        """Delete every namespace this topology made (retried: a namespace whose last
        process is still exiting can refuse for a moment); raises if one stays."""
        left: list[str] = []
        while self.created:
            name = self.created.pop()
            for attempt in range(20):
                done = ip("netns", "del", name, check=False)
                if done.returncode == 0 or name not in netns_list():
                    break
                time.sleep(0.1 * (attempt + 1))
            else:
                left.append(f"{name}: {done.stderr.strip()}")
        if left:
            raise NetnsError("could not delete network namespace(s): " + "; ".join(left))

    def __enter__(self) -> "Topology":
        return self.build()

    def __exit__(self, *_: object) -> None:
        self.destroy()

    # --- faults
    def link(self, letter: str, up: bool) -> None:
        """Set a host's link down or up; on up, its default route comes back too
        (the kernel drops routes through a link that goes down)."""
        name, dev = self.ns(letter), self.ifname(letter)
        ip("link", "set", dev, "up" if up else "down", netns=name)
        if up:
            ip("route", "replace", "default", "via", GATEWAY, netns=name)

    def cut(self, letter: str, *addresses: str) -> None:
        """Make `addresses` unreachable from a host (a more specific `unreachable` route)."""
        for address in addresses:
            ip("route", "replace", "unreachable", f"{address}/32", netns=self.ns(letter))

    def uncut(self, letter: str, *addresses: str) -> None:
        for address in addresses:
            ip("route", "del", "unreachable", f"{address}/32", netns=self.ns(letter),
               check=False)

    def drop_address(self, letter: str, address: str = VIP) -> None:
        ip("addr", "del", f"{address}/{PREFIX}", "dev", self.ifname(letter),
           netns=self.ns(letter), check=False)

    def has_address(self, letter: str, address: str = VIP) -> bool:
        out = ip("-4", "-o", "addr", "show", "dev", self.ifname(letter),
                 netns=self.ns(letter), check=False).stdout
        return f" {address}/" in out

    def exec_prefix(self, letter: str) -> list[str]:
        return ["ip", "netns", "exec", self.ns(letter)]
