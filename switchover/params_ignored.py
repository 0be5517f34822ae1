"""Parameters the reference retired, accepted so that an old configuration still loads.

The reference: "As of 2015 R1, the UDP monitor is no longer used in switchover ...
Existing parameters for the UDP monitor are ignored and have no effect." A server whose
configuration or DS tree still holds one must therefore start, with a warning that says
the value does nothing, rather than refuse it as an unknown name. The names are the ones
the reference's revision history gives for the UDP monitor (20 August 2013).
"""
from __future__ import annotations

from switchover.params_spec import ParamSpec

IGNORED = "Ignored by the reference (no effect)"

_UDP_NO_EFFECT = (
    "the UDP monitor was retired by the reference in 2015 R1 (the primary monitor does its "
    "work) and switchover has none; the value is accepted and ignored"
)


def _udp(name: str) -> ParamSpec:
    return ParamSpec(
        name, "ignored", None, None, None, False, IGNORED,
        "A parameter of the UDP monitor, named in the reference's revision history (20 "
        "August 2013). Any plain value is accepted.",
        no_effect=_UDP_NO_EFFECT,
    )


#: The UDP monitor's parameters, as the reference's revision history names them.
UDP_MONITOR_SPECS: tuple[ParamSpec, ...] = (
    _udp("Switchover Max UDP Failures"),
    _udp("Switchover UDP Maximum Ping Delay"),
    _udp("Switchover UDP Monitor"),
    _udp("Switchover UDP Normal Retry Delay"),
)
