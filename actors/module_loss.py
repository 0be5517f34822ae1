"""The fast path's "Module Lost" report: what the active tells, what the backup hears.

The active's Notifier sees the monitored module's connection close at once. Whether the
module's *process* ended too decides how the backup confirms it: a process seen running
when it registered and gone (or a zombie) now has died, so one rejected ping confirms
it; a process still running (a module re-registering after its host's restart, or one
that closed its socket on purpose) is confirmed again after "Switchover TS Failure
Retry Delay", as before. A PID this host could not see when the module registered (a
module in another PID namespace) never counts as exited.
"""
from __future__ import annotations

import logging
from typing import Any, Callable, Mapping

from switchover.actors.sysmonitor import ModuleLost
from switchover.processes import process_alive
from switchover.transport.envelope import Envelope
from switchover.transport.notifier_peers import PEER_SENDER

log = logging.getLogger("NotifierLib")

EID = "Module Lost"


class ModuleLossReporter:
    """Runs on the Notifier's callbacks of the active; publishes the report to the peer."""

    def __init__(self, publish: Callable[[Envelope], None],
                 is_active: Callable[[], bool]) -> None:
        self._publish = publish
        self._is_active = is_active
        self._visible: dict[str, int] = {}  # module name -> PID seen running at registration

    def on_module(self, name: str, alive: bool, info: Mapping[str, Any]) -> None:
        """A module left or joined this host's Notifier; the backup hears of a loss at once."""
        pid = int(info.get("pid") or 0)
        if alive:
            log.info("NotifierLib: module %s registered (pid %s)", name, pid)
            if process_alive(pid):
                self._visible[name] = pid
            else:
                self._visible.pop(name, None)
            return
        exited = self._visible.get(name) == pid and not process_alive(pid)
        if self._visible.get(name) == pid:
            del self._visible[name]
        log.warning("NotifierLib: module %s is gone (pid %s, %s%s)", name, pid,
                    info.get("reason", "unknown"), "; its process has exited" if exited else "")
        if self._is_active():
            self._publish(Envelope(
                kind="event", sender=PEER_SENDER, target=PEER_SENDER, eid=EID,
                body={"module": name, "pid": pid, "reason": str(info.get("reason", "")),
                      "exited": exited},
            ))


def heard(body: Mapping[str, Any]) -> ModuleLost:
    """The backup's reading of the report (an older active sends no "exited": False)."""
    return ModuleLost(str(body.get("module")), int(body.get("pid") or 0),
                      str(body.get("reason", "")), exited=body.get("exited") is True)
