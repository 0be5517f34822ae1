"""Operator-facing behaviour with real processes: dynamic parameters, watching an existing
service through `switchover module --pid-file/--health-cmd`."""
from __future__ import annotations

import os
import signal
import subprocess
import sys

import pytest

from switchover.localpair import LocalPair
from tests.integration.test_switching import SCALE, switch_reason, up

pytestmark = pytest.mark.integration


def test_dynamic_parameters_reach_the_running_module_monitor(make_pair) -> None:
    """"Dynamic monitoring of system parameters": TS Timeout, TS Failure Retry Delay and
    Max TS Failures take effect without a restart. The active's SIGHUP writes them to the
    DS, which carries them to the backup's monitor."""
    pair: LocalPair = make_pair(time_scale=SCALE)
    a, b = up(pair)
    pair.parameters = {"Switchover TS Timeout": 20, "Switchover TS Failure Retry Delay": 3,
                       "Switchover Max TS Failures": 4}
    pair.write_config(a)
    os.kill(pair.processes[a].pid, signal.SIGHUP)
    pair.wait_for(lambda: "Parameters changed: timeout=20 retry delay=3 max failures=4"
                  in pair.log_text(b), 20, "the module monitor to take the new values")
    assert pair.status(b)["state"] == "Backup"


def test_a_bad_value_on_reload_is_refused_and_the_host_keeps_running(make_pair) -> None:
    pair: LocalPair = make_pair(time_scale=SCALE)
    a, b = up(pair)
    pair.parameters = {"Switchover TS Timeout": 3}
    pair.write_config(b)
    os.kill(pair.processes[b].pid, signal.SIGHUP)
    pair.wait_for(lambda: "reload refused" in pair.log_text(b), 20, "the refusal")
    assert '"Switchover TS Timeout" = 3: allowed 5..60' in pair.log_text(b)
    pair.parameters = {}
    pair.write_config(b)  # the CLI in this test reads the file too
    assert pair.status(b)["state"] == "Backup"


@pytest.mark.parametrize("watch", ["pid-file", "health-cmd"])
def test_module_stands_in_for_an_existing_service(make_pair, watch: str) -> None:
    """The monitored module answers only while the watched service lives; when it dies
    the backup takes over with the reason "TS Ping Failure"."""
    pair: LocalPair = make_pair(time_scale=SCALE)
    a, b = pair.names
    service = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(600)"])
    pid_file = pair.base / "service.pid"
    pid_file.write_text(f"{service.pid}\n")
    flags = (["--pid-file", str(pid_file)] if watch == "pid-file"
             else ["--health-cmd", f"kill -0 $(cat {pid_file})"])
    try:
        pair.start_host(a)
        pair.wait_state(a, "Primary")
        pair.start_module(a, "TsServer", *flags, "--check-interval", "0.1")
        pair.wait_module(a)
        pair.start_host(b)
        pair.wait_state(b, "Backup")
        pair.wait_for(lambda: all((pair.status(b) or {}).get("connections", {}).values()), 20,
                      "connections")
        assert pair.admin(b, "ping", {})["outcome"] == "ok"
        service.kill()
        service.wait(timeout=5)
        pair.wait_state(b, "Primary", timeout=30)
        assert switch_reason(pair, b) == "TS Ping Failure"
    finally:
        if service.poll() is None:
            service.kill()
            service.wait(timeout=5)
