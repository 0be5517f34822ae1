"""Every rule of "The Switchover State Machine" and "State Machine Events and Handling"
as one row: (state, event, context) -> (state, action types, reason fragment)."""
from __future__ import annotations

import pytest

from actors.statemachine import (
    REASON_MANUAL,
    REASON_NOTIFIER,
    REASON_TS_PING,
    BecomeActive,
    CancelReconnectTimer,
    ConnectionsRestored,
    Context,
    Discontinue,
    Fatal,
    GoStale,
    Log,
    ManualSwitch,
    ModuleDown,
    NetworkDown,
    NetworkRestored,
    NotifierDown,
    PrimaryUnreachable,
    ReconnectAttemptsExhausted,
    ReconnectExpired,
    Resync,
    ScheduleSwitchAfterStartup,
    StartActive,
    StartBackup,
    StartMonitors,
    StartReconnectTimer,
    StartupComplete,
    State,
    Stop,
    StopMonitors,
    step,
)

AUTO = Context()
MANUAL = Context(manual_switch_only=True)
STARTING = Context(starting_up=True)
NO_WAIT = Context(reconnect_timeout=0)
NEVER_UNREACHABLE = Context(unreachable_switch_allowed=False)
SCHEDULED = Context(switch_scheduled=REASON_TS_PING)

