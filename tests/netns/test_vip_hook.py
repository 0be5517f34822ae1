"""The shipped `vip` hook for real, in the namespaces of tests/netns/conftest.py.

Host A's namespace holds the interface the VIP goes on; the router namespace accepts
gratuitous ARP (arp_accept=1), so the neighbour entry it learns proves the announcement
left the host. Skipped with the reason where namespaces or arping cannot be had.
"""
from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest

from bench.netns import PREFIX, VIP, Topology, ip
from switchover.hookconfig import SHIPPED_HOOKS

VIP_HOOK = SHIPPED_HOOKS / "vip"
CIDR = f"{VIP}/{PREFIX}"


def vip(topology: Topology, *args: str, env: dict[str, str] | None = None,
        letter: str = "A") -> subprocess.CompletedProcess:
    return subprocess.run(["ip", "netns", "exec", topology.ns(letter), str(VIP_HOOK), *args],
                          capture_output=True, text=True, timeout=30, env=env)


def addresses(topology: Topology, family: str = "-4") -> list[str]:
    out = ip(family, "-o", "addr", "show", "dev", topology.ifname("A"),
             netns=topology.ns("A")).stdout
    return [line.split()[3] for line in out.splitlines()]


def router_neighbour(topology: Topology, address: str) -> str:
    return ip("neigh", "show", address, netns=topology.router).stdout


@pytest.fixture
def arping() -> None:
    if shutil.which("arping") is None:
        pytest.skip("arping (iputils-arping) is not installed")


def test_up_adds_and_announces_the_address_and_is_idempotent(topology: Topology,
                                                             arping: None) -> None:
    ip("netns", "exec", topology.router, "sysctl", "-qw", "net.ipv4.conf.br0.arp_accept=1")
    assert router_neighbour(topology, VIP) == ""
    done = vip(topology, "up", CIDR, topology.ifname("A"), "--count", "1")
    assert done.returncode == 0, done.stderr
    assert addresses(topology).count(CIDR) == 1
    assert done.stdout.strip() == f"vip: {CIDR} on vethA, announced by 2 gratuitous ARP packets"
    mac = topology.mac("A").hex(":")
    assert f"lladdr {mac}" in router_neighbour(topology, VIP)  # learnt from the announcement

    again = vip(topology, "up", CIDR, topology.ifname("A"), "--count", "1")
    assert again.returncode == 0, again.stderr
    assert addresses(topology).count(CIDR) == 1


def test_down_removes_the_address_and_is_idempotent(topology: Topology, arping: None) -> None:
    assert vip(topology, "up", CIDR, "vethA", "--count", "1").returncode == 0
    done = vip(topology, "down", CIDR, "vethA")
    assert (done.returncode, done.stdout.strip()) == (0, f"vip: {CIDR} removed from vethA")
    assert CIDR not in addresses(topology)
    assert topology.address("A") + f"/{PREFIX}" in addresses(topology)  # its own stays
    again = vip(topology, "down", CIDR, "vethA")
    assert again.returncode == 0 and "is not on vethA (nothing to remove)" in again.stdout


def test_ipv6_is_added_and_removed_and_says_how_it_is_announced(topology: Topology) -> None:
    cidr = "fd00:201::100/64"
    done = vip(topology, "up", cidr, "vethA")
    assert done.returncode == 0, done.stderr
    assert cidr in addresses(topology, "-6")
    assert "no unsolicited neighbour advertisement is sent" in done.stdout
    assert vip(topology, "down", cidr, "vethA").returncode == 0
    assert cidr not in addresses(topology, "-6")


@pytest.mark.parametrize("args, code, message", [
    (("up", CIDR, "nope0"), 1, "vip: no interface 'nope0' here"),
    (("up", VIP, "vethA"), 2, f"vip: '{VIP}' needs a prefix length, e.g. 10.0.0.100/24;"),
    (("move", CIDR, "vethA"), 2, "vip: unknown action 'move';"),
    (("up", f"{VIP}/33", "vethA"), 2, "has no valid prefix length (0..32)"),
    (("up", CIDR, "vethA", "--interval", "0.5"), 2, "is not a whole number of seconds"),
    (("up",), 2, "vip: needs an action, an address with its prefix and an interface"),
])
def test_bad_use_exits_non_zero_with_one_line(topology: Topology, args: tuple, code: int,
                                              message: str) -> None:
    done = vip(topology, *args)
    assert done.returncode == code
    assert len(done.stderr.strip().splitlines()) == 1 and message in done.stderr
    assert CIDR not in addresses(topology)


def test_without_arping_the_address_is_up_but_the_hook_fails_saying_why(
        topology: Topology, tmp_path: Path) -> None:
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    for tool in ("bash", "ip", "cat", "grep", "mktemp", "tr", "rm"):
        found = shutil.which(tool)
        assert found, tool
        (bin_dir / tool).symlink_to(found)
    env = {**os.environ, "PATH": str(bin_dir)}
    done = vip(topology, "up", CIDR, "vethA", env=env)
    assert done.returncode == 1
    assert done.stderr.strip() == (f"vip: {CIDR} is on vethA, but arping (iputils-arping) "
                                   "is not installed to announce it")
    assert CIDR in addresses(topology)


def test_without_cap_net_admin_the_message_is_the_kernel_refusal(topology: Topology) -> None:
    if shutil.which("capsh") is None:
        pytest.skip("capsh (libcap2-bin) is not installed to drop CAP_NET_ADMIN")
    done = subprocess.run(
        ["ip", "netns", "exec", topology.ns("A"), "capsh", "--drop=cap_net_admin", "--",
         "-c", f"{VIP_HOOK} up {CIDR} vethA"],
        capture_output=True, text=True, timeout=30)
    assert done.returncode == 1
    assert done.stderr.startswith(f"vip: ip -4 addr replace {CIDR} dev vethA failed: ")
    assert "Operation not permitted" in done.stderr


def test_a_host_that_held_the_vip_when_killed_releases_it_at_start(
        make_netns_pair, topology: Topology, arping: None) -> None:
    """Start clean: B is active with the VIP; A, restarted after a SIGKILL with the VIP
    still on its interface, runs its discontinue hooks before its role is decided, so
    once it is the backup only B holds the address."""
    hooks = {name: {"commence": [["vip", "up", CIDR, topology.ifname(letter), "--count", "1"]],
                    "discontinue": [["vip", "down", CIDR, topology.ifname(letter)]]}
             for name, letter in (("ICServer1", "A"), ("ICServer2", "B"))}
    pair = make_netns_pair(time_scale=0.05, hooks=hooks)
    a, b = pair.names
    pair.start_host(b)
    pair.wait_state(b, "Primary")
    held_by_b = lambda: CIDR in ip("-4", "-o", "addr", "show", "dev", "vethB",  # noqa: E731
                                   netns=topology.ns("B")).stdout
    pair.wait_for(held_by_b, 20, "B's commence hook to take the VIP")
    ip("addr", "add", CIDR, "dev", "vethA", netns=topology.ns("A"))  # left by the killed run
    pair.start_host(a)
    pair.wait_state(a, "Backup")
    assert CIDR not in addresses(topology)
    assert held_by_b()
    runs = [e for e in pair.events(a) if e.get("kind") in ("start-clean", "hook")]
    assert runs[0]["message"].startswith("Switchover Service: start-up: releasing")
    assert runs[1]["argv"][1:] == ["down", CIDR, "vethA"] and runs[1]["exit_code"] == 0
