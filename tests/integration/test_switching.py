"""The backup watches and switches, with real host processes on 127.0.0.1.

Reference: "Why did a switchover occur?" (the reason, then "Switchover Service: Switch
Initiated"), "TS Ping Failure", "Loss of Connection to Notifier", "Redundancy", "Start
switchover in Manual mode", "Return the Switchover service to a functioning state after
a switch occurs", and the WAN note "the backup server notifies the active server that it
is no longer active".
"""
from __future__ import annotations

import signal
import subprocess
import sys
import time

import pytest

from switchover.localpair import LocalPair, free_ports
from tests.integration.faults import CuttableProxy, point_peer_port

pytestmark = pytest.mark.integration

SCALE = 0.05


def up(pair: LocalPair, *flags: str) -> tuple[str, str]:
    return pair.start_active(), pair.start_backup(*flags)


def switch_reason(pair: LocalPair, name: str) -> str:
    """The event-log entry just before "Switchover Service: Switch Initiated"."""
    messages = [e["message"] for e in pair.events(name)]
    index = messages.index("Switchover Service: Switch Initiated")
    return messages[index - 1]


def test_module_killed_on_active_backup_switches_ts_ping_failure(make_pair) -> None:
    pair = make_pair(time_scale=SCALE)
    a, b = up(pair)
    pair.kill(f"{a}/TsServer")
    pair.wait_state(b, "Primary", timeout=30)
    assert switch_reason(pair, b) == "TS Ping Failure"
    # the old active hears it is no longer active and goes stale
    assert pair.wait_state(a, "Inactive", timeout=20)["role"] == "stale"
    # restarted, it rejoins as the backup of the new active
    pair.kill(a, sig=15)
    pair.start_host(a)
    status = pair.wait_state(a, "Backup", timeout=20)
    assert status["peer"]["name"] == b and status["peer"]["state"] == "Primary"


def test_active_host_killed_backup_switches_after_reconnect_timeout(make_pair) -> None:
    pair = make_pair(time_scale=SCALE)
    a, b = up(pair)
    pair.kill(a)  # SIGKILL the whole host process
    pair.wait_state(b, "Primary", timeout=30)
    assert switch_reason(pair, b) == "Loss of Connection to Notifier"
    log = pair.log_text(b)
    scheduled = log.index("Scheduling reconnect timeout to execute in 30 second(s)")
    assert scheduled < log.index("Reconnect period expired")
    assert "Lost connections to the primary, going to StatePrimary" in log


def test_cutting_only_the_main_channel_does_not_switch(make_pair) -> None:
    pair = make_pair(time_scale=SCALE)
    a, b = pair.names
    proxy_port = free_ports(1)[0]
    proxy = CuttableProxy(proxy_port, pair.ports[a]["main_port"])
    try:
        point_peer_port(pair.config_path(b), a, "main_port", proxy_port)
        up(pair)
        proxy.cut()
        pair.wait_for(lambda: (pair.status(b) or {}).get("connections", {}).get("main") is False,
                      20, "the backup to see main down")
        # a dead module would have been switched over in 30 reference seconds; wait 3x
        time.sleep(90 * SCALE)
        status = pair.status(b)
        assert status["state"] == "Backup", status
        assert status["connections"] == {"main": False, "aux": True}
        assert pair.admin(b, "ping", {"channel": "aux"})["outcome"] == "ok"
        assert "Switch Initiated" not in pair.log_text(b)
        proxy.restore()
        pair.wait_for(lambda: (pair.status(b) or {}).get("connections") ==
                      {"main": True, "aux": True}, 20, "main to come back")
    finally:
        proxy.close()


def test_manual_switch_only_never_switches_but_an_operator_can(make_pair) -> None:
    pair = make_pair(time_scale=SCALE)
    a, b = up(pair, "--manual-switch-only")
    assert pair.status(b)["mode"] == "manual switch only"
    pair.kill(f"{a}/TsServer")
    time.sleep(90 * SCALE)
    assert pair.status(b)["state"] == "Backup"
    done = subprocess.run(
        [sys.executable, "-m", "switchover.cli", "switch", "--config",
         str(pair.config_path(b)), "--yes"],
        capture_output=True, text=True, timeout=30,
    )
    assert done.returncode == 0, done.stderr
    pair.wait_state(b, "Primary", timeout=20)
    assert switch_reason(pair, b) == "Manual Switchover"


def test_switch_requested_on_the_active_acts_on_the_backup(make_pair) -> None:
    pair = make_pair(time_scale=SCALE)
    a, b = up(pair)
    result = pair.admin(a, "switch", {})
    assert b in result["message"]
    pair.wait_state(b, "Primary", timeout=20)
    pair.wait_state(a, "Inactive", timeout=20)


