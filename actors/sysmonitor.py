"""SysMonitor: starts and stops the backup's two monitors ("System Monitors").

"The primary monitor is started by the system monitor (SysMonitor2), which passes the
service parameters queried during switchover's initialization as a backup." The
primary monitor owns the module monitor while it runs (it stops it to diagnose and
restarts it when the module answers again); SysMonitor creates both, hands them the
parameters, applies dynamically monitored parameters, and stops both when the state
machine says so.
"""
from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any, Callable

import pykka

from switchover.actors import statemachine as sm
from switchover.actors.links import Links
from switchover.actors.module_core import MODULE_DOWN, ModuleMonitorEvent
from switchover.actors.module_monitor import ModuleMonitor, TellControl, UpdateSettings
from switchover.actors.module_settings import MonitorSettings
from switchover.actors.network import Prober
from switchover.actors.primary_messages import ConnectionDropped
from switchover.actors.primary_monitor import PrimaryMonitor
from switchover.actors.primary_settings import PrimaryMonitorSettings
from switchover.clock import Clock
from switchover.params import ServerParameters

log = logging.getLogger("SystemMonitor")


@dataclass(frozen=True)
class ParametersChanged:
    """New server parameters (dynamic monitoring of system parameters)."""

    params: ServerParameters


@dataclass(frozen=True)
class ModuleLost:
    """The active's Notifier saw the monitored module leave: confirm it now."""

    module: str
    pid: int
    reason: str
    #: The active saw the module's process end, not only its connection close.
    exited: bool = False


@dataclass(frozen=True)
class GetMonitors:
    pass


class SysMonitor(pykka.ThreadingActor):
    def __init__(
        self,
        *,
        clock: Clock,
        links: Links,
        prober: Prober,
        params: ServerParameters,
        this_server: str,
        primary_address: str,
        post: Callable[[Any], None],
    ) -> None:
        super().__init__()
        self.clock = clock
        self.links = links
        self.prober = prober
        self.params = params
        self.this_server = this_server
        self.primary_address = primary_address
        self.post = post
        self.primary: pykka.ActorRef | None = None
        self.module: pykka.ActorRef | None = None

    def _settings(self) -> PrimaryMonitorSettings:
        return PrimaryMonitorSettings.from_params(
            self.params, this_server=self.this_server, primary_address=self.primary_address,
        )

    def on_receive(self, message: Any) -> Any:
        if isinstance(message, sm.StartMonitors):
            self._start_monitors()
        elif isinstance(message, sm.StopMonitors):
            self._stop_monitors()
        elif isinstance(message, ParametersChanged):
            self._parameters(message.params)
        elif isinstance(message, ModuleLost):
            self._module_lost(message)
        elif isinstance(message, ConnectionDropped):
            if self.primary is not None and self.primary.is_alive():
                self.primary.tell(message)
        elif isinstance(message, GetMonitors):
            return {"running": self.primary is not None}
        else:
            log.warning("SysMonitor: ignoring unknown message %r", message)
        return None

    def on_stop(self) -> None:
        self._stop_monitors()

    def _start_monitors(self) -> None:
        self._stop_monitors()
        settings = self._settings()
        log.info(
            "Starting the primary monitor and the module monitor for the %s module on %s",
            settings.module.module, self.primary_address,
        )
        primary_holder: list[pykka.ActorRef] = []

        def to_primary(event: Any) -> None:
            if primary_holder and primary_holder[0].is_alive():
                primary_holder[0].tell(event)

        self.module = ModuleMonitor.start(
            self.clock, self.links, settings.module, to_primary, autostart=False
        )
        self.primary = PrimaryMonitor.start(
            self.clock, self.links, self.prober, settings, self.post,
            TellControl(self.module.tell),
        )
        primary_holder.append(self.primary)

    def _stop_monitors(self) -> None:
        for name in ("primary", "module"):
            ref = getattr(self, name)
            setattr(self, name, None)
            if ref is not None and ref.is_alive():
                ref.stop(timeout=5)

    def _parameters(self, params: ServerParameters) -> None:
        changed = params.changed(self.params)
        self.params = params
        if not changed or self.module is None:
            return
        log.info("Server parameters changed: %s", ", ".join(sorted(changed)))
        module_settings = MonitorSettings.from_params(params)
        self.module.proxy().update_settings(module_settings)
        if self.primary is not None:
            self.primary.tell(UpdateSettings(module_settings))

    def _module_lost(self, message: ModuleLost) -> None:
        """Beyond the reference: skip the ping timeouts, go straight to confirmation."""
        if self.primary is None or not self.primary.is_alive():
            return
        log.warning(
            "The active's Notifier reports the %s module (pid %d) gone (%s%s): confirming now",
            message.module, message.pid, message.reason,
            "; its process has exited" if message.exited else "",
        )
        self.primary.tell(ModuleMonitorEvent(
            kind=MODULE_DOWN, module=message.module, channel="main", pid=message.pid,
            detail=f"reported by the active's Notifier: {message.reason}", reported=True,
            exited=message.exited,
        ))
