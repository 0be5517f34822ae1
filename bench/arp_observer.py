"""An ARP observer on the pair's LAN: when the new active first answers for the VIP.

A switch is over for a client on the LAN once the new active answers "who has VIP?";
the observer asks from the router's bridge and notes the first answer from a given MAC,
without moving the router's own neighbour entry (see `ArpObserver`). Used by
`bench/failover.py` and `bench/keepalived.py`, on the topology of `bench/netns.py`.
"""
from __future__ import annotations

import socket
import struct
import threading
import time

from bench.netns import VIP, Topology, ip

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