S = State
# (id, state, event, ctx, expected state, expected action types, reason fragment)
ROWS = [
    # --- Init ("The Init State")
    ("init-active", S.INIT, StartActive("first up"), AUTO, S.PRIMARY, [BecomeActive],
     "starting as the active server"),
    ("init-backup", S.INIT, StartBackup("A"), AUTO, S.BACKUP, [StartMonitors],
     "starting as backup of A"),
    ("init-backup-manual", S.INIT, StartBackup("A"), MANUAL, S.BACKUP, [], "manual switch mode"),
    ("init-upgrade-higher", S.INIT, StartBackup("A", "higher"), AUTO, S.UPGRADE_HIGHER, [],
     "backup of A"),
    ("init-upgrade-lower", S.INIT, StartBackup("A", "lower"), AUTO, S.UPGRADE_LOWER, [],
     "backup of A"),
    # --- Backup: Module Down (three cases)
    ("module-down-manual", S.BACKUP, ModuleDown(), MANUAL, S.STOPPING, [StopMonitors],
     "manual mode: going to StateStopping"),
    ("module-down-switch", S.BACKUP, ModuleDown(), AUTO, S.PRIMARY,
     [StopMonitors, BecomeActive], "Module is down, switching now and going to StatePrimary"),
    ("module-down-starting-up", S.BACKUP, ModuleDown(), STARTING, S.BACKUP,
     [StopMonitors, ScheduleSwitchAfterStartup], "once startup has completed"),
    ("startup-complete-scheduled", S.BACKUP, StartupComplete(), SCHEDULED, S.PRIMARY,
     [StopMonitors, BecomeActive], "performing the scheduled switch"),
    ("startup-complete-nothing", S.BACKUP, StartupComplete(), AUTO, S.BACKUP, [],
     "no switch scheduled"),
    # --- Backup: Network Down
    ("network-down", S.BACKUP, NetworkDown(), AUTO, S.RECONNECTING, [StopMonitors],
     "Network is down"),
    # --- Backup: Notifier Down (four cases)
    ("notifier-down-network-down", S.BACKUP, NotifierDown(network_ok=False), AUTO,
     S.RECONNECTING, [StopMonitors], "network is down"),
    ("notifier-down-manual", S.BACKUP, NotifierDown(True, True, False), MANUAL,
     S.RECONNECTING, [], "manual switch mode"),
    ("notifier-down-both-down", S.BACKUP, NotifierDown(True, False, False), AUTO,
     S.RECONNECTING, [StopMonitors, StartReconnectTimer], "both connections are down"),
    ("notifier-down-main-up", S.BACKUP, NotifierDown(True, True, False), AUTO,
     S.RECONNECTING, [StopMonitors, StartReconnectTimer], "the main connection is up"),
    ("notifier-down-aux-up", S.BACKUP, NotifierDown(True, False, True), AUTO,
     S.RECONNECTING, [StopMonitors, StartReconnectTimer], "the auxiliary connection is up"),
    # --- Backup: Primary Unreachable
    ("primary-unreachable", S.BACKUP, PrimaryUnreachable("10.0.0.1", 3), AUTO,
     S.RECONNECTING, [StopMonitors, StartReconnectTimer], "Primary [10.0.0.1] is unreachable"),
    ("primary-unreachable-never-switch", S.BACKUP, PrimaryUnreachable(), NEVER_UNREACHABLE,
     S.RECONNECTING, [StopMonitors], "Ping Count is -1"),
    # --- Reconnect timeout 0: switch at once
    ("reconnect-timeout-0", S.BACKUP, NotifierDown(True, False, False), NO_WAIT, S.PRIMARY,
     [StopMonitors, BecomeActive], "Reconnect Timeout is 0"),
    # --- the four reasons the backup becomes primary (from Reconnecting)
    ("reason-1-max-reconnect-attempts", S.RECONNECTING, ReconnectAttemptsExhausted(6), AUTO,
     S.PRIMARY, [Log, CancelReconnectTimer, StopMonitors, BecomeActive],
     "Lost connections to the primary, going to StatePrimary and switching now"),
    ("reason-2-module-down", S.RECONNECTING, ModuleDown(), AUTO, S.PRIMARY,
     [CancelReconnectTimer, StopMonitors, BecomeActive], "Module is down"),
    ("reason-3-primary-unreachable", S.RECONNECTING, PrimaryUnreachable(), AUTO, S.PRIMARY,
     [CancelReconnectTimer, StopMonitors, BecomeActive], "Primary is unreachable"),
    ("reason-4-reconnect-expired", S.RECONNECTING, ReconnectExpired(), AUTO, S.PRIMARY,
     [Log, CancelReconnectTimer, StopMonitors, BecomeActive],
     "Lost connections to the primary, going to StatePrimary and switching now"),
    ("unreachable-never-switch", S.RECONNECTING, PrimaryUnreachable(), NEVER_UNREACHABLE,
     S.RECONNECTING, [], "waiting"),
    ("expired-manual", S.RECONNECTING, ReconnectExpired(), MANUAL, S.RECONNECTING, [],
     "manual switch mode"),
    # --- back to Backup with a resynchronisation
    ("connections-restored", S.RECONNECTING, ConnectionsRestored(), AUTO, S.BACKUP,
     [CancelReconnectTimer, Resync, StartMonitors], "going to StateBackup and resynchronizing"),
    ("connections-restored-manual", S.RECONNECTING, ConnectionsRestored(), MANUAL, S.BACKUP,
     [CancelReconnectTimer, Resync], "resynchronizing"),
    ("network-restored", S.RECONNECTING, NetworkRestored(), AUTO, S.BACKUP,
     [CancelReconnectTimer, Resync, StartMonitors], "The network is restored"),
    ("network-down-while-reconnecting", S.RECONNECTING, NetworkDown(), AUTO, S.RECONNECTING,
     [CancelReconnectTimer], "cut off"),
    ("notifier-down-while-reconnecting", S.RECONNECTING, NotifierDown(), AUTO,
     S.RECONNECTING, [], "ignored"),
    # --- manual switch
    ("manual-from-backup", S.BACKUP, ManualSwitch(), AUTO, S.PRIMARY,
     [StopMonitors, BecomeActive], "eInternalSwitchReq"),
    ("manual-from-backup-manual-mode", S.BACKUP, ManualSwitch(immediate=True), MANUAL,
     S.PRIMARY, [StopMonitors, BecomeActive], "immediate switch request"),
    ("manual-from-reconnecting", S.RECONNECTING, ManualSwitch(), AUTO, S.PRIMARY,
     [CancelReconnectTimer, StopMonitors, BecomeActive], "eInternalSwitchReq"),
    ("manual-in-primary", S.PRIMARY, ManualSwitch(), AUTO, S.PRIMARY, [], "already"),
    # --- Upgrade states (Appendix C): never switch automatically, manual switch works
    ("upgrade-higher-module-down", S.UPGRADE_HIGHER, ModuleDown(), AUTO, S.UPGRADE_HIGHER,
     [Log], "never switches automatically"),
    ("upgrade-lower-notifier-down", S.UPGRADE_LOWER, NotifierDown(True, False, False), AUTO,
     S.UPGRADE_LOWER, [Log], "never switches automatically"),
    ("upgrade-lower-unreachable", S.UPGRADE_LOWER, PrimaryUnreachable(), AUTO,
     S.UPGRADE_LOWER, [Log], "never switches automatically"),
    ("upgrade-higher-expired", S.UPGRADE_HIGHER, ReconnectExpired(), AUTO, S.UPGRADE_HIGHER,
     [Log], "never switches automatically"),
    ("upgrade-higher-manual", S.UPGRADE_HIGHER, ManualSwitch(), AUTO, S.PRIMARY,
     [Log, StopMonitors, BecomeActive], "eInternalSwitchReq"),
    ("upgrade-lower-manual", S.UPGRADE_LOWER, ManualSwitch(), AUTO, S.PRIMARY,
     [Log, StopMonitors, BecomeActive], "eInternalSwitchReq"),
    # --- Primary, Inactive (stale)
    ("discontinue", S.PRIMARY, Discontinue("B", 7), AUTO, S.INACTIVE, [GoStale],
     "no longer active"),
    ("inactive-manual", S.INACTIVE, ManualSwitch(), AUTO, S.INACTIVE, [], "stale"),
    ("inactive-start-active", S.INACTIVE, StartActive("x"), AUTO, S.INACTIVE, [], "stale"),
    ("inactive-module-down", S.INACTIVE, ModuleDown(), AUTO, S.INACTIVE, [], "stale"),
    ("backup-discontinue", S.BACKUP, Discontinue("B", 7), AUTO, S.BACKUP, [], "ignored"),
    # --- Stopping, Error
    ("stop-backup", S.BACKUP, Stop(), AUTO, S.STOPPING, [StopMonitors], "shutdown"),
    ("stop-inactive", S.INACTIVE, Stop(), AUTO, S.STOPPING, [StopMonitors], "shutdown"),
    ("stopping-is-final", S.STOPPING, ManualSwitch(), AUTO, S.STOPPING, [], "stopping"),
    ("fatal", S.RECONNECTING, Fatal("disk full"), AUTO, S.ERROR, [StopMonitors, Log],
     "disk full"),
    ("error-stays", S.ERROR, ModuleDown(), AUTO, S.ERROR, [], "ignored"),
    ("error-stop", S.ERROR, Stop(), AUTO, S.STOPPING, [StopMonitors], "shutdown"),
    # --- stale events in Backup
    ("backup-expired-stale-timer", S.BACKUP, ReconnectExpired(), AUTO, S.BACKUP, [],
     "ignored"),
]


