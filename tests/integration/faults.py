"""Fault injection for integration tests: a TCP proxy whose link can be cut and restored,
and a ZeroMQ proxy that drops chosen messages.

Put between the backup's main channel and the active's main port, the TCP proxy lets a
test break one connection while the other lives (the reference's "Redundancy" case). The
message proxy loses one event on both channels while the connections stay up (a high-water
mark reached, a reconnect between two sends), which only the stream's numbers can reveal.
"""
from __future__ import annotations

import re
import select
import socket
import threading
from pathlib import Path
from typing import Any

import orjson
import zmq

from switchover.localpair import LocalPair, free_ports
from switchover.transport.security import curve_client, curve_server, load_keypair


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


class DropOnce:
    """Armed with an eid, drops the next event of that eid on whichever channel sees it
    first, and the copy of the same event (same body) on the other channel."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._eid: str | None = None
        self._body: Any = None
        self.dropped = threading.Event()
        self.copies = 0

    def arm(self, eid: str) -> None:
        with self._lock:
            self._eid, self._body = eid, None
            self.dropped.clear()

    def __call__(self, head: dict[str, Any]) -> bool:
        with self._lock:
            if self._eid is None or head.get("kind") != "event" or head.get("eid") != self._eid:
                return False
            body = head.get("body")
            if self._body is None:
                self._body = body
            if body != self._body:
                return False
            self.copies += 1
            if self.copies == 2:
                self._eid = None  # both channels' copies are gone
            self.dropped.set()
            return True


class MessageProxy:
    """A ZeroMQ proxy with the server-group keys on both sides: a ROUTER the backup's
    channel connects to, and per connection a DEALER to the active's port. Messages from
    the active for which `drop(envelope head)` is true are not passed on."""

    def __init__(self, listen_port: int, target_port: int, keys_dir: Path, drop: DropOnce
                 ) -> None:
        self._keys = load_keypair(keys_dir / "server-group.key_secret")
        self._target = f"tcp://127.0.0.1:{target_port}"
        self._drop = drop
        self._ctx = zmq.Context()
        self._front = self._ctx.socket(zmq.ROUTER)
        self._front.linger = 0
        curve_server(self._front, self._keys, "proxy")
        self._front.bind(f"tcp://127.0.0.1:{listen_port}")
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="message-proxy", daemon=True)
        self._thread.start()

    def close(self) -> None:
        self._stop.set()
        self._thread.join(timeout=2)
        self._ctx.destroy(linger=0)

    def _run(self) -> None:
        poller = zmq.Poller()
        poller.register(self._front, zmq.POLLIN)
        backs: dict[bytes, zmq.Socket] = {}
        owner: dict[zmq.Socket, bytes] = {}
        while not self._stop.is_set():
            for sock, _ in poller.poll(50):
                frames = sock.recv_multipart(copy=True)
                if sock is self._front:
                    ident, rest = frames[0], frames[1:]
                    back = backs.get(ident)
                    if back is None:
                        back = backs[ident] = self._ctx.socket(zmq.DEALER)
                        back.linger = 0
                        curve_client(back, self._keys, self._keys.public)
                        back.connect(self._target)
                        owner[back] = ident
                        poller.register(back, zmq.POLLIN)
                    back.send_multipart(rest)
                elif not self._dropped(frames):
                    self._front.send_multipart([owner[sock], *frames])

    def _dropped(self, frames: list[bytes]) -> bool:
        try:
            head = orjson.loads(frames[0])
        except orjson.JSONDecodeError:
            return False
        return isinstance(head, dict) and self._drop(head)


class PeerDrop:
    """Message proxies between `backup` and `active`'s main and aux ports, as the backup's
    config names them, sharing one `DropOnce` (`drop`). Build it before the backup starts;
    `close` it when done."""

    def __init__(self, pair: LocalPair, backup: str, active: str) -> None:
        self.drop = DropOnce()
        self.proxies: list[MessageProxy] = []
        try:
            for key in ("main_port", "aux_port"):
                port = free_ports(1)[0]
                self.proxies.append(MessageProxy(port, pair.ports[active][key],
                                                 pair.keys_dir, self.drop))
                point_peer_port(pair.config_path(backup), active, key, port)
        except BaseException:
            self.close()
            raise

    def close(self) -> None:
        for proxy in self.proxies:
            proxy.close()
