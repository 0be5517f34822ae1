"""systemd's readiness protocol (sd_notify), in the few lines it takes.

Under `Type=notify` systemd waits for "READY=1" on the datagram socket named by
$NOTIFY_SOCKET before it counts the unit as started, so units ordered after switchover
(and `systemctl start` itself) see a host whose role is decided, not one still asking its
peer. "STATUS=" is the line `systemctl status` shows. Outside systemd the variable is
unset and every call is a no-op; a send that fails is logged once, never raised: a host
must not stop serving because its supervisor went away.
"""
from __future__ import annotations

import logging
import os
import socket

log = logging.getLogger("SwitchoverMain")
_warned = False


def notify(*fields: str) -> bool:
    """Send `fields` ("READY=1", "STATUS=...") to systemd; whether they were sent."""
    global _warned
    address = os.environ.get("NOTIFY_SOCKET", "")
    if not address:
        return False
    if address.startswith("@"):  # an abstract socket
        address = "\0" + address[1:]
    try:
        with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM | socket.SOCK_CLOEXEC) as sock:
            sock.connect(address)
            sock.sendall("\n".join(fields).encode("utf-8"))
        return True
    except OSError as exc:
        if not _warned:
            _warned = True
            log.warning("SwitchoverMain: cannot notify systemd at %s: %s",
                        os.environ.get("NOTIFY_SOCKET"), exc)
        return False
