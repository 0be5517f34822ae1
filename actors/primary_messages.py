"""What the primary monitor's driver is sent: its timers, its completions, its callers.

Timers and completions carry the driver's generation, so one from before a stop,
restart or phase change is dropped (`PrimaryMonitorDriver.handle`); the callers'
messages (`ConnectionDropped`, `Poll`) carry none. Frozen, so safe to send between
threads.
"""
from __future__ import annotations

from dataclasses import dataclass

from switchover.transport.outcome import Outcome


@dataclass(frozen=True)
class PingDue:
    """Time to ping the primary's Notifier."""

    generation: int


@dataclass(frozen=True)
class PingDone:
    """A Notifier ping's outcome."""

    generation: int
    outcome: Outcome


@dataclass(frozen=True)
class ModulePingDone:
    """The outcome of one of the primary monitor's own pings of the module."""

    generation: int
    outcome: Outcome


@dataclass(frozen=True)
class ModuleRetryDue:
    """Time to confirm a rejected module ping once more."""

    generation: int


@dataclass(frozen=True)
class ProbeDone:
    """An ICMP echo of the network diagnosis answered (or not)."""

    generation: int
    reached: bool


@dataclass(frozen=True)
class WaitDone:
    """A wait of the network diagnosis is over."""

    generation: int


@dataclass(frozen=True)
class ConnectionDropped:
    """A remote notifier connection went down ("if a connection was up and then goes
    down, the primary monitor then examines the network"): ping now, not at the next
    ping interval."""

    channel: str


@dataclass(frozen=True)
class Poll:
    """Time to check whether the module monitor is alive (every "maximum event
    interval" while monitoring; a stalled module monitor is restarted)."""
