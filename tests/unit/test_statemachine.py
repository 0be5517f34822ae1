"""Every rule of "The Switchover State Machine" and "State Machine Events and Handling"
as one row: (state, event, context) -> (state, action types, reason fragment).

Init ("The Init State"), two actives meeting and Discontinue ("Additional suggestions
for reducing false positives": "the backup server notifies the active server that it is
no longer active"), the reconnect probes and the cut-off backup's own network are rows
here too: SwitchoverMain decides nothing of its own.
"""
from __future__ import annotations

import dataclasses

import pytest

from switchover.actors.statemachine import (
    ACTIVE_STATES,
    BACKUP_STATES,
    REASON_MANUAL,
    REASON_NOTIFIER,
    REASON_HANDOVER,
    REASON_TS_PING,
    SWITCH_REASONS,
    BecomeActive,
    CancelReconnectTimer,
    CloseLinks,
    Context,
    DiscontinueRequested,
    Fatal,
    Discontinue,
    GoStale,
    HandedOver,
    HandOverRequested,
    HandOverTimedOut,
    AskPeerToHandOver,
    LinksRestored,
    Log,
    ManualSwitch,
    ModuleDown,
    NetworkDown,
    NotifierDown,
    OpenLinks,
    OwnNetworkChecked,
    PauseChanged,
    PeerAnswered,
    PeerCheckEnded,
    PeerQueryDue,
    PeerView,
    PrimaryUnreachable,
    ProbeNotifier,
    QueryPeer,
    ReconnectExpired,
    ReconnectProbed,
    ReconnectProbeDue,
    RejoinRequested,
    RerunCommence,
    Resync,
    ScheduleSwitchAfterStartup,
    StartupComplete,
    StartMonitors,
    StartReconnectTimer,
    State,
    Stop,
    StopMonitors,
    TellPeerDiscontinue,
    WatchOwnNetwork,
    rank,
    step,
)

AUTO = Context()
MANUAL = Context(manual_switch_only=True)
NO_WAIT = Context(reconnect_timeout=0)
NEVER_UNREACHABLE = Context(unreachable_switch_allowed=False)
AS_B = Context(letter="B")
FORCED = Context(force_backup=True)
CUT_OFF = Context(cut_off=True)
GEN5 = Context(generation=5, letter="A")
GEN5_B = Context(generation=5, letter="B")
PEER_UP = Context(peer_active=True)
HANDING = Context(peer_active=True, handing_over=True)
READY = Context(backup_ready=True)
PAUSED = Context(manual_switch_only=True, paused=True)
PAUSED_READY = Context(manual_switch_only=True, paused=True, backup_ready=True)
AUTO_REJOIN = Context(auto_rejoin=True)
STARTING = Context(starting_up=True)
SCHEDULED = Context(switch_scheduled=REASON_TS_PING)


def rejoin(state: str | None, upgrade=None):
    view = None if state is None else PeerView("ICServer2", state, 3, "B", upgrade)
    return RejoinRequested(view, "ICServer2")


def peer(state: str, generation: int = 1, letter: str = "B", upgrade=None, pairing=""):
    return PeerAnswered(PeerView("ICServer2", state, generation, letter, upgrade, pairing),
                        "ICServer2")


def healed(state: str, generation: int = 1, letter: str = "B"):
    """The peer answers again after it had not (a partition healed, or a restart)."""
    return dataclasses.replace(peer(state, generation, letter), returned=True)


