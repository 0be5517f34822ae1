"""A web service on each host of the pair's LAN and a client on the router, for the VIP.

`start_http_server` runs a small web service in a host's namespace (answering its
server's name on every address, so on the VIP too) and `HttpClient` requests
`http://VIP/` from the router namespace every 10 ms, recording who answered each
request and when: what a client on the LAN sees during a switch. The topology is
`bench/netns.py`'s.
"""
from __future__ import annotations

import errno
import socket
import subprocess
import sys
import threading
import time
from dataclasses import dataclass
from typing import Any, Sequence

from bench.netns import VIP, NetnsError, Topology

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
