"""Hook runs: recorded, retried (commence only, bounded), timed out, reported, warned about."""
from __future__ import annotations

import logging
import os
import threading
import time
from pathlib import Path
from typing import Iterator

import pytest

from switchover.actors.hooks import HookReport, HookRunner, install, run_hooks
from switchover.config import HookCommand, Hooks
from switchover.logs import EventLog


@pytest.fixture
def events() -> EventLog:
    return EventLog(None, "ICServer1")


@pytest.fixture
def sleeps() -> list[float]:
    return []


@pytest.fixture
def runner(events: EventLog, sleeps: list[float]) -> Iterator[HookRunner]:
    r = HookRunner(events, Hooks(retries=2), sleep=sleeps.append)
    yield r
    r.close()


def hook_events(events: EventLog) -> list[dict]:
    return [e for e in events.recent() if e.get("kind") == "hook"]


def run(runner: HookRunner, kind: str, *commands: HookCommand | str, **kw) -> HookReport:
    future = runner.submit(kind, commands, {"SWITCHOVER_SERVER": "ICServer1"}, **kw)
    assert future is not None
    return future.result(timeout=20)


def test_each_command_is_recorded_with_exit_code_duration_and_stderr(runner, events) -> None:
    done: list[HookReport] = []
    report = run(runner, "discontinue", 'echo "on $SWITCHOVER_SERVER"',
                 HookCommand(argv=("sh", "-c", "echo one >&2; echo two >&2; exit 3")),
                 on_done=done.append)
    assert done == [report] and not report.ok and report.kind == "discontinue"
    first, second = hook_events(events)
    assert first["outcome"] == "ok" and first["exit_code"] == 0 and first["level"] == "info"
    assert first["command"] == 'echo "on $SWITCHOVER_SERVER"' and first["hook"] == "discontinue"
    assert second["argv"] == ["sh", "-c", "echo one >&2; echo two >&2; exit 3"]
    assert second["exit_code"] == 3 and second["stderr"] == ["one", "two"]
    assert second["level"] == "error" and second["duration"] >= 0
    assert "failed with exit code 3" in second["message"] and ": two" in second["message"]
    assert [r.attempts for r in report.results] == [1, 1]  # discontinue is not retried


def test_output_goes_to_the_log(runner, caplog) -> None:
    with caplog.at_level(logging.INFO, logger="SwitchoverHooks"):
        run(runner, "commence", "echo hello; echo oops >&2")
    assert "echo hello; echo oops >&2 stdout: hello" in caplog.text
    assert "echo hello; echo oops >&2 stderr: oops" in caplog.text


def test_a_failed_commence_hook_is_retried_with_backoff(runner, events, sleeps,
                                                        tmp_path: Path) -> None:
    counter = tmp_path / "tries"
    flaky = f'echo x >> {counter}; [ "$(wc -l < {counter})" -ge 3 ]'
    report = run(runner, "commence", flaky)
    assert report.ok and report.results[0].attempts == 3
    assert sleeps == [1.0, 2.0]  # exponential backoff
    levels = [(e["attempt"], e["level"]) for e in hook_events(events)]
    assert levels == [(1, "warning"), (2, "warning"), (3, "info")]
    assert runner.warnings() == []


def test_retries_are_bounded_and_the_failure_stays_a_warning_until_a_run_succeeds(
        runner, events) -> None:
    report = run(runner, "commence", "exit 1")
    assert not report.ok and report.results[0].attempts == 3  # 1 + retries
    assert hook_events(events)[-1]["level"] == "error"
    [warning] = runner.warnings()
    assert warning.startswith("commence hook failed at ") and "exit 1 failed" in warning
    run(runner, "discontinue", "true")
    assert runner.warnings() == [warning]  # only a commence run clears a commence failure
    run(runner, "commence", "true")
    assert runner.warnings() == []


def test_a_hook_past_its_time_limit_is_killed_with_what_it_started(runner,
                                                                   tmp_path: Path) -> None:
    pid_file = tmp_path / "child.pid"
    started = time.monotonic()
    report = run(runner, "discontinue",
                 HookCommand(shell=f"sleep 30 & echo $! > {pid_file}; wait", timeout=0.3))
    result = report.results[0]
    assert result.outcome == "timeout" and result.exit_code is None
    assert time.monotonic() - started < 10
    assert "killed after its time limit of 0.3 s" in result.stderr[-1]
    child = int(pid_file.read_text())
    deadline = time.monotonic() + 5
    while _alive(child) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert not _alive(child)


def test_the_timeout_falls_back_to_the_run_then_to_hooks_timeout(events) -> None:
    runner = HookRunner(events, Hooks(timeout=0.2, retries=0))
    try:
        assert run(runner, "discontinue", "sleep 5").results[0].outcome == "timeout"
        assert run(runner, "discontinue", "sleep 0.5", timeout=5).results[0].ok
    finally:
        runner.close()


def test_a_program_that_cannot_start_is_an_error_not_a_crash(runner) -> None:
    result = run(runner, "discontinue", HookCommand(argv=("/nonexistent/hook",))).results[0]
    assert result.outcome == "error" and "No such file" in result.stderr[0]


def test_a_newer_run_stops_the_retries_of_an_older_one(events) -> None:
    runner = HookRunner(events, Hooks(retries=5))  # real backoff: 1 s, 2 s, ...
    first = threading.Event()
    try:
        future = runner.submit("commence", ["exit 1"], {}, on_done=lambda r: None)
        deadline = time.monotonic() + 10
        while not hook_events(events) and time.monotonic() < deadline:
            time.sleep(0.01)
        started = time.monotonic()
        later = runner.submit("discontinue", ["true"], {}, on_done=lambda r: first.set())
        assert future.result(timeout=10).results[0].attempts == 1
        assert later.result(timeout=10).ok and first.is_set()
        assert time.monotonic() - started < 0.9  # the backoff was cut short
    finally:
        runner.close()


def test_run_hooks_goes_through_the_installed_runner(runner, events) -> None:
    install(runner)
    try:
        done: list[HookReport] = []
        future = run_hooks("commence", ["true"], {}, on_done=done.append)
        assert future.result(timeout=10) is done[0] and done[0].ok
        assert run_hooks("commence", [], {}) is None
        assert hook_events(events)[0]["command"] == "true"
    finally:
        install(HookRunner())


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    try:  # a zombie is dead for this purpose
        return Path(f"/proc/{pid}/stat").read_text().split()[2] != "Z"
    except OSError:
        return False
