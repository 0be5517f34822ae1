"""`switchover status --watch` in a pseudo-terminal: both servers on screen, the roles
swap after a switch, a stopped host keeps its last values, Ctrl-C ends it with 0."""
from __future__ import annotations

import fcntl
import os
import pty
import re
import select
import signal
import struct
import sys
import termios
import time

import pytest

pytestmark = pytest.mark.integration

ANSI = re.compile(rb"\x1b\[[0-9;?]*[A-Za-z]|\x1b\][^\x07]*\x07")


class Terminal:
    """A child process on a pseudo-terminal of 220 columns; the screen text it drew."""

    def __init__(self, argv: list[str]) -> None:
        pid, fd = pty.fork()
        if pid == 0:  # the child: its controlling terminal is the pty
            os.environ.update(TERM="xterm-256color", COLUMNS="220", LINES="40")
            os.environ.pop("NO_COLOR", None)
            os.execv(argv[0], argv)
        fcntl.ioctl(fd, termios.TIOCSWINSZ, struct.pack("HHHH", 40, 220, 0, 0))
        self.pid, self.fd, self.data = pid, fd, b""

    def text(self) -> str:
        return ANSI.sub(b"", self.data).decode(errors="replace").replace("\r", "")

    def read_until(self, pattern: str, timeout: float = 20.0) -> str:
        """The frame (from its title line on) in which `pattern` last appears."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            text = self.text()
            found = list(re.finditer(pattern, text))
            if found:
                return text[text.rfind("switchover status via", 0, found[-1].start()):]
            ready, _, _ = select.select([self.fd], [], [], 0.2)
            if ready:
                try:
                    self.data += os.read(self.fd, 65536)
                except OSError:
                    break
        raise AssertionError(f"{pattern!r} not on screen; last:\n{self.text()[-3000:]}")

    def ctrl_c(self, timeout: float = 10.0) -> int:
        os.write(self.fd, b"\x03")
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            pid, status = os.waitpid(self.pid, os.WNOHANG)
            if pid:
                return os.waitstatus_to_exitcode(status)
            time.sleep(0.05)
        os.kill(self.pid, signal.SIGKILL)
        os.waitpid(self.pid, 0)
        raise AssertionError("the live view did not end on Ctrl-C")

    def close(self) -> None:
        try:
            os.kill(self.pid, signal.SIGKILL)
            os.waitpid(self.pid, 0)
        except (ProcessLookupError, ChildProcessError):
            pass
        os.close(self.fd)


def test_watch_before_and_after_a_switch_and_with_a_host_down(short_tmp) -> None:
    from switchover.localpair import LocalPair

    pair = LocalPair(short_tmp / "pair", time_scale=0.05, admin_keys=short_tmp / "admins")
    pair.admin_keys.mkdir()
    from switchover.transport.security import generate_keypair

    _, key = generate_keypair(pair.admin_keys, "watcher", {"rights": "status"})
    screen = None
    try:
        a, b = pair.start_active(), pair.start_backup()
        screen = Terminal([sys.executable, "-m", "switchover.cli", "status", "--watch",
                           "--interval", "0.3", "--timeout", "1",
                           "--config", str(pair.config_path(b)), "--key", str(key)])
        frame = screen.read_until(rf"{a}\s+active\s+Primary[\s\S]*{b}\s+backup\s+Backup")
        assert "SERVER" in screen.text()
        pair.admin(b, "switch", {})
        frame = screen.read_until(rf"{a}\s+\S+\s+Inactive[\s\S]*{b}\s+active\s+Primary")
        pair.kill(a)
        frame = screen.read_until(rf"{a}: does not answer, last known values shown")
        assert re.search(rf"{a}\s+stale\s+Inactive\s+1\s", frame), frame
        assert screen.ctrl_c() == 0
    finally:
        if screen is not None:
            screen.close()
        pair.stop_all()
