"""The replication payloads' job shape: a newer job supersedes the one under way (its
cancel event is set and its end is ignored), a job's end comes back as a message with
its result or its error, and a cancelled job's end is ignored."""
from __future__ import annotations

import queue
import threading

from switchover.replication.jobs import JobDone, Jobs


def started() -> tuple[Jobs, "queue.Queue[JobDone]"]:
    told: queue.Queue[JobDone] = queue.Queue()
    return Jobs(told.put, "test-jobs"), told


def test_a_newer_job_supersedes_the_one_under_way() -> None:
    jobs, told = started()

    def long(cancel: threading.Event) -> str:
        cancel.wait(10)
        return "old"

    first = jobs.start("resync", long)
    jobs.start("resync", lambda cancel: "new")
    assert first.is_set()  # the superseded job is told to stop
    ends = [told.get(timeout=10), told.get(timeout=10)]
    assert [jobs.current(e) for e in ends] == [False, True]  # only the newer one counts
    assert ends[1].result == "new" and jobs.running is None
    jobs.close()


def test_an_error_comes_back_as_the_jobs_end() -> None:
    jobs, told = started()

    def fails(cancel: threading.Event) -> None:
        raise ValueError("bad snapshot")

    jobs.start("load", fails)
    done = told.get(timeout=10)
    assert jobs.current(done) and isinstance(done.error, ValueError)
    jobs.close()


def test_a_cancelled_jobs_end_is_ignored() -> None:
    jobs, told = started()
    cancel = jobs.start("copy", lambda cancel: cancel.wait(10))
    jobs.cancel()
    assert cancel.is_set() and jobs.running is None
    assert not jobs.current(told.get(timeout=10))
    jobs.close()


def test_an_event_made_first_is_the_jobs_cancel() -> None:
    """A caller binds the event to what it hands the job (the DS resync's remote) before
    the job starts: superseding the job sets that very event, the one `work` sees."""
    jobs, told = started()
    bound = threading.Event()
    seen: list[threading.Event] = []
    assert jobs.start("resync", lambda cancel: seen.append(cancel) or cancel.wait(10),
                      cancel=bound) is bound
    jobs.start("resync", lambda cancel: None)
    assert bound.is_set()
    told.get(timeout=10)
    assert seen == [bound]
    jobs.close()
