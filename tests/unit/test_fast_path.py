"""The fast path: the active's Notifier reports the module gone, the backup confirms.

Issue found in a restart storm of the active's host: the module's queued registration
and its reconnect arrived together, the Notifier refused the second and reported the
module gone, and the backup's confirmation ping was rejected 2 ms later — a switch
("TS Ping Failure") of a module that never died. A rejection is now confirmed again
after "Switchover TS Failure Retry Delay" ("Ping" in the reference) before the module
counts as down, unless the active saw the module's process exit (then nothing can
re-register it); the module monitor's own path keeps the reference's timing.
"""
from __future__ import annotations

from switchover.actors.module_core import MODULE_DOWN, ModuleMonitorEvent
from switchover.actors.statemachine import ModuleDown, State
from tests.unit import test_primary_monitor as tpm
from switchover.transport.outcome import OK, REJECTED


def _reported_gone(backup, exited: bool = False) -> None:
    backup.pm_deliver(ModuleMonitorEvent(
        kind=MODULE_DOWN, module="TsServer", channel="main", pid=4242,
        detail="reported by the active's Notifier: connection closed", reported=True,
        exited=exited))


def test_a_rejection_cured_within_the_retry_delay_is_no_switch():
    clock, links, _, backup = tpm.make_backup()
    backup.start()
    clock.advance(1)
    links.respond("TsServer", tpm.Reply(REJECTED))  # re-registering: refused for a moment
    _reported_gone(backup)
    clock.advance(0.5)
    links.respond("TsServer", tpm.Reply(OK, {"pid": 4242}))  # registered again
    clock.advance(30)
    assert backup.switched == []
    assert backup.state is State.BACKUP


def test_a_rejection_that_lasts_is_a_switch_after_the_retry_delay():
    clock, links, _, backup = tpm.make_backup()
    backup.start()
    clock.advance(1)
    links.respond("TsServer", tpm.Reply(REJECTED))
    _reported_gone(backup)
    clock.advance(0.9)
    assert backup.switched == []  # the second confirmation waits the retry delay (1 s)
    clock.advance(0.2)
    assert [type(e) for _, e in backup.posted] == [ModuleDown]
    assert backup.state is State.PRIMARY


def test_a_rejection_after_the_process_exited_is_a_switch_at_once():
    """The active saw the module's process end: nothing will re-register it, so the
    first rejection is the confirmation (no retry delay on the client's downtime)."""
    clock, links, _, backup = tpm.make_backup()
    backup.start()
    clock.advance(1)
    links.respond("TsServer", tpm.Reply(REJECTED))
    _reported_gone(backup, exited=True)
    clock.advance(0.05)
    assert [type(e) for _, e in backup.posted] == [ModuleDown]
    assert backup.state is State.PRIMARY


def test_a_stalled_module_monitor_is_restarted_without_anyone_asking():
    """The stall check runs by itself every "maximum event interval" while monitoring."""
    clock, _, _, backup = tpm.make_backup()
    backup.start()
    backup.mm.stop()  # the module monitor dies quietly
    limit = backup.pm.settings.module.max_event_interval
    clock.advance(limit * 2 + 1)
    assert backup.mm.running