@pytest.mark.parametrize(
    "state, event, ctx, expected, action_types, fragment",
    [row[1:] for row in ROWS],
    ids=[row[0] for row in ROWS],
)
def test_rule(state, event, ctx, expected, action_types, fragment):
    t = step(state, event, ctx)
    assert t.state is expected
    assert [type(a) for a in t.actions] == action_types
    assert fragment in t.reason


SWITCH_REASON_ROWS = [
    (S.BACKUP, ModuleDown(), AUTO, REASON_TS_PING),
    (S.RECONNECTING, ModuleDown(), AUTO, REASON_TS_PING),
    (S.RECONNECTING, ReconnectExpired(), AUTO, REASON_NOTIFIER),
    (S.RECONNECTING, ReconnectAttemptsExhausted(3), AUTO, REASON_NOTIFIER),
    (S.RECONNECTING, PrimaryUnreachable(), AUTO, REASON_NOTIFIER),
    (S.BACKUP, NotifierDown(True, False, False), NO_WAIT, REASON_NOTIFIER),
    (S.BACKUP, ManualSwitch(), AUTO, REASON_MANUAL),
    (S.UPGRADE_LOWER, ManualSwitch(True), AUTO, REASON_MANUAL),
    (S.BACKUP, StartupComplete(), SCHEDULED, REASON_TS_PING),
]