NO_ANSWER = PeerAnswered(None, "ICServer2")
S = State
# (id, state, event, ctx, expected state, expected action types, reason fragment)
ROWS = [
    # --- Init ("The Init State"): is the companion active?
    ("init-fail-safe", S.INIT, NO_ANSWER, AUTO, S.PRIMARY, [BecomeActive, QueryPeer],
     "starting active (fail-safe)"),
    ("init-peer-active", S.INIT, peer("Primary"), AUTO, S.BACKUP,
     [OpenLinks, StartMonitors, QueryPeer], "starting as backup of ICServer2"),
    ("init-peer-active-manual", S.INIT, peer("Primary"), MANUAL, S.BACKUP,
     [OpenLinks, QueryPeer], "manual switch mode"),
    ("init-upgrade-higher", S.INIT, peer("Primary", upgrade="higher"), AUTO,
     S.UPGRADE_HIGHER, [OpenLinks, QueryPeer], "backup of ICServer2"),
    ("init-upgrade-lower", S.INIT, peer("Primary", upgrade="lower"), AUTO, S.UPGRADE_LOWER,
     [OpenLinks, QueryPeer], "backup of ICServer2"),
    ("init-both-starting-a", S.INIT, peer("Init"), AUTO, S.PRIMARY, [BecomeActive, QueryPeer],
     "SwitchoverServer A comes up active first"),
    ("init-both-starting-b", S.INIT, peer("Init", letter="A"), AS_B, S.INIT, [QueryPeer],
     "asking again"),
    ("init-peer-reconnecting", S.INIT, peer("Reconnecting"), AUTO, S.PRIMARY,
     [BecomeActive, QueryPeer], "resuming as the active server"),
    ("init-peer-backup", S.INIT, peer("Backup"), AUTO, S.PRIMARY, [BecomeActive, QueryPeer],
     "the backup of this server"),
    ("init-peer-stale", S.INIT, peer("Inactive"), AUTO, S.PRIMARY, [BecomeActive, QueryPeer],
     "is Inactive, not active"),
    ("init-forced-unreachable", S.INIT, NO_ANSWER, FORCED, S.BACKUP,
     [OpenLinks, StartMonitors, QueryPeer], "forced backup"),
    ("init-forced-peer-backup", S.INIT, peer("Backup"), FORCED, S.BACKUP,
     [OpenLinks, StartMonitors, QueryPeer], "forced backup"),
    ("init-pairing-mismatch", S.INIT, peer("Primary", pairing="pairing mismatch: x"), AUTO,
     S.ERROR, [Log], "pairing mismatch"),
    ("init-ignores-monitors", S.INIT, ModuleDown(), AUTO, S.INIT, [], "ignored"),
    # --- the live peer view: every state asks again at the interval
    ("query-due", S.BACKUP, PeerQueryDue(), AUTO, S.BACKUP, [QueryPeer], "asking the peer"),
    ("query-due-stale", S.INACTIVE, PeerQueryDue(), AUTO, S.INACTIVE, [QueryPeer], "asking"),
    ("backup-sees-peer", S.BACKUP, peer("Primary"), AUTO, S.BACKUP, [QueryPeer], "no action"),
    ("stale-sees-peer", S.INACTIVE, peer("Primary"), AUTO, S.INACTIVE, [QueryPeer], "stale"),
    ("primary-sees-backup", S.PRIMARY, peer("Backup"), AUTO, S.PRIMARY, [QueryPeer],
     "ICServer2 is Backup"),
    ("primary-peer-silent", S.PRIMARY, NO_ANSWER, AUTO, S.PRIMARY, [QueryPeer],
     "does not answer"),
    # --- two actives meet: generation rank, a tie to SwitchoverServer A
    ("two-actives-newer-peer", S.PRIMARY, peer("Primary", 6), GEN5, S.INACTIVE,
     [CloseLinks, GoStale, QueryPeer], "no longer active"),
    # an old active answering all along is still running the discontinue our switch told
    # it to: nothing to re-announce over (it announced before us)
    ("two-actives-older-peer", S.PRIMARY, peer("Primary", 4), GEN5, S.PRIMARY,
     [Log, TellPeerDiscontinue, QueryPeer], "telling it"),
    ("two-actives-tie-a-stays", S.PRIMARY, peer("Primary", 5, "B"), GEN5, S.PRIMARY,
     [Log, TellPeerDiscontinue, QueryPeer], "not newer"),
    ("two-actives-after-a-partition", S.PRIMARY, healed("Primary", 4), GEN5, S.PRIMARY,
     [Log, TellPeerDiscontinue, RerunCommence, QueryPeer], "re-running the commence hooks"),
    # --- a partition heals: whoever stays active announces again (with or without witness)
    ("partition-healed-peer-stale", S.PRIMARY, healed("Inactive"), AUTO, S.PRIMARY,
     [QueryPeer, RerunCommence], "partition healed: ICServer2 answers again, stale"),
    ("partition-healed-peer-never-served", S.PRIMARY, healed("Reconnecting"), AUTO,
     S.PRIMARY, [QueryPeer], "ICServer2 is Reconnecting"),
    ("peer-restarted-no-rerun", S.PRIMARY, healed("Init", letter="B"), AUTO, S.PRIMARY,
     [QueryPeer], "ICServer2 is Init"),
    ("partition-healed-backup-no-rerun", S.BACKUP, healed("Primary"), AUTO, S.BACKUP,
     [QueryPeer], "no action"),
    ("two-actives-tie-b-yields", S.PRIMARY, peer("Primary", 5, "A"), GEN5_B, S.INACTIVE,
     [CloseLinks, GoStale, QueryPeer], "no longer active"),
    ("discontinue-newer", S.PRIMARY, DiscontinueRequested("ICServer2", 6, "B"), GEN5,
     S.INACTIVE, [CloseLinks, GoStale], "generation 6 (ours 5)"),
    ("discontinue-older", S.PRIMARY, DiscontinueRequested("ICServer2", 2, "B"), GEN5,
     S.PRIMARY, [Log, TellPeerDiscontinue, RerunCommence], "not newer than ours (5)"),
    ("discontinue-in-backup", S.BACKUP, DiscontinueRequested("ICServer2", 7, "B"), AUTO,
     S.BACKUP, [], "ignored"),
    # --- Backup: Module Down
    ("module-down-manual", S.BACKUP, ModuleDown(), MANUAL, S.STOPPING,
     [StopMonitors, CloseLinks], "manual mode: going to StateStopping"),
    ("module-down-switch", S.BACKUP, ModuleDown(), AUTO, S.PRIMARY,
     [StopMonitors, CloseLinks, BecomeActive],
     "Module is down, switching now and going to StatePrimary"),
    ("module-down-starting-up", S.BACKUP, ModuleDown(), STARTING, S.BACKUP,
     [StopMonitors, ScheduleSwitchAfterStartup], "once startup has completed"),
    ("module-down-starting-up-reconnecting", S.RECONNECTING, ModuleDown(), STARTING,
     S.BACKUP, [CancelReconnectTimer, StopMonitors, ScheduleSwitchAfterStartup],
     "starting up"),
    ("startup-complete-scheduled", S.BACKUP, StartupComplete(), SCHEDULED, S.PRIMARY,
     [StopMonitors, CloseLinks, BecomeActive], "performing the scheduled switch"),
    ("startup-complete-nothing", S.BACKUP, StartupComplete(), AUTO, S.BACKUP, [],
     "no switch scheduled"),
    ("startup-complete-upgrade", S.UPGRADE_HIGHER, StartupComplete(), SCHEDULED,
     S.UPGRADE_HIGHER, [], "no switch scheduled"),
    # --- Backup: Network Down (this server is cut off: no timer, watch its own network)
    ("network-down", S.BACKUP, NetworkDown(), AUTO, S.RECONNECTING,
     [StopMonitors, CancelReconnectTimer, WatchOwnNetwork, ProbeNotifier], "cut off"),
    # --- Backup: Notifier Down
    ("notifier-down-manual", S.BACKUP, NotifierDown(True, False), MANUAL,
     S.RECONNECTING, [ProbeNotifier], "manual switch mode"),
    ("notifier-down-both-down", S.BACKUP, NotifierDown(False, False), AUTO,
     S.RECONNECTING, [StopMonitors, StartReconnectTimer, ProbeNotifier],
     "both connections are down"),
    ("notifier-down-main-up", S.BACKUP, NotifierDown(True, False), AUTO,
     S.RECONNECTING, [StopMonitors, StartReconnectTimer, ProbeNotifier],
     "the main connection is up"),
    ("notifier-down-aux-up", S.BACKUP, NotifierDown(False, True), AUTO,
     S.RECONNECTING, [StopMonitors, StartReconnectTimer, ProbeNotifier],
     "the auxiliary connection is up"),
    # --- Backup: Primary Unreachable
    ("primary-unreachable", S.BACKUP, PrimaryUnreachable("10.0.0.1", 3), AUTO,
     S.RECONNECTING, [StopMonitors, StartReconnectTimer, ProbeNotifier],
     "Primary [10.0.0.1] is unreachable"),
    ("primary-unreachable-never-switch", S.BACKUP, PrimaryUnreachable(), NEVER_UNREACHABLE,
     S.RECONNECTING, [StopMonitors, ProbeNotifier], "Ping Count is -1"),
    # --- Reconnect timeout 0: switch at once
    ("reconnect-timeout-0", S.BACKUP, NotifierDown(False, False), NO_WAIT, S.PRIMARY,
     [StopMonitors, CloseLinks, BecomeActive], "Reconnect Timeout is 0"),
    # --- the reasons the backup becomes primary from Reconnecting
    ("reason-module-down", S.RECONNECTING, ModuleDown(), AUTO, S.PRIMARY,
     [CancelReconnectTimer, StopMonitors, CloseLinks, BecomeActive], "Module is down"),
    ("reason-primary-unreachable", S.RECONNECTING, PrimaryUnreachable(), AUTO, S.PRIMARY,
     [CancelReconnectTimer, StopMonitors, CloseLinks, BecomeActive], "Primary is unreachable"),
    ("reason-reconnect-expired", S.RECONNECTING, ReconnectExpired(), AUTO, S.PRIMARY,
     [Log, CancelReconnectTimer, StopMonitors, CloseLinks, BecomeActive],
     "Lost connections to the primary, going to StatePrimary and switching now"),
    ("unreachable-never-switch", S.RECONNECTING, PrimaryUnreachable(), NEVER_UNREACHABLE,
     S.RECONNECTING, [], "waiting"),
    ("expired-manual", S.RECONNECTING, ReconnectExpired(), MANUAL, S.RECONNECTING, [],
     "manual switch mode"),
    # --- the reconnect probe schedule, and back to Backup with a resynchronisation
    ("probe-due", S.RECONNECTING, ReconnectProbeDue(), AUTO, S.RECONNECTING,
     [ProbeNotifier], "pinging the primary's notifier"),
    ("probe-failed", S.RECONNECTING, ReconnectProbed(False), AUTO, S.RECONNECTING,
     [ProbeNotifier], "does not answer yet"),
    ("probe-answered", S.RECONNECTING, ReconnectProbed(True), AUTO, S.BACKUP,
     [CancelReconnectTimer, Resync, StartMonitors], "going to StateBackup and resynchronizing"),
    ("probe-answered-manual", S.RECONNECTING, ReconnectProbed(True), MANUAL, S.BACKUP,
     [CancelReconnectTimer, Resync], "resynchronizing"),
    ("late-probe-in-backup", S.BACKUP, ReconnectProbed(True), AUTO, S.BACKUP, [], "ignored"),
    # --- the cut-off backup's own network
    ("own-network-still-down", S.RECONNECTING, OwnNetworkChecked(False), CUT_OFF,
     S.RECONNECTING, [WatchOwnNetwork], "still down"),
    ("network-restored", S.RECONNECTING, OwnNetworkChecked(True), CUT_OFF, S.RECONNECTING,
     [StartReconnectTimer], "network of this server is restored"),
    ("network-restored-manual", S.RECONNECTING, OwnNetworkChecked(True),
     dataclasses.replace(MANUAL, cut_off=True), S.RECONNECTING, [], "waiting for it"),
    ("own-network-not-in-question", S.RECONNECTING, OwnNetworkChecked(True), AUTO,
     S.RECONNECTING, [], "not in question"),
    ("network-down-while-reconnecting", S.RECONNECTING, NetworkDown(), AUTO, S.RECONNECTING,
     [StopMonitors, CancelReconnectTimer, WatchOwnNetwork, ProbeNotifier], "cut off"),
    ("notifier-down-while-reconnecting", S.RECONNECTING, NotifierDown(), AUTO,
     S.RECONNECTING, [], "ignored"),
    # --- resync after an outage where no monitor runs (manual mode, upgrade states)
    ("links-back-manual", S.BACKUP, LinksRestored(), MANUAL, S.BACKUP, [Resync],
     "manual switch mode"),
    ("links-back-upgrade", S.UPGRADE_HIGHER, LinksRestored(), AUTO, S.UPGRADE_HIGHER,
     [Resync], "resynchronizing"),
    ("links-back-auto", S.BACKUP, LinksRestored(), AUTO, S.BACKUP, [], "monitors"),
    ("links-back-reconnecting", S.RECONNECTING, LinksRestored(), AUTO, S.RECONNECTING, [],
     "reconnect probe"),
    # --- manual switch
    ("manual-from-backup", S.BACKUP, ManualSwitch(), AUTO, S.PRIMARY,
     [StopMonitors, CloseLinks, BecomeActive], "eInternalSwitchReq"),
    ("manual-from-backup-manual-mode", S.BACKUP, ManualSwitch(immediate=True), MANUAL,
     S.PRIMARY, [StopMonitors, CloseLinks, BecomeActive], "immediate switch request"),
    ("manual-from-reconnecting", S.RECONNECTING, ManualSwitch(), AUTO, S.PRIMARY,
     [CancelReconnectTimer, StopMonitors, CloseLinks, BecomeActive], "eInternalSwitchReq"),
    ("manual-in-primary", S.PRIMARY, ManualSwitch(), AUTO, S.PRIMARY, [], "already"),
    # --- planned hand-over: the old active discontinues before the new one commences
    ("manual-hands-over", S.BACKUP, ManualSwitch(), PEER_UP, S.BACKUP,
     [StopMonitors, AskPeerToHandOver], "asking the active server to discontinue first"),
    ("manual-immediate-does-not-wait", S.BACKUP, ManualSwitch(True), PEER_UP, S.PRIMARY,
     [StopMonitors, CloseLinks, BecomeActive], "immediate switch request"),
    ("manual-while-handing-over", S.BACKUP, ManualSwitch(), HANDING, S.BACKUP, [],
     "already under way"),
    ("handed-over", S.BACKUP, HandedOver("ICServer1"), HANDING, S.PRIMARY,
     [StopMonitors, CloseLinks, BecomeActive], "has discontinued"),
    ("hand-over-timed-out", S.BACKUP, HandOverTimedOut(), HANDING, S.PRIMARY,
     [Log, StopMonitors, CloseLinks, BecomeActive], "did not confirm"),
    ("hand-over-timer-late", S.BACKUP, HandOverTimedOut(), AUTO, S.BACKUP, [], "ignored"),
    ("active-stopped-takes-over", S.BACKUP, HandedOver("ICServer1"), AUTO, S.PRIMARY,
     [StopMonitors, CloseLinks, BecomeActive], "is stopping and has discontinued"),
    ("active-stopped-manual-mode", S.BACKUP, HandedOver("ICServer1"), MANUAL, S.BACKUP,
     [Log], "not taking over in manual switch mode"),
    ("active-stopped-upgrade", S.UPGRADE_LOWER, HandedOver("ICServer1"), AUTO,
     S.UPGRADE_LOWER, [Log], "not taking over in UpgradeLower"),
    ("hand-over-requested", S.PRIMARY, HandOverRequested("ICServer2"), AUTO, S.INACTIVE,
     [CloseLinks, GoStale], "planned hand-over"),
    ("stop-active-backup-ready", S.PRIMARY, Stop(), READY, S.STOPPING,
     [StopMonitors, CloseLinks, Discontinue], "handing over"),
    ("stop-active-no-backup", S.PRIMARY, Stop(), AUTO, S.STOPPING,
     [StopMonitors, CloseLinks, Discontinue], "no backup ready"),
    # --- maintenance mode (switchover pause / resume)
    ("pause-backup", S.BACKUP, PauseChanged(True), PAUSED, S.BACKUP, [StopMonitors],
     "automatic switching is off until resumed"),
    ("resume-backup", S.BACKUP, PauseChanged(False), AUTO, S.BACKUP, [StartMonitors],
     "automatic switching is on again"),
    ("resume-backup-manual-flag", S.BACKUP, PauseChanged(False), MANUAL, S.BACKUP, [],
     "still in manual switch mode"),
    ("pause-reconnecting", S.RECONNECTING, PauseChanged(True), PAUSED, S.RECONNECTING, [],
     "no longer switches"),
    ("resume-reconnecting", S.RECONNECTING, PauseChanged(False), AUTO, S.RECONNECTING,
     [StartReconnectTimer], "resumed"),
    ("resume-reconnecting-cut-off", S.RECONNECTING, PauseChanged(False), CUT_OFF,
     S.RECONNECTING, [], "waiting for the primary"),
    ("pause-upgrade", S.UPGRADE_LOWER, PauseChanged(True), PAUSED, S.UPGRADE_LOWER, [],
     "never switches automatically anyway"),
    ("pause-primary", S.PRIMARY, PauseChanged(True), PAUSED, S.PRIMARY, [], "ignored"),
    ("paused-module-down", S.BACKUP, ModuleDown(), PAUSED, S.STOPPING,
     [StopMonitors, CloseLinks], "manual mode"),
    ("paused-expired", S.RECONNECTING, ReconnectExpired(), PAUSED, S.RECONNECTING, [],
     "manual switch mode"),
    ("stop-active-paused", S.PRIMARY, Stop(), PAUSED_READY, S.STOPPING,
     [StopMonitors, CloseLinks, Discontinue], "the pair is paused"),
    # --- Upgrade states (Appendix C): never switch automatically, manual switch works
    ("upgrade-higher-module-down", S.UPGRADE_HIGHER, ModuleDown(), AUTO, S.UPGRADE_HIGHER,
     [Log], "never switches automatically"),
    ("upgrade-lower-notifier-down", S.UPGRADE_LOWER, NotifierDown(False, False), AUTO,
     S.UPGRADE_LOWER, [Log], "never switches automatically"),
    ("upgrade-lower-unreachable", S.UPGRADE_LOWER, PrimaryUnreachable(), AUTO,
     S.UPGRADE_LOWER, [Log], "never switches automatically"),
    ("upgrade-higher-manual", S.UPGRADE_HIGHER, ManualSwitch(), AUTO, S.PRIMARY,
     [Log, StopMonitors, CloseLinks, BecomeActive], "eInternalSwitchReq"),
    ("upgrade-lower-manual", S.UPGRADE_LOWER, ManualSwitch(), AUTO, S.PRIMARY,
     [Log, StopMonitors, CloseLinks, BecomeActive], "eInternalSwitchReq"),
    # --- stale servers come back: switchover rejoin, Switchover Auto Rejoin
    ("rejoin", S.INACTIVE, rejoin("Primary"), AUTO, S.BACKUP, [OpenLinks, StartMonitors],
     "rejoining as backup of ICServer2 (an operator asked)"),
    ("rejoin-manual-mode", S.INACTIVE, rejoin("Primary"), MANUAL, S.BACKUP, [OpenLinks],
     "rejoining"),
    ("rejoin-newer-release", S.INACTIVE, rejoin("Primary", "lower"), AUTO, S.UPGRADE_LOWER,
     [OpenLinks], "rejoining"),
    ("rejoin-peer-silent", S.INACTIVE, rejoin(None), AUTO, S.INACTIVE, [],
     "rejoin refused: ICServer2 does not answer"),
    ("rejoin-peer-not-active", S.INACTIVE, rejoin("Inactive"), AUTO, S.INACTIVE, [],
     "rejoin refused: ICServer2 is Inactive"),
    ("auto-rejoin", S.INACTIVE, peer("Primary"), AUTO_REJOIN, S.BACKUP,
     [OpenLinks, StartMonitors, QueryPeer], "Switchover Auto Rejoin is Yes"),
    ("auto-rejoin-off", S.INACTIVE, peer("Primary"), AUTO, S.INACTIVE, [QueryPeer],
     "switchover rejoin"),
    ("auto-rejoin-peer-not-active", S.INACTIVE, peer("Backup"), AUTO_REJOIN, S.INACTIVE,
     [QueryPeer], "no action"),
    ("rejoin-only-when-stale", S.BACKUP, rejoin("Primary"), AUTO, S.BACKUP, [], "ignored"),
    # --- Inactive (stale)
    ("inactive-manual", S.INACTIVE, ManualSwitch(), AUTO, S.INACTIVE, [], "stale"),
    ("inactive-module-down", S.INACTIVE, ModuleDown(), AUTO, S.INACTIVE, [], "stale"),
    # --- Stopping, Error
    ("stop-backup", S.BACKUP, Stop(), AUTO, S.STOPPING, [StopMonitors, CloseLinks],
     "shutdown"),
    ("stop-inactive", S.INACTIVE, Stop(), AUTO, S.STOPPING, [StopMonitors, CloseLinks],
     "shutdown"),
    ("stopping-is-final", S.STOPPING, ManualSwitch(), AUTO, S.STOPPING, [], "stopping"),
    ("fatal", S.RECONNECTING, Fatal("disk full"), AUTO, S.ERROR, [StopMonitors, Log],
     "disk full"),
    ("error-stays", S.ERROR, ModuleDown(), AUTO, S.ERROR, [], "ignored"),
    ("error-stop", S.ERROR, Stop(), AUTO, S.STOPPING, [StopMonitors, CloseLinks], "shutdown"),
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
    (S.RECONNECTING, PrimaryUnreachable(), AUTO, REASON_NOTIFIER),
    (S.BACKUP, NotifierDown(False, False), NO_WAIT, REASON_NOTIFIER),
    (S.BACKUP, ManualSwitch(), AUTO, REASON_MANUAL),
    (S.UPGRADE_LOWER, ManualSwitch(True), AUTO, REASON_MANUAL),
    (S.BACKUP, HandedOver("ICServer1"), HANDING, REASON_MANUAL),
    (S.BACKUP, HandOverTimedOut(), HANDING, REASON_MANUAL),
    (S.RECONNECTING, HandedOver("ICServer1"), AUTO, REASON_HANDOVER),
    (S.BACKUP, StartupComplete(), SCHEDULED, REASON_TS_PING),
]


