"""The operator's Commence and Discontinue commands, and what became of each run.

The reference's "Switchover Event initiator" starts a handler on a Commence event (this
server becomes active) or a Discontinue event (this server ceases operations; "not
guaranteed"). Here they are the `[hooks]` commands, run off the actor threads, one run
after another in the order they were asked for (a `vip down` must never overtake the
`vip up` before it), each command with a time limit. A failing hook never stops a switch,
because a half-done switch is worse than a missing VIP an operator can see: so every
run is recorded (the log, the event log with kind "hook"), a failed commence command is
tried again with backoff a bounded number of times, and a failed run stays a warning in
`status` until a later run of the same kind succeeds.

One `HookRunner` serves the host process; the host installs it with `install()` and
`run_hooks()` (called by SwitchoverMain) goes through it.
"""
from __future__ import annotations

import concurrent.futures
import logging
import os
import signal
import subprocess
import threading
import time
from dataclasses import dataclass, replace
from typing import Callable, Mapping, Sequence

import tenacity

from switchover.config import Config, HookCommand, Hooks
from switchover.logs import EventLog

log = logging.getLogger("SwitchoverHooks")

#: Lines of a failed hook's stderr kept in the event log and the status warning.
STDERR_LINES = 5
#: Real seconds of backoff before the first retry, doubling up to BACKOFF_MAX.
BACKOFF_FIRST, BACKOFF_MAX = 1.0, 10.0


@dataclass(frozen=True)
class HookResult:
    """One command of a run: how it ended after its last attempt."""

    command: str                 # as the log shows it
    argv: tuple[str, ...]        # () for a shell command line
    outcome: str                 # "ok", "failed" (non-zero exit), "timeout", "error"
    exit_code: int | None        # None when it timed out or could not start
    duration: float              # real seconds of the last attempt
    stderr: tuple[str, ...]      # its last STDERR_LINES lines
    attempts: int = 1

    @property
    def ok(self) -> bool:
        return self.outcome == "ok"

    def summary(self) -> str:
        """One line for the log, the event log and the status warning."""
        how = {"ok": "succeeded", "timeout": "timed out", "error": "could not start"}.get(
            self.outcome, f"failed with exit code {self.exit_code}")
        tail = f": {self.stderr[-1]}" if self.stderr and not self.ok else ""
        return f"{self.command} {how} after {self.duration:.2f} s{tail}"


@dataclass(frozen=True)
class HookReport:
    """One run of one kind: every command's result, in order."""

    kind: str
    results: tuple[HookResult, ...]

    @property
    def ok(self) -> bool:
        return all(r.ok for r in self.results)


OnDone = Callable[[HookReport], None]


class HookRunner:
    """Runs hook commands in order on one worker thread and remembers failed runs."""

    def __init__(self, events: EventLog | None = None, settings: Hooks = Hooks(),
                 sleep: Callable[[float], object] | None = None) -> None:
        self.settings = settings
        self._events = events
        self._pool = concurrent.futures.ThreadPoolExecutor(1, thread_name_prefix="hooks")
        self._lock = threading.Lock()
        self._asked = 0  # runs asked for so far; a run with a lower number is superseded
        # Set when a newer run is asked for: a retry waiting its backoff gives up at once.
        self._newer = threading.Event()
        self._sleep = sleep or self._newer.wait
        self._failed: dict[str, str] = {}

    def configure(self, settings: Hooks) -> None:
        """New `[hooks]` defaults (a SIGHUP): the next run's timeout and retries."""
        self.settings = settings

    def warnings(self) -> list[str]:
        """The kinds whose last run failed, for `status`."""
        with self._lock:
            return list(self._failed.values())

    def submit(self, kind: str, commands: Sequence[HookCommand | str], env: Mapping[str, str],
               timeout: float | None = None,
               on_done: OnDone | None = None) -> concurrent.futures.Future | None:
        """Queue one run; `on_done` gets its report once every command has finished."""
        if not commands:
            return None
        cmds = tuple(c if isinstance(c, HookCommand) else HookCommand(shell=c) for c in commands)
        number = self._supersede()
        return self._pool.submit(self._run, number, kind, cmds, dict(env), timeout, on_done)

    def close(self) -> None:
        """Let the command running finish (bounded by its timeout); drop pending retries."""
        self._supersede()
        self._pool.shutdown(wait=True, cancel_futures=True)

    def _supersede(self) -> int:
        with self._lock:
            self._asked += 1
            self._newer.set()
            return self._asked

    def _run(self, number: int, kind: str, commands: tuple[HookCommand, ...],
             env: dict[str, str], timeout: float | None, on_done: OnDone | None) -> HookReport:
        with self._lock:
            if number == self._asked:
                self._newer.clear()
        full_env = {**os.environ, **env, "SWITCHOVER_EVENT": kind}
        results = tuple(self._command(number, kind, c, full_env, timeout) for c in commands)
        report = HookReport(kind, results)
        with self._lock:
            if report.ok:
                self._failed.pop(kind, None)
            else:
                failed = "; ".join(r.summary() for r in results if not r.ok)
                self._failed[kind] = (f"{kind} hook failed at "
                                      f"{time.strftime('%H:%M:%S')}: {failed}")
        if on_done is not None:
            try:
                on_done(report)
            except Exception:
                log.exception("%s hooks: the completion callback failed", kind)
        return report

    def _command(self, run: int, kind: str, command: HookCommand, env: Mapping[str, str],
                 timeout: float | None) -> HookResult:
        """One command, tried again with backoff (tenacity) while it fails, if commence."""
        limit = command.timeout or timeout or self.settings.timeout
        attempts = 1 + (self.settings.retries if kind == "commence" else 0)
        tried: list[HookResult] = []

        def superseded(_: object = None) -> bool:
            return self._asked > run

        def attempt() -> HookResult:
            if tried and superseded():  # woken from the backoff by a newer run
                return tried[-1]
            result = execute(command, env, limit)
            tried.append(result)
            again = not result.ok and len(tried) < attempts and not superseded()
            self._record(kind, result, len(tried), attempts, again)
            return result

        retrying = tenacity.Retrying(
            stop=tenacity.stop_after_attempt(attempts) | superseded,
            wait=tenacity.wait_exponential(multiplier=BACKOFF_FIRST, max=BACKOFF_MAX),
            retry=tenacity.retry_if_result(lambda r: not r.ok),
            retry_error_callback=lambda state: state.outcome.result(),
            sleep=self._sleep,
        )
        return replace(retrying(attempt), attempts=len(tried))

    def _record(self, kind: str, result: HookResult, number: int, attempts: int,
                again: bool) -> None:
        message = f"Switchover Service: {kind} hook {result.summary()}"
        if attempts > 1 and (number > 1 or not result.ok):
            message += f" (attempt {number} of {attempts}" + ("; retrying)" if again else ")")
        level = "info" if result.ok else "warning" if again else "error"
        fields = dict(kind="hook", hook=kind, command=result.command, argv=list(result.argv),
                      outcome=result.outcome, exit_code=result.exit_code,
                      duration=round(result.duration, 3), stderr=list(result.stderr),
                      attempt=number)
        if self._events is not None:
            self._events.record(level, message, **fields)
        else:
            getattr(log, level)(message)


