"""The primary monitor's parameters, read by the reference's names ("Primary Monitor").

:class:`PrimaryMonitorSettings` holds the "Switchover Primary Monitor ..." ping delay,
timeout and retries, the network checks ("Switchover Disable Gateway Ping", "Switchover
NetTest A"/"B", "Switchover Unreachable Primary Ping Count"/"Delay") and the module
monitor's :class:`~actors.module_settings.MonitorSettings`, and turns the network checks
into the :class:`~actors.network.NetworkPlan` of a diagnosis. Its own module so that the
pure core (:mod:`actors.primary_core`) and SysMonitor read it without the actor.

Where the reference is silent: "Switchover Primary Monitor Ping Delay" 0 (the default) is
taken as :data:`MIN_PING_DELAY` (1 reference second), not as a busy loop.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable, Mapping

from switchover.actors.module_settings import MonitorSettings, flag, param
from switchover.actors.network import NetworkPlan, local_gateways, ping_sets_for

#: The shortest interval between notifier pings (reference seconds).
MIN_PING_DELAY = 1.0


def _addresses(value: Any) -> tuple[str, ...]:
    if not value:
        return ()
    if isinstance(value, (list, tuple)):
        return tuple(str(v).strip() for v in value if str(v).strip())
    return tuple(a.strip() for a in str(value).replace(",", ";").split(";") if a.strip())


@dataclass(frozen=True)
class PrimaryMonitorSettings:
    """The primary monitor's parameters, in reference seconds."""

    module: MonitorSettings = MonitorSettings()
    ping_delay: float = 0.0  # "Switchover Primary Monitor Ping Delay"
    timeout: float = 0.0  # "Switchover Primary Monitor Timeout" (0: half the module's)
    retry_delay: float = 0.0  # "Switchover Primary Monitor Retry Ping Delay"
    retry_count: int = 2  # "Switchover Primary Monitor Retry Count"
    gateway_ping: bool = False  # "Switchover Disable Gateway Ping" is No/0
    gateways: tuple[str, ...] = ()
    nettest: tuple[str, ...] = ()  # "Switchover NetTest A"/"B", whichever is this server's
    nettest_timeout: float = 1.0  # "Switchover NetTest Timeout"
    primary_address: str = ""
    unreachable_ping_count: int = 0  # "Switchover Unreachable Primary Ping Count"
    unreachable_ping_delay: float = 10.0  # "Switchover Unreachable Primary Ping Delay"
    #: Where gateways come from when none were found at start (a link that was down
    #: then had no default route): read again at each diagnosis.
    gateway_source: Callable[[], tuple[str, ...]] = local_gateways

    @classmethod
    def from_params(
        cls,
        params: Mapping[str, Any] | Any,
        *,
        this_server: str,
        primary_address: str,
        gateways: tuple[str, ...] | None = None,
    ) -> "PrimaryMonitorSettings":
        """Read the parameters by the reference's names; `this_server` is the backup.

        NetTest: "Switchover NetTest A" when this server is "SwitchoverServer A", else
        "Switchover NetTest B". Gateways default to the routing table's.
        """
        d = cls()
        server_a = str(param(params, "SwitchoverServer A", ""))
        is_a = bool(server_a) and server_a.lower() == this_server.lower()
        nettest = param(params, "Switchover NetTest A" if is_a else "Switchover NetTest B", "")
        disable = param(params, "Switchover Disable Gateway Ping", True)
        gateway_ping = not flag(disable)
        return cls(
            module=MonitorSettings.from_params(params),
            ping_delay=float(param(params, "Switchover Primary Monitor Ping Delay", d.ping_delay)),
            timeout=float(param(params, "Switchover Primary Monitor Timeout", d.timeout)),
            retry_delay=float(
                param(params, "Switchover Primary Monitor Retry Ping Delay", d.retry_delay)
            ),
            retry_count=max(
                1, int(param(params, "Switchover Primary Monitor Retry Count", d.retry_count))
            ),
            gateway_ping=gateway_ping,
            gateways=(local_gateways() if gateways is None and gateway_ping else gateways or ()),
            nettest=_addresses(nettest),
            nettest_timeout=float(param(params, "Switchover NetTest Timeout", d.nettest_timeout)),
            primary_address=primary_address,
            unreachable_ping_count=int(
                param(params, "Switchover Unreachable Primary Ping Count", 0)
            ),
            unreachable_ping_delay=float(
                param(params, "Switchover Unreachable Primary Ping Delay", 10)
            ),
        )

    @property
    def ping_timeout(self) -> float:
        return self.timeout if self.timeout > 0 else self.module.timeout / 2

    @property
    def ping_interval(self) -> float:
        return max(MIN_PING_DELAY, self.ping_delay)

    @property
    def unreachable_switch_allowed(self) -> bool:
        return self.unreachable_ping_count != -1

    def network_plan(self) -> NetworkPlan:
        return NetworkPlan(
            gateway_ping=self.gateway_ping,
            gateways=self.gateways or (tuple(self.gateway_source()) if self.gateway_ping
                                       else ()),
            nettest=self.nettest,
            nettest_timeout=self.nettest_timeout,
            primary_address=self.primary_address,
            ping_sets=ping_sets_for(self.unreachable_ping_count),
            set_delay=self.unreachable_ping_delay,
        )