def test_a_stop_hands_over_only_to_a_ready_backup():
    ready = [a for a in step(S.PRIMARY, Stop(), READY).actions if isinstance(a, Discontinue)]
    alone = [a for a in step(S.PRIMARY, Stop(), AUTO).actions if isinstance(a, Discontinue)]
    assert ready[0].tell_peer and not alone[0].tell_peer
    (stale,) = [a for a in step(S.PRIMARY, HandOverRequested("B"), AUTO).actions
                if isinstance(a, GoStale)]
    assert stale.tell_peer


@pytest.mark.parametrize("state, event, ctx, reason", SWITCH_REASON_ROWS)
def test_switch_reason_is_one_of_the_references(state, event, ctx, reason):
    t = step(state, event, ctx)
    (become,) = [a for a in t.actions if isinstance(a, BecomeActive)]
    assert become.reason == reason and become.switch


def test_a_start_as_the_active_server_is_no_switch():
    """Generations count switches: Init's BecomeActive keeps the generation."""
    for event in (NO_ANSWER, peer("Reconnecting"), peer("Init")):
        (become,) = [a for a in step(S.INIT, event, AUTO).actions
                     if isinstance(a, BecomeActive)]
        assert not become.switch


def test_rank_orders_generations_then_prefers_a():
    assert rank(3, "B") > rank(2, "A")
    assert rank(2, "A") > rank(2, "B")


