"""Long work of a replication actor as a job: off the actor's thread, its end a message.

One shape for every payload (the DS resync, the files' mirror work, an interaction
snapshot's load): each job has a generation and a cancel event; starting a job supersedes the
one under way (its event is set, its outcome ignored); its end comes back to the actor
as `JobDone`, which the actor takes only while its generation is current. Meanwhile the
actor goes on answering, so a stop or a role change gets in between at once: the
start-up copy of the files ("Switchover Initial Mirror Timeout" may allow it 600 s) and
the load of an interaction snapshot never hold a mailbox.

Jobs of one actor run one at a time, on one worker thread of its own, in the order they
were started: a superseded job has returned before the next begins, so two never write
the same store at once. A stopping actor closes its `Jobs` without waiting (the job sees
its cancel event at its next check and ends on its own), or, if the job uses what the
actor is about to close, waits the moment a cancelled job takes to return.
"""
from __future__ import annotations

import concurrent.futures
import threading
from dataclasses import dataclass
from typing import Any, Callable

import pykka


@dataclass(frozen=True)
class JobDone:
    """A job ended: `result` is what it returned, or `error` what it raised."""

    name: str
    gen: int
    result: Any = None
    error: BaseException | None = None


class Jobs:
    """One actor's jobs. Used from the actor's thread only (the worker only tells)."""

    def __init__(self, tell: Callable[[Any], None], thread_name: str) -> None:
        self._tell = tell
        self._worker = concurrent.futures.ThreadPoolExecutor(
            1, thread_name_prefix=thread_name)
        self.gen = 0
        #: The name of the job under way, None when idle.
        self.running: str | None = None
        self._cancel: threading.Event | None = None
        self._future: concurrent.futures.Future | None = None

    def start(self, name: str, work: Callable[..., Any], *args: Any,
              cancel: threading.Event | None = None) -> threading.Event:
        """Run `work(cancel, *args)` on the worker; supersedes the job under way.

        `work` checks `cancel` (the returned event) often enough to end soon once it is
        set, and raises or returns as it likes: both come back as `JobDone`. A caller
        that binds the event to what it hands the job (the DS resync's remote, whose
        request in flight gives up on it) makes it first and passes it as `cancel`.
        """
        self.cancel()
        self.gen += 1
        gen = self.gen
        cancel = threading.Event() if cancel is None else cancel
        self._cancel, self.running = cancel, name
        future = self._future = self._worker.submit(work, cancel, *args)
        future.add_done_callback(lambda f: self._done(name, gen, f))
        return cancel

    def current(self, done: JobDone) -> bool:
        """Whether `done` ends the job under way (act on it) rather than a superseded or
        cancelled one (ignore it)."""
        if done.gen != self.gen or self.running is None:
            return False
        self.running = self._cancel = None
        return True

    def cancel(self) -> None:
        """Cancel the job under way, if any: its outcome will be ignored."""
        if self._cancel is not None:
            self._cancel.set()
        if self.running is not None:
            self.gen += 1
        self.running = self._cancel = None

    def close(self, wait: float = 0.0) -> bool:
        """The actor stops: cancel, and let the worker end on its own. An actor whose job
        uses what it is about to close (a store lent to it) waits at most `wait` seconds
        for the cancelled job to return; False if it has not."""
        self.cancel()
        future = self._future
        if wait and future is not None:
            concurrent.futures.wait([future], timeout=wait)
        self._worker.shutdown(wait=False, cancel_futures=True)
        return future is None or future.done()

    def _done(self, name: str, gen: int, future: concurrent.futures.Future) -> None:
        try:
            message = JobDone(name, gen, result=future.result())
        except BaseException as exc:  # noqa: BLE001 - handed to the actor
            message = JobDone(name, gen, error=exc)
        try:
            self._tell(message)
        except pykka.ActorDeadError:
            pass
