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

`start_http_server` runs a small web service in a host's namespace (answering its
server's name on every address, so on the VIP too) and `HttpClient` requests
`http://VIP/` from the router namespace every 10 ms, recording who answered each
request and when: what a client on the LAN sees during a switch.

The test process reaches a host's admin socket by joining that host's namespace on a
short-lived thread (`switchover.localpair.run_in_netns`), so admin calls work even while
the host's link is down (its own address stays local). Commands inside a namespace run
as `ip netns exec NS ...`. `destroy()` deletes every namespace it made; the processes
started in them must be stopped first (by PID, by whoever started them).
"""
from __future__ import annotations

import errno
import ipaddress
import itertools
import os
import shutil
import socket
import struct
import subprocess
import sys
import threading
import time
from dataclasses import dataclass, field
from typing import Any, Sequence

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


# --- an ARP observer on the LAN --------------------------------------------------------

ETH_P_ARP = 0x0806


#: The observer's own hardware address (locally administered, on no interface).
OBSERVER_MAC = bytes.fromhex("020000c90001")


class ArpObserver:
    """Asks "who has VIP?" on the router's bridge every `interval` seconds and notes when
    a given MAC first answers: the moment the new active answers for the address.

    Runs on its own thread; its packet socket is opened inside the router namespace. It
    asks as an ARP probe (sender address 0.0.0.0, RFC 5227) from a MAC of its own, so the
    answers go to that MAC, which the router's kernel ignores (seen through the bridge in
    promiscuous mode): the router's own neighbour entry for the VIP, which a client on the
    LAN uses, is moved only by what the servers announce, as on a LAN without observer.
    """

    def __init__(self, topology: Topology, address: str = VIP, interval: float = 0.005) -> None:
        self.topology = topology
        self.address = socket.inet_aton(address)
        self.interval = interval
        self._want: bytes | None = None
        self._since = 0.0
        self._answered: float | None = None
        self._stop = threading.Event()
        self._lock = threading.Lock()
        self._sock: socket.socket | None = None
        self._thread: threading.Thread | None = None

    def start(self) -> "ArpObserver":
        from switchover.localpair import run_in_netns

        def open_socket() -> tuple[socket.socket, bytes]:
            sock = socket.socket(socket.AF_PACKET, socket.SOCK_RAW, socket.htons(ETH_P_ARP))
            sock.bind(("br0", ETH_P_ARP))
            sock.settimeout(self.interval)
            return sock, sock.getsockname()[4]

        ip("link", "set", "br0", "promisc", "on", netns=self.topology.router)
        self._sock, _ = run_in_netns(self.topology.router, open_socket)
        self._mac = OBSERVER_MAC
        self._thread = threading.Thread(target=self._run, name="arp-observer", daemon=True)
        self._thread.start()
        return self

    def watch(self, mac: bytes, since: float) -> None:
        """From now on, note the first answer from `mac` (after monotonic time `since`)."""
        with self._lock:
            self._want, self._since, self._answered = mac, since, None

    def answered(self) -> float | None:
        with self._lock:
            return self._answered

    def wait(self, timeout: float) -> float | None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            at = self.answered()
            if at is not None:
                return at
            time.sleep(0.005)
        return None

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(5)
        if self._sock is not None:
            self._sock.close()

    def _request(self) -> bytes:
        arp = struct.pack("!HHBBH6s4s6s4s", 1, 0x0800, 6, 4, 1, self._mac, b"\x00" * 4,
                          b"\x00" * 6, self.address)
        return b"\xff" * 6 + self._mac + struct.pack("!H", ETH_P_ARP) + arp

    def _run(self) -> None:
        assert self._sock is not None
        frame = self._request()
        next_send = 0.0
        while not self._stop.is_set():
            now = time.monotonic()
            if now >= next_send:
                try:
                    self._sock.send(frame)
                except OSError:
                    pass
                next_send = now + self.interval
            try:
                data = self._sock.recv(128)
            except (socket.timeout, OSError):
                continue
            at = time.monotonic()
            if len(data) < 42 or data[12:14] != b"\x08\x06":
                continue
            op = struct.unpack("!H", data[20:22])[0]
            sender_mac, sender_ip = data[22:28], data[28:32]
            if op != 2 or sender_ip != self.address:
                continue
            with self._lock:
                if (self._want is not None and sender_mac == self._want
                        and self._answered is None and at >= self._since):
                    self._answered = at


# --- a web service on each host and a client on the LAN ----------------------------------

HTTP_PORT = 80

#: The service each host runs (`python -c SERVER NAME PORT`): answers every GET with its
#: server's name, on every address (0.0.0.0), so it answers on the VIP wherever it is.
HTTP_SERVER = """\
import http.server, sys
name, port = sys.argv[1].encode(), int(sys.argv[2])
class Handler(http.server.BaseHTTPRequestHandler):
    def do_GET(self):
        self.send_response(200)
        self.send_header("Content-Length", str(len(name)))
        self.end_headers()
        self.wfile.write(name)
    def log_message(self, *args):
        pass