def test_reconnect_timer_uses_the_parameter():
    t = step(S.BACKUP, NotifierDown(False, False), Context(reconnect_timeout=45))
    (timer,) = [a for a in t.actions if isinstance(a, StartReconnectTimer)]
    assert timer.seconds == 45
    assert timer.message == "Scheduling reconnect timeout to execute in 45 second(s)"
    assert "Scheduling reconnect timeout to execute in 45 second(s)" in t.reason


def test_probes_and_queries_use_their_intervals():
    ctx = Context(reconnect_delay=7, peer_query_interval=3)
    t = step(S.BACKUP, NotifierDown(False, False), ctx)
    assert ProbeNotifier(7) in t.actions
    assert step(S.RECONNECTING, ReconnectProbed(False), ctx).actions == (ProbeNotifier(7),)
    assert step(S.BACKUP, peer("Primary"), ctx).actions == (QueryPeer(3),)
    assert step(S.INIT, peer("Init", letter="A"), Context(letter="B")).actions == (
        QueryPeer(1.0),)


def test_reconnect_expired_logs_the_references_line():
    t = step(S.RECONNECTING, ReconnectExpired(), AUTO)
    (log,) = [a for a in t.actions if isinstance(a, Log)]
    assert log.message == (
        "Reconnect period expired, posting [event=eConnectionsDown] to initiate a switchover"
    )