def execute(command: HookCommand, env: Mapping[str, str], timeout: float) -> HookResult:
    """Run one command to its end or its time limit; its output goes to the log.

    It runs in a session of its own, so a timeout ends it with everything it started
    (a shell's children, an arping still announcing), not just the shell.
    """
    args: str | list[str] = command.shell or list(command.argv)
    label = command.label()
    started = time.monotonic()
    try:
        proc = subprocess.Popen(args, shell=bool(command.shell), env=dict(env),
                                stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                                stderr=subprocess.PIPE, text=True, errors="replace",
                                start_new_session=True)
    except OSError as exc:
        return HookResult(label, command.argv, "error", None, time.monotonic() - started,
                          (str(exc),))
    try:
        out, err = proc.communicate(timeout=timeout)
        outcome = "ok" if proc.returncode == 0 else "failed"
        code: int | None = proc.returncode
    except subprocess.TimeoutExpired:
        try:
            os.killpg(proc.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        try:
            out, err = proc.communicate(timeout=5)
        except subprocess.TimeoutExpired:  # a grandchild that left the session holds a pipe
            out, err = "", ""
        outcome, code = "timeout", None
        err = (err or "") + f"\nkilled after its time limit of {timeout:g} s"
    duration = time.monotonic() - started
    for stream, text, level in (("stdout", out, logging.INFO), ("stderr", err, logging.WARNING)):
        for line in (text or "").splitlines():
            if line.strip():
                log.log(level, "%s %s: %s", label, stream, line)
    tail = tuple(line for line in (err or "").splitlines() if line.strip())[-STDERR_LINES:]
    return HookResult(label, command.argv, outcome, code, duration, tail)


_runner = HookRunner()


def install(runner: HookRunner) -> HookRunner:
    """Make `runner` the one `run_hooks` uses (the host does, at start); returns it."""
    global _runner
    _runner = runner
    return runner


def run_hooks(
    kind: str,
    commands: Sequence[HookCommand | str],
    env: Mapping[str, str],
    timeout: float | None = None,
    on_done: OnDone | None = None,
) -> concurrent.futures.Future | None:
    """Queue the commands of one hook kind; `on_done(report)` once they have all finished.

    `timeout` overrides `[hooks] timeout` for this run (a command's own timeout wins).
    Returns the run's future (its result is the `HookReport`), or None with no commands.
    """
    return _runner.submit(kind, commands, env, timeout=timeout, on_done=on_done)


def release_previous_run(events: EventLog, config: Config, generation: int) -> None:
    """Start clean: the discontinue hooks run once, to their end, before the role is decided.

    A host that was SIGKILLed never ran them, so its VIP may still be on its interface
    while the peer holds it too (keepalived removes its addresses the same way when it
    starts as BACKUP); if this host becomes active, its commence hooks add it back.
    """
    commands = config.hooks.discontinue
    if not commands:
        return
    reason = "start-up: releasing what a previous run may hold"
    events.record("info", f"Switchover Service: {reason}: running the discontinue hooks "
                          "before the role is decided", kind="start-clean")
    future = run_hooks("discontinue", commands, {
        "SWITCHOVER_SERVER": config.server_name,
        "SWITCHOVER_PEER": config.peer.name,
        "SWITCHOVER_REASON": reason,
        "SWITCHOVER_GENERATION": str(generation),
    })
    if future is not None:
        future.result()  # bounded: every command has its time limit
