"""The operator's Commence and Discontinue commands.

The reference's "Switchover Event initiator" starts a handler on a Commence event (this
server becomes active) or a Discontinue event (this server ceases operations; "not
guaranteed"). Here they are shell commands from `[hooks]`, run in order off the actor
threads, each with a time limit, their outcome logged; a failing hook never stops a
switch, because a half-done switch is worse than a missing VIP that an operator can see.
"""
from __future__ import annotations

import logging
import os
import subprocess
import threading
from typing import Mapping, Sequence

log = logging.getLogger("SwitchoverHooks")


def run_hooks(
    kind: str,
    commands: Sequence[str],
    env: Mapping[str, str],
    timeout: float = 60.0,
) -> threading.Thread | None:
    """Start the commands of one hook kind in order on a background thread."""
    if not commands:
        return None

    def _run() -> None:
        full_env = {**os.environ, **env, "SWITCHOVER_EVENT": kind}
        for command in commands:
            try:
                done = subprocess.run(
                    command, shell=True, env=full_env, timeout=timeout,
                    capture_output=True, text=True,
                )
            except subprocess.TimeoutExpired:
                log.error("%s hook timed out after %.0f s: %s", kind, timeout, command)
                continue
            if done.returncode == 0:
                log.info("%s hook succeeded: %s", kind, command)
            else:
                log.error(
                    "%s hook failed with exit code %d: %s: %s",
                    kind, done.returncode, command, done.stderr.strip()[-500:],
                )

    thread = threading.Thread(target=_run, name=f"hooks-{kind}", daemon=True)
    thread.start()
    return thread
