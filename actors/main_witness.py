"""SwitchoverMain's side of the witness (docs/witness.md): what its reports say, asking
for the key, and the peer check an active that lost the key runs.

Mixed into SwitchoverMain (`actors.main`); the decisions are the rows of
`actors.state_witness`, this only remembers the witness's reports for the state
machine's context and carries out TakeWitness and CheckPeer.
"""
from __future__ import annotations

from typing import Any

from switchover.actors import statemachine as sm
from switchover.actors.witness_messages import (
    AcquireWitness,
    ReleaseWitness,
    WitnessAcquired,
    WitnessHeldBy,
    WitnessHolder,
    WitnessLost,
    WitnessReleased,
    WitnessUnreachable,
)

#: The witness's reports SwitchoverMain handles with `_on_witness`.
WITNESS_REPORTS = (WitnessAcquired, WitnessHeldBy, WitnessUnreachable, WitnessLost,
                   WitnessReleased, WitnessHolder)


class MainWitness:
    """The witness half of SwitchoverMain."""

    _witness_key: bool = False
    _witness_ok: bool | None = None  # None: no report yet
    _witness_holder: str | None = None
    _peer_check: float | None = None  # CheckPeer's deadline, while it runs
    _check_answered: bool = False

    def _take_witness(self) -> None:
        if self.d.witness is not None:
            gen = self.d.generation
            next_gen = gen.value if self.state in sm.ACTIVE_STATES or not \
                self._pending_is_switch else gen.peek_next()
            self.d.witness.tell(AcquireWitness(next_gen))

    def _check_peer(self, within: float) -> None:
        self._peer_check, self._check_answered = within, False
        self._later("peer-check", within)
        self._query_in_flight = True  # beside a query in flight, which may be slow
        self.jobs.query_state(self.peer.pair)

    def _end_pending(self, now: sm.State) -> None:
        """A start or switch that waited for the witness key is over: done (Primary), or
        given up (another role): then the witness stops trying for the key."""
        self._switch_pending = None
        if now not in sm.ACTIVE_STATES and self.d.witness is not None:
            self.d.witness.tell(ReleaseWitness())

    def _on_witness(self, report: Any) -> None:
        """The witness's reports: remember what they say, then let the table decide."""
        if isinstance(report, WitnessAcquired):
            self._witness_key, self._witness_ok = True, True
            self._witness_holder = report.holder.server
        elif isinstance(report, WitnessHeldBy):
            self._witness_ok = True
            self._witness_key = report.holder.server == self.d.config.server_name and \
                self._witness_key
            self._witness_holder = report.holder.server
        elif isinstance(report, WitnessUnreachable):
            self._witness_ok = False
        elif isinstance(report, WitnessLost):
            self._witness_key = False
        elif isinstance(report, (WitnessReleased, WitnessHolder)):
            if isinstance(report, WitnessReleased):
                self._witness_key = False
            self._publish()
            return
        self._apply(report)

