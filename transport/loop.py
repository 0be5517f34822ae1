"""The I/O thread every transport socket lives in.

ZeroMQ sockets are not thread-safe, so each one is created, used and closed by exactly
one thread: an `IOLoop`. Its shape copies pyzmq's `ThreadAuthenticator`: an inproc PAIR
pipe carries commands from the owner (a start handshake with a timeout, TERMINATE), and
`stop()` joins the thread. Other threads hand work to the loop with `call_soon`, which
queues a callable and wakes the loop through the same pipe (one wake-up per batch).

The loop polls with a timeout taken from the nearest deadline a subclass reports from
`tick()`, so heartbeats and request timeouts run on every turn, not only when traffic
arrives. A handler that raises is logged and the loop carries on: bad input from a peer
must never stop a loop.
"""
from __future__ import annotations

import collections
import logging
import threading
import time
from typing import Callable, Sequence

import zmq

log = logging.getLogger("Transport")

_READY = b"READY"
_WAKE = b"WAKE"
_TERMINATE = b"TERMINATE"

#: Default LINGER for sockets the loops create: pending messages are worthless once a
#: loop stops (the peer's timeouts cover them) and must not hold up context termination.
LINGER_MS = 0
#: How many messages one socket may deliver per turn before the others get a look in.
BATCH = 256

# Plain ints: pyzmq's enum flags cost an enum construction per `|`/`&` on the hot path.
NOBLOCK = int(zmq.NOBLOCK)
SNDMORE_NOBLOCK = int(zmq.SNDMORE) | NOBLOCK
_RCVMORE = int(zmq.RCVMORE)


class LoopError(RuntimeError):
    """A loop failed to start (its setup raised or did not finish in time)."""