def test_a_cut_off_backup_switches_only_after_its_network_is_back_and_the_timer_runs():
    """Issue: a backup cut off from its own network while the active died waited for
    ever. Now: NetworkDown (no timer) -> own network back (timer) -> expiry -> switch."""
    t = step(S.BACKUP, NetworkDown(), AUTO)
    assert not any(isinstance(a, StartReconnectTimer) for a in t.actions)
    t = step(t.state, OwnNetworkChecked(True), CUT_OFF)
    assert any(isinstance(a, StartReconnectTimer) for a in t.actions)
    t = step(t.state, ReconnectExpired(), AUTO)
    assert t.state is S.PRIMARY


def test_inactive_never_becomes_primary_again():
    state = step(S.PRIMARY, DiscontinueRequested("B", 2, "B"), AUTO).state
    assert state is S.INACTIVE
    events = [ManualSwitch(True), ModuleDown(), ReconnectExpired(), NO_ANSWER,
              peer("Backup"), NotifierDown(False, False), ReconnectProbed(True),
              OwnNetworkChecked(True), LinksRestored()]
    for event in events:
        t = step(state, event, AUTO)
        assert t.state is S.INACTIVE
        assert not any(isinstance(a, BecomeActive) for a in t.actions)


def test_backup_and_reconnecting_alternate_until_restored():
    """The note: moving between Backup and Reconnecting is normal while reconnecting."""
    state = S.BACKUP
    for event, expected in [
        (NotifierDown(True, False), S.RECONNECTING),
        (ReconnectProbed(True), S.BACKUP),
        (NotifierDown(False, False), S.RECONNECTING),
        (ReconnectProbed(True), S.BACKUP),
    ]:
        state = step(state, event, AUTO).state
        assert state is expected