@pytest.mark.parametrize("state, event, ctx, reason", SWITCH_REASON_ROWS)
def test_switch_reason_is_one_of_the_references(state, event, ctx, reason):
    t = step(state, event, ctx)
    (become,) = [a for a in t.actions if isinstance(a, BecomeActive)]
    assert become.reason == reason


def test_reconnect_timer_uses_the_parameter():
    t = step(S.BACKUP, NotifierDown(True, False, False), Context(reconnect_timeout=45))
    (timer,) = [a for a in t.actions if isinstance(a, StartReconnectTimer)]
    assert timer.seconds == 45
    assert timer.message == "Scheduling reconnect timeout to execute in 45 second(s)"
    assert "Scheduling reconnect timeout to execute in 45 second(s)" in t.reason


def test_reconnect_expired_logs_the_references_line():
    t = step(S.RECONNECTING, ReconnectExpired(), AUTO)
    (log,) = [a for a in t.actions if isinstance(a, Log)]
    assert log.message == (
        "Reconnect period expired, posting [event=eConnectionsDown] to initiate a switchover"
    )


def test_module_down_while_starting_up_switches_after_startup():
    """Module Down case 3: a switch is scheduled, then happens at StartupComplete."""
    t1 = step(S.BACKUP, ModuleDown(), STARTING)
    (sched,) = [a for a in t1.actions if isinstance(a, ScheduleSwitchAfterStartup)]
    ctx = Context(switch_scheduled=sched.reason)  # what the host stores
    t2 = step(t1.state, StartupComplete(), ctx)
    assert t2.state is S.PRIMARY
    assert BecomeActive(REASON_TS_PING) in t2.actions


def test_inactive_never_becomes_primary_again():
    state = step(S.PRIMARY, Discontinue("B", 2), AUTO).state
    events = [ManualSwitch(True), ModuleDown(), ReconnectExpired(), StartActive("again"),
              StartBackup("B"), NotifierDown(True, False, False), StartupComplete()]
    for event in events:
        t = step(state, event, SCHEDULED)
        assert t.state is S.INACTIVE
        assert not any(isinstance(a, BecomeActive) for a in t.actions)


def test_backup_and_reconnecting_alternate_until_restored():
    """The note: moving between Backup and Reconnecting is normal while reconnecting."""
    state = S.BACKUP
    for event, expected in [
        (NotifierDown(True, True, False), S.RECONNECTING),
        (ConnectionsRestored(), S.BACKUP),
        (NotifierDown(True, False, False), S.RECONNECTING),
        (ConnectionsRestored(), S.BACKUP),
    ]:
        state = step(state, event, AUTO).state
        assert state is expected


def test_every_state_event_pair_is_total():
    """No (state, event) pair raises, and every step says why."""
    events = [StartActive("x"), StartBackup("A"), Stop(), Discontinue("A", 1), Fatal("x"),
              NetworkDown(), NetworkRestored(), ModuleDown(), NotifierDown(),
              PrimaryUnreachable(), ReconnectExpired(), ReconnectAttemptsExhausted(),
              ConnectionsRestored(), ManualSwitch(), StartupComplete()]
    for state in State:
        for event in events:
            for ctx in (AUTO, MANUAL, STARTING, NO_WAIT, NEVER_UNREACHABLE):
                t = step(state, event, ctx)
                assert t.reason
                if t.state is S.PRIMARY and state is not S.PRIMARY and state is not S.INIT:
                    assert state not in (S.INACTIVE, S.STOPPING, S.ERROR)