http.server.ThreadingHTTPServer.allow_reuse_address = True
http.server.ThreadingHTTPServer(("0.0.0.0", port), Handler).serve_forever()
"""


def start_http_server(topology: Topology, letter: str, name: str,
                      port: int = HTTP_PORT) -> subprocess.Popen:
    """The web service in host `letter`'s namespace, answering `name`; stop it by PID
    (`stop_http_server`). Returns once it accepts connections on the host's address."""
    proc = subprocess.Popen([*topology.exec_prefix(letter), sys.executable, "-c", HTTP_SERVER,
                             name, str(port)], stdin=subprocess.DEVNULL,
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    from switchover.localpair import run_in_netns

    def accepts() -> bool:
        try:
            socket.create_connection((topology.address(letter), port), timeout=0.5).close()
            return True
        except OSError:
            return False

    deadline = time.monotonic() + 10
    while not run_in_netns(topology.router, accepts):
        if proc.poll() is not None or time.monotonic() > deadline:
            if proc.poll() is None:
                proc.kill()
            why = proc.communicate(timeout=5)[1].decode(errors="replace").strip()
            stop_http_server(proc)
            raise NetnsError(f"the web service on {letter} did not start: {why or 'no answer'}")
        time.sleep(0.05)
    return proc


def stop_http_server(proc: subprocess.Popen) -> None:
    if proc.poll() is None:
        proc.terminate()
        try:
            proc.wait(5)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(5)
    if proc.stderr is not None:
        proc.stderr.close()


@dataclass
class Answer:
    """One request of the client: when it went, when it ended, and who answered it."""

    sent: float                   # monotonic
    ended: float | None = None    # monotonic; None while in flight
    server: str | None = None     # the body of a 200
    #: "ok", "status NNN", "timeout", "refused", "error: ...", "unfinished" (in flight
    #: when the client stopped)
    outcome: str = "pending"


class HttpClient:
    """From the router namespace, starts `GET http://VIP/` every `interval` seconds (a new
    connection each, not waiting for the previous one; each with `timeout`) and records
    every request: when it was sent, when it was answered and by which server.

    One thread, non-blocking sockets (selectors), so a slow answer never delays the next
    request. Times are `time.monotonic()`, comparable with the caller's.
    """

    def __init__(self, topology: Topology, address: str = VIP, port: int = HTTP_PORT,
                 interval: float = 0.01, timeout: float = 1.0,
                 limit: float = 300.0) -> None:
        self.topology, self.address, self.port = topology, address, port
        self.interval, self.timeout, self.limit = interval, timeout, limit
        self._answers: list[Answer] = []
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._ready = threading.Event()
        self._error: BaseException | None = None
        self._request = (f"GET / HTTP/1.0\r\nHost: {address}\r\n\r\n").encode()

    def start(self) -> "HttpClient":
        self._thread = threading.Thread(target=self._main, name="http-client", daemon=True)
        self._thread.start()
        self._ready.wait(10)
        if self._error is not None:
            raise self._error
        return self

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(self.timeout + 5)

    def answers(self) -> list[Answer]:
        with self._lock:
            return [Answer(a.sent, a.ended, a.server, a.outcome) for a in self._answers]

    def first_answer(self, server: str, since: float) -> float | None:
        """When the first 200 from `server` arrived for a request sent at or after `since`
        (monotonic), or None."""
        times = [a.ended for a in self.answers()
                 if a.server == server and a.sent >= since and a.ended is not None]
        return min(times) if times else None

    def wait_answer(self, server: str, since: float, timeout: float) -> float | None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            at = self.first_answer(server, since)
            if at is not None:
                return at
            time.sleep(0.01)
        return None

    # --- the loop
    def _main(self) -> None:
        from switchover.localpair import enter_netns

        try:
            enter_netns(self.topology.router)
        except BaseException as exc:
            self._error = exc
            self._ready.set()
            return
        self._ready.set()
        import selectors

        sel = selectors.DefaultSelector()
        live: dict[socket.socket, tuple[Answer, bytearray]] = {}
        end = time.monotonic() + self.limit  # stops by itself
        next_send = time.monotonic()
        try:
            while not self._stop.is_set() and time.monotonic() < end:
                now = time.monotonic()
                if now >= next_send:
                    self._open(sel, live, now)
                    next_send += self.interval
                    if next_send < now:  # fell behind (a stalled thread): no burst
                        next_send = now + self.interval
                wait = max(0.0, next_send - time.monotonic())
                for key, events in sel.select(wait):
                    self._io(sel, live, key.fileobj, events)
                now = time.monotonic()
                for sock, (answer, _) in list(live.items()):
                    if now - answer.sent > self.timeout:
                        self._finish(sel, live, sock, "timeout")
        finally:
            for sock in list(live):  # still in flight when the client stopped
                self._finish(sel, live, sock, "unfinished")
            sel.close()

    def _open(self, sel: Any, live: dict, now: float) -> None:
        import selectors

        answer = Answer(sent=now)
        with self._lock:
            self._answers.append(answer)
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        sock.setblocking(False)
        code = sock.connect_ex((self.address, self.port))
        if code not in (0, errno.EINPROGRESS):
            sock.close()
            with self._lock:
                answer.ended, answer.outcome = time.monotonic(), f"error: {os.strerror(code)}"
            return
        live[sock] = (answer, bytearray())
        sel.register(sock, selectors.EVENT_WRITE)

    def _io(self, sel: Any, live: dict, sock: Any, events: int) -> None:
        import selectors

        answer, buf = live[sock]
        if events & selectors.EVENT_WRITE:
            code = sock.getsockopt(socket.SOL_SOCKET, socket.SO_ERROR)
            if code:
                self._finish(sel, live, sock, "refused" if code == errno.ECONNREFUSED
                             else f"error: {os.strerror(code)}")
                return
            try:
                sock.send(self._request)
            except OSError as exc:
                self._finish(sel, live, sock, f"error: {exc.strerror}")
                return
            sel.modify(sock, selectors.EVENT_READ)
            return
        try:
            data = sock.recv(4096)
        except OSError as exc:
            self._finish(sel, live, sock, f"error: {exc.strerror}")
            return
        if data:
            buf += data
            return
        head, _, body = bytes(buf).partition(b"\r\n\r\n")
        words = head.split(b" ", 2)
        status = words[1].decode(errors="replace") if len(words) > 1 else "?"
        if status == "200":
            self._finish(sel, live, sock, "ok", body.decode(errors="replace"))
        else:
            self._finish(sel, live, sock, f"status {status}")

    def _finish(self, sel: Any, live: dict, sock: Any, outcome: str,
                server: str | None = None) -> None:
        answer, _ = live.pop(sock)
        try:
            sel.unregister(sock)
        except (KeyError, ValueError):
            pass
        sock.close()
        with self._lock:
            answer.ended, answer.outcome, answer.server = time.monotonic(), outcome, server


def slots_answered_by_both(answers: Sequence[Answer], origin: float,
                           slot: float = 0.01) -> list[tuple[float, set[str]]]:
    """The `slot`-long windows (from `origin`, by the time the answer arrived) in which
    more than one server answered: [(window start, servers)]. A VIP held by one server at
    a time gives none."""
    by_slot: dict[int, set[str]] = {}
    for a in answers:
        if a.server is not None and a.ended is not None:
            by_slot.setdefault(int((a.ended - origin) // slot), set()).add(a.server)
    return [(origin + n * slot, servers) for n, servers in sorted(by_slot.items())
            if len(servers) > 1]