EVENTS = [NO_ANSWER, peer("Primary"), peer("Init", letter="A"), peer("Backup"),
          peer("Primary", 9, "A"), PeerQueryDue(), DiscontinueRequested("B", 9, "B"), Stop(),
          Fatal("x"), NetworkDown(), OwnNetworkChecked(True), OwnNetworkChecked(False),
          ModuleDown(), NotifierDown(), PrimaryUnreachable(), ReconnectExpired(),
          ReconnectProbeDue(), ReconnectProbed(True), ReconnectProbed(False), LinksRestored(),
          ManualSwitch(), ManualSwitch(True), HandOverRequested("B"), HandedOver("B"),
          HandOverTimedOut(), PauseChanged(True), PauseChanged(False), rejoin("Primary"),
          rejoin(None), StartupComplete(), healed("Primary", 9, "A"), healed("Backup"),
          PeerCheckEnded(True, 1.0), PeerCheckEnded(False, 1.0)]
CONTEXTS = [AUTO, MANUAL, NO_WAIT, NEVER_UNREACHABLE, AS_B, FORCED, CUT_OFF, GEN5, PEER_UP,
            HANDING, READY, PAUSED, PAUSED_READY, AUTO_REJOIN, STARTING, SCHEDULED]


def test_every_state_event_pair_is_total_and_keeps_the_invariants():
    """Every (state, event, context) gives a transition whose reason says what happened,
    and the invariants an operator relies on hold for all of them."""
    for state in State:
        for event in EVENTS:
            for ctx in CONTEXTS:
                t = step(state, event, ctx)
                kinds = {type(a) for a in t.actions}
                assert t.reason.strip() and t.reason[0].isalpha(), (state, event)
                became = [a for a in t.actions if isinstance(a, BecomeActive)]
                # only a transition into Primary makes this server active, and only once
                assert len(became) == (1 if t.state in ACTIVE_STATES
                                       and state not in ACTIVE_STATES else 0), (state, event)
                if became and became[0].switch:
                    assert state in BACKUP_STATES and became[0].reason in SWITCH_REASONS
                    assert CloseLinks in kinds and StopMonitors in kinds
                # stale, stopping and error never become active again
                if state in (S.INACTIVE, S.STOPPING, S.ERROR):
                    assert t.state not in ACTIVE_STATES
                # an upgrade state switches on an operator's request only
                if state in (S.UPGRADE_HIGHER, S.UPGRADE_LOWER) and t.state is S.PRIMARY:
                    assert isinstance(event, ManualSwitch) or ctx.handing_over
                # a paused pair never switches by itself, nor hands over on a stop
                if ctx.paused and t.state is S.PRIMARY and state in BACKUP_STATES:
                    assert isinstance(event, ManualSwitch) or ctx.handing_over
                if ctx.paused and state is S.PRIMARY:
                    assert not any(getattr(a, "tell_peer", False) for a in t.actions) or \
                        isinstance(event, HandOverRequested)
                # an active that stops always runs its discontinue hooks
                if state is S.PRIMARY and t.state in (S.STOPPING, S.INACTIVE):
                    assert kinds & {Discontinue, GoStale}
                # a cut-off backup never starts its reconnect timer on its own events,
                # only when its own network is back
                if ctx.cut_off and StartReconnectTimer in kinds and state is S.RECONNECTING:
                    assert event == OwnNetworkChecked(True)
                # nothing that is not a decision says it decided
                if t.reason.startswith("no action"):
                    assert t.state is state
                    assert not kinds & {BecomeActive, GoStale, Resync, StartReconnectTimer}


