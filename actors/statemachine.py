"""The switchover state machine, pure: ``step(state, event, ctx) -> Transition``.

"The Switchover State Machine" and "State Machine Events and Handling" in the reference,
kept as a table beside the actor that executes it (the Binary Star shape). Nothing here
does I/O or reads a clock: SwitchoverMain executes the returned actions, and every step
carries a sentence an operator can read (logged, shown by status, asserted by tests).
Every decision that changes a role is a row here: Init, two actives meeting, discontinue,
the reconnect probes, the cut-off backup's own network, manual switches.

Where the reference is silent or contradicts itself, the choice is written next to the
rule that makes it (see also docs/switching.md):

- A backup whose *own* network is down (NetworkDown) goes to Reconnecting without a
  reconnect timer: switching from a server that is cut off would make two active
  servers ("Switchover NetTest server parameters"). It checks its own network every
  "Switchover Notifier Reconnect Delay"; once the network answers and the primary's
  Notifier still does not, the reconnect timer starts (the normal path).
- Reconnecting ends only when the primary's *Notifier* answers a probe: a host that
  answers its virtual switch but not its Notifier is not a primary one can mirror.
- Primary Unreachable goes to Reconnecting with the reconnect timer running; with
  "Switchover Unreachable Primary Ping Count" = -1 (``unreachable_switch_allowed`` False)
  no timer is started, so the backup waits for the primary for as long as it takes.
- The Upgrade states never switch automatically (Appendix C); a manual switch works.
- Inactive (stale) never becomes active again until the host is restarted.
- The reference's first reason to switch, "the maximum number of reconnect attempts",
  has no parameter in the reference; the reconnect timeout bounds the attempts instead.
"""
from __future__ import annotations

from switchover.actors import state_backup as backup
from switchover.actors import state_roles as roles
from switchover.actors import state_witness as witness
from switchover.actors.state_actions import *  # noqa: F401,F403  (the actions, re-exported)
from switchover.actors.state_base import (  # noqa: F401  (re-exported)
    ACTIVE_STATES,
    BACKUP_STATES,
    HANDOVER_TIMEOUT,
    INIT_RETRY,
    REASON_HANDOVER,
    REASON_MANUAL,
    REASON_NOTIFIER,
    REASON_TS_PING,
    SWITCH_REASONS,
    UPGRADE_STATES,
    Context,
    State,
    Transition,
    ignored,
    rank,
    stay,
)
from switchover.actors.state_events import *  # noqa: F401,F403  (the events, re-exported)
from switchover.actors.state_events import Event, Fatal, PeerCheckEnded, PeerQueryDue, Stop
from switchover.actors.state_actions import Log, QueryPeer, StopMonitors


# --- the table ----------------------------------------------------------------------


def step(state: State, event: Event, ctx: Context) -> Transition:
    """Apply one event; unknown (state, event) pairs keep the state and say so."""
    return witness.gate(state, _step(state, event, ctx), ctx)


def _step(state: State, event: Event, ctx: Context) -> Transition:
    if state is State.STOPPING:
        return stay(state, f"no action: stopping, {type(event).__name__} ignored")
    if isinstance(event, Stop):
        return roles.stop(state, ctx)
    if state is State.ERROR:
        return ignored(state, event)
    if isinstance(event, Fatal):
        return Transition(
            State.ERROR, (StopMonitors(), Log("error", event.reason)), f"error: {event.reason}"
        )
    if isinstance(event, witness.WITNESS_EVENTS):
        return witness.witness_rows(state, event, ctx)
    if isinstance(event, PeerCheckEnded):
        return witness.peer_check_ended(state, event, ctx)
    if isinstance(event, PeerQueryDue):
        return stay(state, "no action: asking the peer for its state", QueryPeer())
    if state is State.INIT:
        return roles.init(event, ctx)
    if state is State.PRIMARY:
        return witness.primary_without_key(event, ctx) or roles.primary(event, ctx)
    if state is State.BACKUP:
        return backup.backup(event, ctx)
    if state is State.RECONNECTING:
        return backup.reconnecting(event, ctx)
    if state in UPGRADE_STATES:
        return backup.upgrade(state, event, ctx)
    return roles.inactive(event, ctx)


