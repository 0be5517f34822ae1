"""The module monitor's parameters, read by the reference's names ("Module Monitor").

:class:`MonitorSettings` holds "Switchover TS Timeout", "Switchover TS Failure Retry
Delay", "Switchover Max TS Failures", "Switchover Ping on Aux Connection" and the restart
limits, and the eid of the ping ("TS Diagnostic Ping"). It lives apart from the monitor so
that the pure cores, the primary monitor's settings and SysMonitor (which applies dynamic
changes) read it without the actor. :func:`param` and :func:`flag` read one reference
parameter and one Yes/No parameter for both monitors' settings.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Mapping

from switchover.actors.links import AUX, MAIN

PING_EID = "TS Diagnostic Ping"


def param(params: Any, name: str, default: Any) -> Any:
    """`params[name]`, or `default` when the parameter is not set."""
    try:
        value = params[name]
    except (KeyError, LookupError):
        return default
    return default if value is None or value == "" else value


def flag(value: Any) -> bool:
    """A reference Yes/No parameter: "Yes", "1", 1, True are true."""
    if isinstance(value, str):
        return value.strip().lower() in ("yes", "1", "true", "on", "y")
    return bool(value)


@dataclass(frozen=True)
class MonitorSettings:
    """The module monitor's parameters, in reference seconds."""

    module: str = "TsServer"  # "Switchover Monitoring"
    timeout: float = 10.0  # "Switchover TS Timeout" (or "Switchover IP Timeout")
    retry_delay: float = 1.0  # "Switchover TS Failure Retry Delay" (or "... IP Retry Delay")
    max_failures: int = 2  # "Switchover Max TS Failures"
    ping_on_aux: bool = False  # "Switchover Ping on Aux Connection"
    max_restarts: int = 2  # "Switchover Max Restarts"
    max_restarts_period: float = 300.0  # "Switchover Max Restarts Period"
    max_sequential_restarts: int = 2  # "Switchover Max Sequential Restarts"
    eid: str = PING_EID

    @classmethod
    def from_params(cls, params: Mapping[str, Any] | Any) -> "MonitorSettings":
        """Read the parameters by the reference's names (``params["Switchover TS Timeout"]``)."""
        d = cls()
        module = str(param(params, "Switchover Monitoring", d.module))
        if module.strip().upper() == "IP":
            timeout = param(params, "Switchover IP Timeout", d.timeout)
            retry = param(params, "Switchover IP Retry Delay", d.retry_delay)
        else:
            timeout = param(params, "Switchover TS Timeout", d.timeout)
            retry = param(params, "Switchover TS Failure Retry Delay", d.retry_delay)
        return cls(
            module=module,
            timeout=float(timeout),
            retry_delay=float(retry),
            max_failures=max(1, int(param(params, "Switchover Max TS Failures", d.max_failures))),
            ping_on_aux=flag(param(params, "Switchover Ping on Aux Connection", False)),
            max_restarts=int(param(params, "Switchover Max Restarts", d.max_restarts)),
            max_restarts_period=float(
                param(params, "Switchover Max Restarts Period", d.max_restarts_period)
            ),
            max_sequential_restarts=int(
                param(params, "Switchover Max Sequential Restarts", d.max_sequential_restarts)
            ),
        )

    @property
    def normal_channel(self) -> str:
        return AUX if self.ping_on_aux else MAIN

    @property
    def alternate_channel(self) -> str:
        return MAIN if self.ping_on_aux else AUX

    @property
    def max_event_interval(self) -> float:
        """The longest gap between two events of a healthy monitor (for stall detection).

        From a success: one regular wait, then up to max_failures pings on each channel,
        each a full timeout plus a retry delay; plus one regular interval of slack.
        """
        per_ping = self.timeout + self.retry_delay
        return self.timeout + 2 * self.max_failures * per_ping + self.timeout
