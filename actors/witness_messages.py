"""What the witness is told and what it reports (docs/witness.md): frozen, so safe to share.

Commands go to the Witness actor with ``tell``; reports go to whoever the actor was given
as `post` (the state machine's owner). A change of holder or of reason is reported once,
not at every retry.
"""
from __future__ import annotations

from dataclasses import dataclass

from switchover.transport.witness import Holder

__all__ = [
    "AcquireWitness", "Holder", "ReadWitness", "ReleaseWitness", "WitnessAcquired",
    "WitnessHeldBy", "WitnessHolder", "WitnessLost", "WitnessReleased", "WitnessUnreachable",
]


# --- commands ---------------------------------------------------------------------------

@dataclass(frozen=True)
class AcquireWitness:
    """Take the key for `generation` and keep it; retried while held by another."""

    generation: int


@dataclass(frozen=True)
class ReleaseWitness:
    """Stop renewing and revoke the lease, so a waiting peer may take the key at once."""


@dataclass(frozen=True)
class ReadWitness:
    """Ask who holds the key now (answered with WitnessHolder or WitnessUnreachable)."""


# --- reports ----------------------------------------------------------------------------

@dataclass(frozen=True)
class WitnessAcquired:
    """This server holds the key; posted again when renewing works after WitnessUnreachable."""

    holder: Holder
    ttl: float


@dataclass(frozen=True)
class WitnessHeldBy:
    """Another holder has the key (it may be this server's own, from an earlier generation)."""

    holder: Holder


@dataclass(frozen=True)
class WitnessUnreachable:
    """etcd did not answer or refused; `holding` says whether a lease is still being kept."""

    reason: str
    holding: bool


@dataclass(frozen=True)
class WitnessLost:
    """The key can no longer be counted on; at least `margin` seconds remain before it expires."""

    holder: Holder
    reason: str
    margin: float


@dataclass(frozen=True)
class WitnessReleased:
    """The answer to ReleaseWitness: `revoked`, or why not (etcd unreachable: the lease
    expires within its TTL; or this server held no key, `holder` None)."""

    holder: Holder | None
    revoked: bool
    reason: str = ""


@dataclass(frozen=True)
class WitnessHolder:
    """The answer to ReadWitness: who holds the key (None: nobody)."""

    holder: Holder | None
