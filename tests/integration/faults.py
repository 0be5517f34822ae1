"""Fault injection for integration tests: a TCP proxy whose link can be cut and restored.

Put between the backup's main channel and the active's main port, it lets a test break
one connection while the other lives (the reference's "Redundancy" case).
"""
from __future__ import annotations

import re
import select
import socket
import threading
from pathlib import Path

from switchover.localpair import LocalPair, free_ports


class CuttableProxy:
    def __init__(self, listen_port: int, target_port: int, host: str = "127.0.0.1") -> None:
        self.target = (host, target_port)
        self._server = socket.create_server((host, listen_port), reuse_port=False)
        self._server.settimeout(0.1)
        self._cut = threading.Event()
        self._stop = threading.Event()
        self._lock = threading.Lock()
        self._conns: list[socket.socket] = []
        self._thread = threading.Thread(target=self._accept, name="proxy", daemon=True)
        self._thread.start()

    def cut(self) -> None:
        """Drop every connection and refuse new ones, like a dead link."""
        self._cut.set()
        self._close_all()

    def restore(self) -> None:
        self._cut.clear()

    def close(self) -> None:
        self._stop.set()
        self._close_all()
        self._thread.join(timeout=2)
        self._server.close()

    def _close_all(self) -> None:
        with self._lock:
            conns, self._conns = self._conns, []
        for conn in conns:
            try:
                conn.close()
            except OSError:
                pass

    def _accept(self) -> None:
        while not self._stop.is_set():
            try:
                client, _ = self._server.accept()
            except (socket.timeout, OSError):
                continue
            if self._cut.is_set():
                client.close()
                continue
            try:
                upstream = socket.create_connection(self.target, timeout=1)
            except OSError:
                client.close()
                continue
            with self._lock:
                self._conns += [client, upstream]
            threading.Thread(target=self._pump, args=(client, upstream), daemon=True).start()

    def _pump(self, a: socket.socket, b: socket.socket) -> None:
        peers = {a: b, b: a}
        try:
            while not self._stop.is_set() and not self._cut.is_set():
                ready, _, _ = select.select([a, b], [], [], 0.1)
                for sock in ready:
                    data = sock.recv(65536)
                    if not data:
                        return
                    peers[sock].sendall(data)
        except (OSError, ValueError):
            return
        finally:
            for sock in (a, b):
                try:
                    sock.close()
                except OSError:
                    pass


def point_peer_port(config: Path, peer: str, key: str, port: int) -> None:
    """Rewrite one port of the peer's entry in a host's config (that host's view only)."""
    text = config.read_text()
    section = re.search(rf"\[servers\.{re.escape(peer)}\]\n(.*?)(?=\n\[|\Z)", text, re.S)
    assert section is not None, f"no [servers.{peer}] in {config}"
    body = re.sub(rf"^{key} = \d+$", f"{key} = {port}", section.group(1), flags=re.M)
    config.write_text(text[:section.start(1)] + body + text[section.end(1):])


class PeerCut:
    """Proxies between `backup` and `active`'s main and aux ports, as the backup's config
    names them: `cut` drops both connections at once, `restore` lets them reconnect.
    Build it before the backup starts; `close` it when done."""

    def __init__(self, pair: LocalPair, backup: str, active: str) -> None:
        self.proxies: list[CuttableProxy] = []
        try:
            for key in ("main_port", "aux_port"):
                port = free_ports(1)[0]
                self.proxies.append(CuttableProxy(port, pair.ports[active][key]))
                point_peer_port(pair.config_path(backup), active, key, port)
        except BaseException:
            self.close()
            raise

    def cut(self) -> None:
        for proxy in self.proxies:
            proxy.cut()

    def restore(self) -> None:
        for proxy in self.proxies:
            proxy.restore()

    def close(self) -> None:
        for proxy in self.proxies:
            proxy.close()