# --- the witness (docs/witness.md): the key is the right to be active -----------------

from switchover.actors.state_actions import AskPeerToHandOver as _Ask  # noqa: E402
from switchover.actors.state_actions import CheckPeer, PendSwitch, TakeWitness  # noqa: E402
from switchover.actors.witness_messages import (  # noqa: E402
    Holder,
    WitnessAcquired,
    WitnessHeldBy,
    WitnessLost,
    WitnessUnreachable,
)

WIT = Context(witness=True)
WIT_PEER_UP = Context(witness=True, peer_active=True)
#: An active with the key, and one that lost it (WitnessLost, or etcd down since).
WIT_KEY = Context(witness=True, witness_key=True, server_name="ICServer1")
WIT_NO_KEY = Context(witness=True, witness_key=False, server_name="ICServer1")
PENDING = Context(witness=True, switch_pending=REASON_TS_PING)
PENDING_START = Context(witness=True, switch_pending="fail-safe", pending_is_switch=False)
HOLDER_B = Holder("ICServer2", 3)
HOLDER_ME = Holder("ICServer1", 2)
DEMOTED = [StopMonitors, CloseLinks, GoStale]

WITNESS_ROWS = [
    ("witness-switch-waits-for-the-key", S.BACKUP, ModuleDown(), WIT_PEER_UP, S.BACKUP,
     [StopMonitors, _Ask, PendSwitch, TakeWitness], "waiting for the witness key first"),
    ("witness-expired-waits-for-the-key", S.RECONNECTING, ReconnectExpired(), WIT,
     S.RECONNECTING, [Log, CancelReconnectTimer, StopMonitors, PendSwitch, TakeWitness],
     "waiting for the witness key"),
    ("witness-fail-safe-start-waits", S.INIT, NO_ANSWER, WIT, S.INIT,
     [QueryPeer, PendSwitch, TakeWitness], "waiting for the witness key"),
    ("witness-no-gate-without-witness", S.BACKUP, ModuleDown(), AUTO, S.PRIMARY,
     [StopMonitors, CloseLinks, BecomeActive], "switching now"),
    ("witness-key-taken-switches", S.BACKUP, WitnessAcquired(HOLDER_B, 10),
     dataclasses.replace(PENDING, witness_key=True), S.PRIMARY,
     [StopMonitors, CloseLinks, BecomeActive], "took the witness key"),
    ("witness-key-taken-reconnecting", S.RECONNECTING, WitnessAcquired(HOLDER_B, 10),
     dataclasses.replace(PENDING, witness_key=True), S.PRIMARY,
     [CancelReconnectTimer, StopMonitors, CloseLinks, BecomeActive], "took the witness key"),
    ("witness-held-by-the-active", S.BACKUP, WitnessHeldBy(Holder("ICServer1", 2)), PENDING,
     S.BACKUP, [], "held by ICServer1"),
    ("witness-unreachable-no-switch", S.RECONNECTING, WitnessUnreachable("refused", False),
     PENDING, S.RECONNECTING, [Log], "no automatic switch: the witness is unreachable"),
    ("witness-unreachable-healthy", S.PRIMARY, WitnessUnreachable("refused", True), WIT_KEY,
     S.PRIMARY, [], "no action"),
    # the key lost: ask the peer at once, with a deadline inside the margin
    ("witness-lost-checks-the-peer", S.PRIMARY, WitnessLost(HOLDER_ME, "timeout", 3.0),
     WIT_NO_KEY, S.PRIMARY, [CheckPeer, TakeWitness],
     "demoting itself unless it answers within 1.0 s"),
    ("witness-lost-no-margin-demotes", S.PRIMARY, WitnessLost(HOLDER_ME, "deleted", 0.0),
     WIT_NO_KEY, S.INACTIVE, DEMOTED, "no margin left"),
    ("witness-lost-not-active", S.BACKUP, WitnessLost(HOLDER_ME, "timeout", 3.0), WIT,
     S.BACKUP, [], "not active"),
    ("witness-check-answered-stays", S.PRIMARY, PeerCheckEnded(True, 1.0), WIT_NO_KEY,
     S.PRIMARY, [Log], "the peer answered within 1.0 s: staying active"),
    ("witness-check-silent-demotes", S.PRIMARY, PeerCheckEnded(False, 1.0), WIT_NO_KEY,
     S.INACTIVE, DEMOTED, "did not answer within 1.0 s: demoting itself before the key"),
    ("witness-check-key-back", S.PRIMARY, PeerCheckEnded(False, 1.0), WIT_KEY, S.PRIMARY,
     [], "no action: the peer check ended; the witness key is held again"),
    ("witness-check-not-active", S.INACTIVE, PeerCheckEnded(False, 1.0), WIT_NO_KEY,
     S.INACTIVE, [], "no action"),
    # an active without the key: the peer going silent demotes it at once
    ("witness-keyless-peer-silent-demotes", S.PRIMARY, NO_ANSWER, WIT_NO_KEY, S.INACTIVE,
     DEMOTED + [QueryPeer], "the witness key is not held and ICServer2 does not answer"),
    ("witness-keyless-peer-answers-stays", S.PRIMARY, peer("Backup"), WIT_NO_KEY,
     S.PRIMARY, [QueryPeer], "ICServer2 is Backup"),
    ("witness-holder-peer-silent-stays", S.PRIMARY, NO_ANSWER, WIT_KEY, S.PRIMARY,
     [QueryPeer], "does not answer"),
    # another server holds the key: it has the right to be active
    ("witness-held-by-another-demotes", S.PRIMARY, WitnessHeldBy(HOLDER_B), WIT_KEY,
     S.INACTIVE, DEMOTED, "held by ICServer2 (generation 3): that server has the right"),
    ("witness-held-by-own-old-lease", S.PRIMARY, WitnessHeldBy(HOLDER_ME), WIT_NO_KEY,
     S.PRIMARY, [], "no action"),
    ("witness-partition-healed-reruns", S.PRIMARY, healed("Inactive"), WIT_KEY, S.PRIMARY,
     [QueryPeer, RerunCommence], "partition healed"),
    ("witness-pending-keeps-its-reason", S.BACKUP, HandedOver("ICServer1"),
     dataclasses.replace(PENDING, handing_over=True), S.BACKUP, [StopMonitors, TakeWitness],
     "still waiting for the witness key to switch (TS Ping Failure)"),
    ("witness-acquired-not-pending", S.BACKUP, WitnessAcquired(HOLDER_B, 10), WIT, S.BACKUP,
     [], "no action"),
]


