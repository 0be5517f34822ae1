"""Whether a process on this host is still running, for the module's liveness checks."""
from __future__ import annotations

import psutil


def process_alive(pid: int) -> bool:
    """A zombie has exited (only its parent has not reaped it yet); a process we may not
    inspect still exists."""
    if pid <= 0:
        return False
    try:
        return psutil.Process(pid).status() != psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return False
    except psutil.AccessDenied:
        return True
