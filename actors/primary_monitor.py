"""The primary monitor: the backup's central watcher ("Primary Monitor").

It pings the primary's Notifier on the remote connections, receives the module
monitor's events, and when something fails it stops the module monitor, diagnoses the
connections and the network, and posts exactly one state-machine event: NetworkDown,
NotifierDown, PrimaryUnreachable or ModuleDown -- or, when the module answers again,
none ("module up, no error": the module monitor is restarted).

Layers as in :mod:`actors.module_monitor`, one module each:

- :mod:`actors.primary_settings`: :class:`PrimaryMonitorSettings`, the parameters.
- :mod:`actors.primary_core`: :class:`PrimaryMonitorCore`, the pure decisions (ping
  outcomes, retry counting, the verdict of "Handling Module Monitor Notifications",
  module-monitor stall detection).
- :mod:`actors.primary_driver`: :class:`PrimaryMonitorDriver`, the I/O, never blocking,
  and the choices made where the reference is silent.
- here: the Pykka actor :class:`PrimaryMonitor`.
"""
from __future__ import annotations

import logging
from concurrent.futures import Executor
from typing import Any, Callable

import pykka

from switchover.actors.links import Links
from switchover.actors.module_monitor import ModuleMonitorControl
from switchover.actors.network import Prober
from switchover.actors.primary_core import Health
from switchover.actors.primary_driver import PrimaryMonitorDriver
from switchover.actors.primary_settings import PrimaryMonitorSettings
from switchover.clock import Clock

log = logging.getLogger("PrimaryMonitor")


class PrimaryMonitor(pykka.ThreadingActor):
    """The primary monitor as a Pykka actor; monitoring starts when the actor starts.

    Messages (``tell``): StartMonitoring, StopMonitoring, UpdateSettings, and the module
    monitor's ModuleMonitorEvents (wire the ModuleMonitor's `post` to this actor's
    ``tell``). Proxy calls: ``poll()`` -> :class:`Health`, ``snapshot()``.
    """

    def __init__(
        self,
        clock: Clock,
        links: Links,
        prober: Prober,
        settings: PrimaryMonitorSettings,
        post: Callable[[object], None],
        module_monitor_control: ModuleMonitorControl,
        *,
        executor: Executor | None = None,
        autostart: bool = True,
    ) -> None:
        super().__init__()
        self._autostart = autostart
        self._driver = PrimaryMonitorDriver(
            clock, links, prober, settings, post, module_monitor_control,
            self._tell_self, executor,
        )

    def _tell_self(self, message: object) -> None:
        try:
            self.actor_ref.tell(message)
        except pykka.ActorDeadError:
            pass

    def on_start(self) -> None:
        if self._autostart:
            self._driver.start()

    def on_stop(self) -> None:
        self._driver.close()

    def on_receive(self, message: Any) -> Any:
        try:
            self._driver.handle(message)
        except Exception:
            log.exception("failed to handle %r", message)

    def poll(self) -> Health:
        return self._driver.poll()

    def snapshot(self) -> dict[str, Any]:
        return self._driver.snapshot()
