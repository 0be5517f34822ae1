"""The shipped `vip` hook for real, in the namespaces of tests/netns/conftest.py.

Host A's namespace holds the interface the VIP goes on; the router namespace accepts
gratuitous ARP (arp_accept=1), so the neighbour entry it learns proves the announcement
left the host. Skipped with the reason where namespaces or arping cannot be had.
"""
from __future__ import annotations

import os
import shutil
import socket
import struct
import subprocess
import time
from pathlib import Path

import pytest

from bench.arp_observer import ETH_P_ARP
from bench.netns import PREFIX, VIP, Topology, ip
from switchover.hookconfig import SHIPPED_HOOKS
from switchover.localpair import run_in_netns

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


def announcements(topology: Topology, seconds: float) -> tuple[socket.socket, list]:
    """A packet socket on the router's bridge; `collect(sock, seconds)` reads from it."""
    def open_socket() -> socket.socket:
        sock = socket.socket(socket.AF_PACKET, socket.SOCK_RAW, socket.htons(ETH_P_ARP))
        sock.bind(("br0", ETH_P_ARP))
        return sock
    return run_in_netns(topology.router, open_socket)


def collect(sock: socket.socket, seconds: float) -> list[tuple[float, int, bytes]]:
    """(monotonic time, ARP op, sender MAC) of every ARP frame naming the VIP as sender."""
    seen = []
    deadline = time.monotonic() + seconds
    try:
        while (left := deadline - time.monotonic()) > 0:
            sock.settimeout(left)
            try:
                data = sock.recv(128)
            except socket.timeout:
                break
            if len(data) >= 42 and data[28:32] == socket.inet_aton(VIP):
                seen.append((time.monotonic(), struct.unpack("!H", data[20:22])[0],
                             data[22:28]))
    finally:
        sock.close()
    return seen


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


def test_up_returns_once_the_first_announcements_have_left_and_the_repeats_follow(
        topology: Topology, arping: None) -> None:
    """arping -c 1 exits a second after its packet: the hook does not wait for that, nor
    for the repeats, so a hook after it (or a discontinue soon after) is not held up."""
    sock = announcements(topology, 2.0)
    started = time.monotonic()
    done = vip(topology, "up", CIDR, "vethA", "--count", "3", "--interval", "0.3")
    took = time.monotonic() - started
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == (f"vip: {CIDR} on vethA, announced by 2 gratuitous ARP "
                                   "packets; 2 more to follow 0.3 s apart while it stays")
    assert took < 0.5
    seen = collect(sock, 1.5)
    mac = topology.mac("A")
    assert all(sender == mac for _, _, sender in seen)
    requests = [at for at, op, _ in seen if op == 1]
    assert [op for _, op, _ in seen].count(2) == 1 and len(requests) == 3
    assert requests[0] - started < took + 0.05  # the first one left before the hook returned
    gaps = [b - a for a, b in zip(requests, requests[1:])]
    assert all(0.25 < gap < 0.6 for gap in gaps), gaps


def test_repeats_stop_once_the_address_is_released(topology: Topology, arping: None) -> None:
    """An old active that released the VIP never announces it again (its repeats would
    point the LAN back at a server that no longer answers)."""
    sock = announcements(topology, 2.0)
    assert vip(topology, "up", CIDR, "vethA", "--count", "5", "--interval", "0.3").returncode == 0
    assert vip(topology, "down", CIDR, "vethA").returncode == 0
    released = time.monotonic()
    seen = collect(sock, 1.5)
    assert [at for at, _, _ in seen if at > released + 0.05] == []
    assert len(seen) == 2  # the first request and the reply


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
    (("up", CIDR, "vethA", "--interval", "0"), 2, "is not a number of seconds above 0"),
    (("up", CIDR, "vethA", "--interval", "1s"), 2, "is not a number of seconds above 0"),
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
