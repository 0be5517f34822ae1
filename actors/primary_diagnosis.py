"""The primary monitor's network diagnosis, one step per message.

`network.diagnose` is a generator of the reference's checks ("When the primary monitor
does not receive a ping reply ... it checks the following to detect the location of
the problem"): each ICMP echo it asks for runs on an executor and each wait on the
clock, and their answers come back as messages (`ProbeDone`, `WaitDone`), so the actor
handling them never blocks and a stop can come in between two steps.
"""
from __future__ import annotations

import logging
from concurrent.futures import Executor, Future, ThreadPoolExecutor
from typing import Any, Callable, Generator

from switchover.actors.network import Diagnosis, NetworkPlan, Probe, Prober, diagnose
from switchover.actors.primary_messages import ProbeDone

log = logging.getLogger("PrimaryMonitor")


class DiagnosisSteps:
    """Walks one diagnosis at a time. `wait(seconds)` schedules a wait's `WaitDone`;
    `generation()` stamps each echo's `ProbeDone`; `executor` (or one of its own) runs
    the echoes."""

    def __init__(self, prober: Prober, deliver: Callable[[object], None],
                 wait: Callable[[float], None], generation: Callable[[], int],
                 executor: Executor | None = None) -> None:
        self.prober = prober
        self.deliver = deliver
        self._wait = wait
        self._generation = generation
        self._executor = executor
        self._own_executor = executor is None
        self._diag: Generator[Any, Any, Diagnosis] | None = None

    def start(self, plan: NetworkPlan) -> Diagnosis | None:
        """Begin a diagnosis: the result if it needs no echo or wait at all, else None."""
        self._diag = diagnose(plan)
        return self._advance(None, first=True)

    def step(self, answer: bool | None) -> Diagnosis | None:
        """Feed the last echo's answer (None after a wait): the result once it is done."""
        return self._advance(answer)

    def _advance(self, answer: bool | None, first: bool = False) -> Diagnosis | None:
        if self._diag is None:
            return None
        try:
            item = next(self._diag) if first else self._diag.send(answer)
        except StopIteration as stop:
            self._diag = None
            return stop.value
        if isinstance(item, Probe):
            generation = self._generation()
            future = self._pool().submit(self.prober.ping, item.address, item.timeout)
            future.add_done_callback(
                lambda f: self.deliver(ProbeDone(generation, _reached(f)))
            )
        else:
            self._wait(item.seconds)
        return None

    def cancel(self) -> None:
        """Abandon the diagnosis in progress (a stop, a restart)."""
        if self._diag is not None:
            self._diag.close()
            self._diag = None

    def close(self) -> None:
        """Shut the executor down if it is this object's own."""
        if self._own_executor and self._executor is not None:
            self._executor.shutdown(wait=False, cancel_futures=True)
            self._executor = None

    def _pool(self) -> Executor:
        if self._executor is None:
            self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="icmp")
        return self._executor


def _reached(future: Future[bool]) -> bool:
    try:
        return bool(future.result())
    except Exception as exc:
        log.warning("ICMP echo failed: %s", exc)
        return False
