"""Network diagnosis of the backup ("Detecting Network Connection Status of the Backup
and Primary").

- :func:`local_gateways` reads the OS routing table (``/proc/net/route``); the parser
  :func:`parse_routes` is pure. Empty (0.0.0.0) and loopback gateways are left out.
- :class:`Prober` is one ICMP echo; :class:`IcmpProber` sends it with icmplib (tests
  answer from a set of reachable addresses instead, ``tests/unit/doubles.py``).
- :func:`diagnose` is the reference's procedure as a generator: it yields
  :class:`Probe` (send one echo, send back True/False) and :class:`Wait` (let this many
  reference seconds pass) and returns a :class:`Diagnosis`. It does no I/O itself, so
  the primary monitor can run it step by step (echoes on a worker thread, waits on the
  clock) and a test can run it with a scripted prober; :func:`run_diagnosis` runs it
  blocking.

The order (the reference's "steps are taken in the following order", and its sample
log): local gateways when "Switchover Disable Gateway Ping" is No/0 -> the NetTest
address of this server (Switchover NetTest A when A is the backup, B when B is) ->
ICMP to the primary's server in ping sets. A step that finds this server cut off
(GatewayUnreachable, NetTestUnreachable) ends the diagnosis: "Once any step is taken,
detection of the backup's network connection status is halted".
"""
from __future__ import annotations

import logging
import socket
import struct
import time
from dataclasses import dataclass
from enum import Enum
from typing import Any, Callable, Generator, Protocol

log = logging.getLogger("PrimaryMonitor")

#: Echoes in one ping set to the primary ("one or more pings sent during a single attempt").
PING_SET_SIZE = 3
#: Wait for one echo to a gateway or to the primary (reference seconds).
ICMP_TIMEOUT = 1.0


class NetworkStatus(str, Enum):
    GATEWAY_REACHED = "GatewayReached"
    GATEWAY_UNREACHABLE = "GatewayUnreachable"
    NETTEST_REACHED = "NetTestReached"
    NETTEST_UNREACHABLE = "NetTestUnreachable"
    NETTEST_UNAVAILABLE = "NetTestUnavailable"
    PRIMARY_REACHED = "PrimaryReached"
    PRIMARY_UNREACHABLE = "PrimaryUnreachable"

    @property
    def words(self) -> str:
        """As the reference's signal line writes it: 'PrimaryReached' -> 'primary reached'."""
        out = []
        for word in ("Gateway", "NetTest", "Primary", "Reached", "Unreachable", "Unavailable"):
            if word in self.value:
                out.append((self.value.index(word), word.lower()))
        return " ".join(w for _, w in sorted(out))


#: This server itself is cut off from the network.
LOCAL_DOWN = frozenset({NetworkStatus.GATEWAY_UNREACHABLE, NetworkStatus.NETTEST_UNREACHABLE})


# --- gateways -----------------------------------------------------------------------


def parse_routes(text: str) -> tuple[str, ...]:
    """Gateway addresses in a ``/proc/net/route`` table, in order, without duplicates."""
    gateways: list[str] = []
    for line in text.splitlines()[1:]:
        fields = line.split()
        if len(fields) < 3:
            continue
        try:
            raw = int(fields[2], 16)
        except ValueError:
            continue
        address = socket.inet_ntoa(struct.pack("<L", raw))
        if raw == 0 or address.startswith("127.") or address in gateways:
            continue
        gateways.append(address)
    return tuple(gateways)


def local_gateways(path: str = "/proc/net/route") -> tuple[str, ...]:
    """This host's gateways; none when the table cannot be read."""
    try:
        with open(path, encoding="ascii") as f:
            return parse_routes(f.read())
    except OSError as exc:
        log.warning("Could not read the routing table %s: %s", path, exc)
        return ()


# --- probers ------------------------------------------------------------------------


class Prober(Protocol):
    def ping(self, address: str, timeout: float) -> bool:
        """Send one ICMP echo; True when a reply came within `timeout` seconds."""


class IcmpProber:
    """ICMP echo through icmplib (raw sockets when privileged, else datagram sockets).

    icmplib does the ICMP packet building and reply matching that a hand-written raw
    socket would otherwise need. `privileged=None` tries a raw socket first and falls
    back to unprivileged datagram ICMP (Linux ``net.ipv4.ping_group_range``). A name
    that does not resolve counts as unreachable. Blocks for up to `timeout` wall
    seconds: call it off any actor's message handler.
    """

    def __init__(
        self,
        privileged: bool | None = None,
        time_scale: float = 1.0,
        ping_fn: Callable[..., Any] | None = None,
    ) -> None:
        self._privileged = privileged
        self._time_scale = time_scale
        self._ping_fn = ping_fn

    def ping(self, address: str, timeout: float) -> bool:
        import icmplib

        ping_fn = self._ping_fn or icmplib.ping
        wall = max(0.05, timeout * self._time_scale)
        modes = [self._privileged] if self._privileged is not None else [True, False]
        for privileged in modes:
            try:
                host = ping_fn(address, count=1, timeout=wall, privileged=privileged)
            except icmplib.SocketPermissionError:
                continue
            except icmplib.NameLookupError:
                log.warning("Could not resolve [%s]: treating it as unreachable", address)
                return False
            except (icmplib.ICMPLibError, OSError) as exc:
                log.warning("ICMP echo to [%s] failed: %s", address, exc)
                return False
            if self._privileged is None:
                self._privileged = privileged  # remember what works
            return bool(host.is_alive)
        log.error("No permission to send ICMP echoes (raw or datagram sockets)")
        return False