class IOLoop:
    """Base class: one thread, a command pipe, sockets registered with their handlers.

    Subclasses implement `setup()` (create sockets, call `register`), optionally
    `tick(now) -> next deadline | None` and `teardown()`; all three run on the loop thread.
    """

    def __init__(self, ctx: zmq.Context, name: str, *, start_timeout: float = 5.0) -> None:
        self.ctx = ctx
        self.name = name
        self._start_timeout = start_timeout
        self._pipe_addr = f"inproc://transport-loop-{name}-{id(self):x}"
        self._pipe: zmq.Socket | None = None
        self._pipe_lock = threading.Lock()
        self._posted: collections.deque[Callable[[], None]] = collections.deque()
        self._wake_pending = False
        self._thread: threading.Thread | None = None
        self._loop_ident: int | None = None
        self._running = False
        self._poller = zmq.Poller()
        self._handlers: dict[zmq.Socket, Callable[[zmq.Socket], None]] = {}
        self._sockets: list[zmq.Socket] = []

    # -- owner side -------------------------------------------------------------------

    @property
    def running(self) -> bool:
        return self._running

    def start(self) -> None:
        """Start the thread and wait until its sockets are bound/connected.

        Raises LoopError when setup fails (e.g. address in use) or takes too long, so
        the caller learns at once instead of through later silence.
        """
        if self._thread is not None:
            raise LoopError(f"{self.name}: already started")
        pipe = self.ctx.socket(zmq.PAIR)
        pipe.linger = LINGER_MS
        pipe.bind(self._pipe_addr)
        self._pipe = pipe
        self._thread = threading.Thread(target=self._main, name=f"loop-{self.name}", daemon=True)
        self._thread.start()
        ok = pipe.poll(int(self._start_timeout * 1000))
        reply = pipe.recv() if ok else b"timed out"
        if reply != _READY:
            if ok:
                self._thread.join(self._start_timeout)
            else:
                pipe.send(_TERMINATE)
                self._thread.join(self._start_timeout)
            pipe.close()
            self._pipe = None
            self._thread = None
            raise LoopError(f"{self.name}: failed to start: {reply.decode(errors='replace')}")
        self._running = True

    def stop(self, timeout: float = 5.0) -> None:
        """Ask the loop to finish, join it, close the pipe. Safe to call twice."""
        thread, pipe = self._thread, self._pipe
        if thread is None or pipe is None:
            return
        with self._pipe_lock:
            self._running = False
            pipe.send(_TERMINATE)
        thread.join(timeout)
        if thread.is_alive():
            log.error("%s: loop thread did not stop within %.1fs", self.name, timeout)
        pipe.close()
        self._pipe = None
        self._thread = None

    def call_soon(self, fn: Callable[[], None]) -> bool:
        """Run `fn` on the loop thread; callable from any thread. False if not running."""
        if not self._running:
            return False
        self._posted.append(fn)
        if threading.get_ident() == self._loop_ident:
            return True  # drained at the end of this turn
        if not self._wake_pending:
            with self._pipe_lock:
                if not self._running or self._pipe is None:
                    return False
                if not self._wake_pending:
                    self._wake_pending = True
                    self._pipe.send(_WAKE)
        return True

    def in_loop(self) -> bool:
        return threading.get_ident() == self._loop_ident

    def call_and_wait(self, fn: Callable[[], None], what: str, timeout: float = 5.0) -> None:
        """Run `fn` on the loop thread when it runs (else here) and wait for it, so state
        the loop owns changes on that thread alone; `fn`'s exception is raised here."""
        if not self.running or self.in_loop():
            fn()
            return
        done = threading.Event()
        errors: list[BaseException] = []

        def run() -> None:
            try:
                fn()
            except BaseException as exc:
                errors.append(exc)
            finally:
                done.set()

        if not self.call_soon(run) or not done.wait(timeout):
            raise RuntimeError(f"{self.name}: could not {what}")
        if errors:
            raise errors[0]

    # -- loop side ----------------------------------------------------------------------

    def setup(self) -> None:
        """Create sockets (on the loop thread) and `register` them."""

    def tick(self, now: float) -> float | None:
        """Periodic work; return the next absolute deadline (monotonic) or None."""
        return None

    def teardown(self) -> None:
        """Last words on the loop thread before its sockets are closed."""

    def register(self, sock: zmq.Socket, handler: Callable[[zmq.Socket], None]) -> None:
        self._poller.register(sock, zmq.POLLIN)
        self._handlers[sock] = handler
        if sock not in self._sockets:
            self._sockets.append(sock)

    def socket(self, kind: int) -> zmq.Socket:
        """A socket owned by this loop (closed by it at the end) with LINGER set."""
        sock = self.ctx.socket(kind)
        sock.linger = LINGER_MS
        self._sockets.append(sock)
        return sock

    def close_socket(self, sock: zmq.Socket) -> None:
        if sock in self._handlers:
            self._poller.unregister(sock)
            del self._handlers[sock]
        if sock in self._sockets:
            self._sockets.remove(sock)
        sock.close(0)

    def _main(self) -> None:
        self._loop_ident = threading.get_ident()
        pipe = self.ctx.socket(zmq.PAIR)
        pipe.linger = LINGER_MS
        pipe.connect(self._pipe_addr)
        try:
            try:
                self.setup()
            except Exception as exc:  # reported to start(), which raises
                log.debug("%s: setup failed", self.name, exc_info=True)
                pipe.send(f"{type(exc).__name__}: {exc}".encode())
                return
            self._poller.register(pipe, zmq.POLLIN)
            pipe.send(_READY)
            self._run(pipe)
        finally:
            try:
                self.teardown()
            except Exception:
                log.exception("%s: teardown failed", self.name)
            for sock in list(self._sockets):
                sock.close(0)
            self._sockets.clear()
            self._handlers.clear()
            pipe.close(0)

    def _run(self, pipe: zmq.Socket) -> None:
        poller = self._poller
        handlers = self._handlers
        posted = self._posted
        monotonic = time.monotonic
        while True:
            now = monotonic()
            try:
                deadline = self.tick(now)
            except Exception:
                log.exception("%s: tick failed", self.name)
                deadline = now + 0.1
            if posted:
                timeout = 0
            elif deadline is None:
                timeout = 1000
            else:
                timeout = max(0, min(1000, int((deadline - monotonic()) * 1000 + 0.999)))
            for sock, _ in poller.poll(timeout):
                if sock is pipe:
                    while True:
                        try:
                            cmd = pipe.recv(NOBLOCK)
                        except zmq.Again:
                            break
                        if cmd == _TERMINATE:
                            self._drain_posted()
                            return
                    self._wake_pending = False
                    continue
                handler = handlers.get(sock)
                if handler is None:
                    continue
                try:
                    handler(sock)
                except Exception:
                    log.exception("%s: socket handler failed", self.name)
            self._drain_posted()

    def _drain_posted(self) -> None:
        posted = self._posted
        while posted:
            fn = posted.popleft()
            try:
                fn()
            except Exception:
                log.exception("%s: posted call failed", self.name)


def drain(sock: zmq.Socket, handle: Callable[[list[bytes]], None], name: str) -> None:
    """Receive every ready message (up to BATCH) without blocking, each handled in isolation.

    The poller said the socket is readable, so the first receive almost always succeeds;
    the batch ends at the first empty receive. A successful non-blocking receive costs no
    system call, so one failed receive per wake-up is cheaper than asking EVENTS (a system
    call each time) after every message once several arrive together.
    """
    recv = sock.recv
    more = sock.getsockopt
    for _ in range(BATCH):
        try:
            frames = [recv(NOBLOCK)]
        except zmq.Again:
            return
        while more(_RCVMORE):
            frames.append(recv(NOBLOCK))
        try:
            handle(frames)
        except Exception:
            log.exception("%s: message handler failed", name)


def send_frames(sock: zmq.Socket, frames: Sequence[bytes]) -> None:
    """`send_multipart(frames, NOBLOCK)` without its per-call type checks and enum flags.

    Raises zmq.ZMQError (zmq.Again when the peer's queue is full) like send_multipart: a
    multipart message is accepted or refused as a whole at its first frame.

    Frames are handed to ZeroMQ without a copy (pyzmq still copies those under its
    `copy_threshold`, 64 KiB): a bulk frame of several MiB (a chunk of a store copy, of a
    file) is not copied once more on the loop thread. The frames must not change after
    this call (they are immutable bytes, or views of data that is no longer written).
    """
    send = sock.send
    last = len(frames) - 1
    for i in range(last):
        send(frames[i], SNDMORE_NOBLOCK, copy=False)
    send(frames[last], NOBLOCK, copy=False)
