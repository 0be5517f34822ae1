"""What the active reports when its module leaves, and what the backup reads of it.

"exited" lets the backup confirm a dead module with one rejected ping (docs/switching.md,
the fast path); it must be true only for a process this host saw running and then end.
"""
from __future__ import annotations

import os
import subprocess
import sys

from switchover.actors.module_loss import EID, ModuleLossReporter, heard


def _reporter(active: bool = True):
    sent = []
    return ModuleLossReporter(sent.append, lambda: active), sent


def _child() -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])


def test_a_module_whose_process_was_killed_is_reported_exited():
    reporter, sent = _reporter()
    child = _child()
    reporter.on_module("TsServer", True, {"pid": child.pid})
    child.kill()
    child.wait()
    reporter.on_module("TsServer", False, {"pid": child.pid, "reason": "connection closed"})
    assert [(e.eid, e.body["exited"]) for e in sent] == [(EID, True)]
    assert heard(sent[0].body).exited


def test_a_zombie_counts_as_exited():
    reporter, sent = _reporter()
    child = _child()
    reporter.on_module("TsServer", True, {"pid": child.pid})
    child.kill()
    os.waitid(os.P_PID, child.pid, os.WEXITED | os.WNOWAIT)  # dead, not reaped yet
    reporter.on_module("TsServer", False, {"pid": child.pid, "reason": "connection closed"})
    child.wait()
    assert sent[0].body["exited"] is True


def test_a_module_still_running_is_not_exited():
    """A module that only lost its connection (re-registering) is confirmed the slow way."""
    reporter, sent = _reporter()
    reporter.on_module("TsServer", True, {"pid": os.getpid()})
    reporter.on_module("TsServer", False, {"pid": os.getpid(), "reason": "connection closed"})
    assert sent[0].body["exited"] is False


def test_a_pid_not_seen_running_at_registration_never_counts_as_exited():
    """A module in another PID namespace reports a PID this host cannot see."""
    reporter, sent = _reporter()
    child = _child()
    child.kill()
    child.wait()
    reporter.on_module("TsServer", True, {"pid": child.pid})
    reporter.on_module("TsServer", False, {"pid": child.pid, "reason": "connection closed"})
    assert sent[0].body["exited"] is False


def test_only_the_active_reports_and_an_older_active_reads_as_not_exited():
    reporter, sent = _reporter(active=False)
    reporter.on_module("TsServer", False, {"pid": 1, "reason": "connection closed"})
    assert sent == []
    assert heard({"module": "TsServer", "pid": 7, "reason": "x"}).exited is False