# --- the diagnosis ------------------------------------------------------------------


def ping_sets_for(count: int) -> int:
    """Ping sets per "Switchover Unreachable Primary Ping Count": 0..3 -> 3, n > 3 -> n.

    -1 (never switch because the primary is unreachable) -> 1 set: the status is still
    determined, the state machine is told not to switch on it.
    """
    if count < 0:
        return 1
    return max(3, count)


@dataclass(frozen=True)
class NetworkPlan:
    """What the diagnosis pings, from the parameters (reference seconds)."""

    gateway_ping: bool = False  # "Switchover Disable Gateway Ping" is No/0
    gateways: tuple[str, ...] = ()
    nettest: tuple[str, ...] = ()  # NetTest A on A, NetTest B on B
    nettest_timeout: float = 1.0  # "Switchover NetTest Timeout"
    primary_address: str = ""
    ping_sets: int = 3  # ping_sets_for("Switchover Unreachable Primary Ping Count")
    set_delay: float = 10.0  # "Switchover Unreachable Primary Ping Delay"
    set_size: int = PING_SET_SIZE
    icmp_timeout: float = ICMP_TIMEOUT


@dataclass(frozen=True)
class Probe:
    address: str
    timeout: float
    purpose: str  # "gateway" | "nettest" | "primary"


@dataclass(frozen=True)
class Wait:
    seconds: float


@dataclass(frozen=True)
class Diagnosis:
    status: NetworkStatus
    logs: tuple[str, ...]

    @property
    def local_down(self) -> bool:
        """This server is cut off (gateway or NetTest unreachable)."""
        return self.status in LOCAL_DOWN

    @property
    def network_ok(self) -> bool:
        return self.status is NetworkStatus.PRIMARY_REACHED


def _setting(status: NetworkStatus) -> str:
    return f"setting network connection status to '{status.value}'"


Step = Generator["Probe | Wait", "bool | None", Diagnosis]


def diagnose(plan: NetworkPlan) -> Step:
    """The reference's network checks, one echo or wait at a time (see module doc)."""
    logs: list[str] = []
    # 1. local gateways
    if plan.gateway_ping:
        if not plan.gateways:
            logs.append("No local gateway addresses to ping, not checking local gateways")
        else:
            reached = None
            for address in plan.gateways:
                if (yield Probe(address, plan.icmp_timeout, "gateway")):
                    reached = address
                    break
            if reached is None:
                st = NetworkStatus.GATEWAY_UNREACHABLE
                logs.append(
                    f"Failed to ping local gateway address(es) [{', '.join(plan.gateways)}], "
                    f"{_setting(st)}"
                )
                return Diagnosis(st, tuple(logs))
            logs.append(
                f"Successfully pinged local gateway address [{reached}], "
                f"{_setting(NetworkStatus.GATEWAY_REACHED)}"
            )
    # 2. NetTest
    if not plan.nettest:
        logs.append(f"No NetTest addresses to ping, {_setting(NetworkStatus.NETTEST_UNAVAILABLE)}")
    else:
        reached = None
        for address in plan.nettest:
            if (yield Probe(address, plan.nettest_timeout, "nettest")):
                reached = address
                break
        if reached is None:
            st = NetworkStatus.NETTEST_UNREACHABLE
            logs.append(
                f"Failed to ping NetTest address(es) [{', '.join(plan.nettest)}], {_setting(st)}"
            )
            return Diagnosis(st, tuple(logs))
        logs.append(
            f"Successfully pinged NetTest address [{reached}], "
            f"{_setting(NetworkStatus.NETTEST_REACHED)}"
        )
    # 3. the primary's server, in ping sets
    unreachable = NetworkStatus.PRIMARY_UNREACHABLE
    if not plan.primary_address:
        logs.append(f"Could not get the primary's address, {_setting(unreachable)}")
        return Diagnosis(unreachable, tuple(logs))
    sets = max(1, plan.ping_sets)
    for n in range(sets):
        if n:
            yield Wait(plan.set_delay)
        for _ in range(max(1, plan.set_size)):
            if (yield Probe(plan.primary_address, plan.icmp_timeout, "primary")):
                logs.append(
                    f"Successfully pinged primary address [{plan.primary_address}], "
                    f"{_setting(NetworkStatus.PRIMARY_REACHED)}"
                )
                return Diagnosis(NetworkStatus.PRIMARY_REACHED, tuple(logs))
    logs.append(
        f"Failed to ping primary address [{plan.primary_address}] in {sets} ping set(s), "
        f"{_setting(unreachable)}"
    )
    return Diagnosis(unreachable, tuple(logs))


def run_diagnosis(
    plan: NetworkPlan, prober: Prober, sleep: Callable[[float], None] = time.sleep
) -> Diagnosis:
    """Run :func:`diagnose` to the end, blocking (probes and waits on this thread)."""
    gen = diagnose(plan)
    answer: bool | None = None
    try:
        while True:
            item = gen.send(answer)
            if isinstance(item, Probe):
                answer = prober.ping(item.address, item.timeout)
            else:
                sleep(item.seconds)
                answer = None
    except StopIteration as stop:
        return stop.value