@pytest.mark.parametrize(
    "state, event, ctx, expected, action_types, fragment",
    [row[1:] for row in WITNESS_ROWS],
    ids=[row[0] for row in WITNESS_ROWS],
)
def test_witness_rule(state, event, ctx, expected, action_types, fragment):
    t = step(state, event, ctx)
    assert t.state is expected
    assert [type(a) for a in t.actions] == action_types
    assert fragment in t.reason


def test_with_a_witness_nothing_becomes_active_without_the_key():
    """The invariant the witness exists for, over every state, event and context."""
    contexts = [dataclasses.replace(c, witness=True, witness_key=False) for c in CONTEXTS]
    for state in State:
        for event in EVENTS:
            for ctx in contexts:
                t = step(state, event, ctx)
                if state is not S.PRIMARY:
                    assert t.state is not S.PRIMARY, (state, event)
    # once the key is taken, the pending start or switch happens, with its own reason
    t = step(S.INIT, WitnessAcquired(HOLDER_B, 10), dataclasses.replace(
        PENDING_START, witness_key=True))
    (become,) = [a for a in t.actions if isinstance(a, BecomeActive)]
    assert (t.state, become.reason, become.switch) == (S.PRIMARY, "fail-safe", False)


def test_an_isolated_active_demotes_before_its_lease_can_expire():
    """Issue 14's first rule: A loses its peer and etcd at once; the peer is still
    counted reachable when WitnessLost comes (its query has not timed out yet). A asks
    the peer with a deadline inside the margin and demotes at that deadline, so its
    demotion precedes the moment etcd can give the key to the backup."""
    margin = 10.0 / 3
    t = step(S.PRIMARY, WitnessLost(HOLDER_ME, "no renewal confirmed", margin), WIT_NO_KEY)
    assert t.state is S.PRIMARY
    (check,) = [a for a in t.actions if isinstance(a, CheckPeer)]
    assert 0 < check.within < margin
    t = step(S.PRIMARY, PeerCheckEnded(False, check.within), WIT_NO_KEY)
    assert t.state is S.INACTIVE
    assert any(isinstance(a, GoStale) for a in t.actions)


def test_with_a_witness_an_active_without_the_key_never_outlives_a_silent_peer():
    for ctx in CONTEXTS:
        ctx = dataclasses.replace(ctx, witness=True, witness_key=False,
                                  server_name="ICServer1")
        for event in (NO_ANSWER, PeerCheckEnded(False, 1.0), WitnessHeldBy(HOLDER_B)):
            t = step(S.PRIMARY, event, ctx)
            assert t.state is S.INACTIVE, (ctx, event)
            assert any(isinstance(a, GoStale) for a in t.actions)