def test_query_backup_exit_codes(make_pair) -> None:
    pair = make_pair(time_scale=SCALE)
    a, b = up(pair)

    def query(name: str) -> int:
        return subprocess.run(
            [sys.executable, "-m", "switchover.cli", "query-backup", "--config",
             str(pair.config_path(name)), "--quiet"], timeout=30,
        ).returncode

    assert (query(a), query(b)) == (1, 0)


def test_two_actives_meet_and_the_older_goes_stale(make_pair) -> None:
    pair = make_pair(time_scale=SCALE)
    a, b = pair.names
    # B is active once (generation 1), then stops.
    pair.start_host(b)
    pair.wait_state(b, "Primary")
    pair.kill(b, sig=15)
    # A starts alone: active, generation 1.
    pair.start_host(a)
    assert pair.wait_state(a, "Primary")["generation"] == 1
    # A partition: B cannot reach A's virtual switch and starts active (fail-safe). A
    # start is no switch: B keeps generation 1.
    point_peer_port(pair.config_path(b), a, "switch_port", free_ports(1)[0])
    pair.start_host(b)
    # A can reach B: the two actives meet (within one state query, so B's time as an
    # active is too short to poll); on a tie SwitchoverServer A stays and tells B.
    status = pair.wait_state(b, "Inactive", timeout=30)
    started = [e for e in pair.events(b) if "is the active server" in e["message"]]
    assert [e["generation"] for e in started] == [1, 1]
    assert "generation 1 (ours 1)" in status["reason"]
    assert pair.status(a)["state"] == "Primary"


def test_a_switch_outranks_an_active_that_restarted_meanwhile(make_pair) -> None:
    """The restart finding: B switched (generation 2) while A was away; A, restarted
    behind a partition, starts active again but keeps generation 1, so when the two meet
    A yields instead of ignoring B's Discontinue."""
    pair = make_pair(time_scale=SCALE)
    a, b = up(pair)
    assert pair.status(a)["generation"] == 1
    pair.kill(a)
    pair.wait_state(b, "Primary", timeout=60)
    assert pair.status(b)["generation"] == 2
    point_peer_port(pair.config_path(a), b, "switch_port", free_ports(1)[0])
    pair.start_host(a)
    status = pair.wait_state(a, "Inactive", timeout=30)
    assert "generation 2 (ours 1)" in status["reason"]
    started = [e for e in pair.events(a) if "is the active server" in e["message"]]
    assert [e["generation"] for e in started] == [1, 1]  # the restart kept generation 1
    assert pair.status(b)["state"] == "Primary"


def test_active_frozen_then_back_reconnects_and_resynchronizes(make_pair) -> None:
    """"If reconnection succeeds ... the Switchover system will return to the backup
    state and performs a re-synchronization." (The active is SIGSTOPped, then SIGCONTed
    before "Switchover Reconnect Timeout" runs out.)"""
    pair = make_pair(time_scale=SCALE, parameters={"Switchover Reconnect Timeout": 120})
    a, b = up(pair)
    frozen = pair.processes[a]
    frozen.send_signal(signal.SIGSTOP)
    try:
        pair.wait_state(b, "Reconnecting", timeout=30)
    finally:
        frozen.send_signal(signal.SIGCONT)
    pair.wait_state(b, "Backup", timeout=30)
    assert any(e["message"].startswith("Re-synchronizing with the primary")
               for e in pair.events(b))
    assert "Switch Initiated" not in pair.log_text(b)
    assert pair.status(a)["state"] == "Primary"


def test_commence_and_discontinue_hooks_run_on_a_switch(make_pair, short_tmp) -> None:
    """The reference's Switchover Event initiator: Commence on the server that becomes
    active, Discontinue on the one that ceases operations."""
    marks = short_tmp / "marks"
    marks.mkdir()
    hooks = {
        name: {
            "commence": [f'echo "$SWITCHOVER_REASON" >> {marks}/{name}.commence'],
            "discontinue": [f'echo "$SWITCHOVER_REASON" >> {marks}/{name}.discontinue'],
        }
        for name in ("ICServer1", "ICServer2")
    }
    pair = make_pair(time_scale=SCALE, hooks=hooks)
    a, b = up(pair)
    pair.wait_for(lambda: (marks / f"{a}.commence").exists(), 10, "A's commence hook at start")
    pair.kill(f"{a}/TsServer")
    pair.wait_state(b, "Primary", timeout=30)
    pair.wait_for(lambda: (marks / f"{b}.commence").exists(), 10, "B's commence hook")
    assert (marks / f"{b}.commence").read_text().strip() == "TS Ping Failure"
    pair.wait_state(a, "Inactive", timeout=20)
    discontinued = marks / f"{a}.discontinue"
    pair.wait_for(lambda: "no longer active" in discontinued.read_text(), 10,
                  "A's discontinue hook")
    # Both ran it once at start, before their roles were decided (start clean).
    assert discontinued.read_text().startswith("start-up: releasing what a previous run")
    assert (marks / f"{b}.discontinue").read_text().startswith("start-up: releasing")
