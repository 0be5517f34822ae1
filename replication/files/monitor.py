"""The active's File Monitor: watches the continuously mirrored directories and announces
every change to the backup.

Two watcher threads run `watchfiles.watch` (inotify): one over the `+` directories
(recursive), one over the plain ones (their own files only; the spec drops what lies in
their subdirectories). A burst is coalesced by watchfiles (a notice leaves once the
directory has been quiet for `STEP_MS`, or every `DEBOUNCE_MS` during a long burst), and
the actor turns it into one "File Change" notice stating the current state of each
touched path, numbered by `seq` within this monitor's `epoch`.

A directory that does not exist yet cannot be watched. Every `CHECK_INTERVAL` reference
seconds the actor looks at which roots exist and at the mirror parameters; when either
changed it restarts the watchers and announces the contents of roots that appeared. The
same check notices a watcher thread that died and restarts it; until then the health
check says so.
"""
from __future__ import annotations

import logging
import secrets
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Iterable

import pykka
import watchfiles

from switchover.replication.files import protocol as proto
from switchover.replication.files.changes import notice_rows
from switchover.replication.files.settings import Specs
from switchover.replication.files.spec import MirrorDir, MirrorSpec
from switchover.replication.service import LocalNotifier
from switchover.clock import Clock, TimerHandle
from switchover.transport.envelope import Envelope

log = logging.getLogger("FileMonitor")
logging.getLogger("watchfiles").setLevel(logging.WARNING)  # one INFO line per burst

STEP_MS = 5
DEBOUNCE_MS = 20
CHECK_INTERVAL = 2.0
#: Rows per notice: keeps one notice's bulk frame far below the transport's 8 MiB.
ROWS_PER_NOTICE = 20_000


@dataclass(frozen=True)
class Batch:
    """Changes one watcher saw: ((path, added), ...), from watcher `generation`."""

    touched: tuple[tuple[str, bool], ...]
    generation: int


@dataclass(frozen=True)
class WatcherDied:
    generation: int
    error: str


@dataclass(frozen=True)
class Health:
    """A health check to answer: `reply(status, body)` (the Notifier's reply)."""

    reply: Callable[..., None]


@dataclass(frozen=True)
class _Check:
    pass


def watch_roots(spec: MirrorSpec) -> tuple[list[Path], list[Path]]:
    """(recursive, plain) existing directories to watch, without overlaps."""
    dirs = [d for _, d in spec.dirs("continuous")]
    recursive = [d for d in dirs if d.recursive]

    def covered(d: MirrorDir) -> bool:
        return any(r.path in d.path.parents for r in recursive if r is not d)

    rec = sorted({d.under(spec.root) for d in recursive if not covered(d)})
    plain = sorted({d.under(spec.root) for d in dirs
                    if not d.recursive and not covered(d)
                    and not any(r.path == d.path for r in recursive)})
    return [p for p in rec if p.is_dir()], [p for p in plain if p.is_dir()]


class FileMonitor(pykka.ThreadingActor):
    def __init__(self, *, notifier: LocalNotifier, clock: Clock,
                 specs: Callable[[], Specs], sender: str = proto.SERVICE,
                 published: Callable[[], str | None] = lambda: None) -> None:
        super().__init__()
        self.notifier, self.clock, self.specs = notifier, clock, specs
        self.published = published  # the id of the last handler publish, for the backup
        self.sender = sender
        self.epoch = secrets.token_hex(8)
        self.seq = 0
        self.generation = 0
        self.error: str | None = None
        self._source: tuple | None = None
        self._roots: tuple[list[Path], list[Path]] = ([], [])
        self._stop_event = threading.Event()
        self._threads: list[threading.Thread] = []
        self._timer: TimerHandle | None = None
        self.spec: MirrorSpec | None = None

    # -- lifecycle ------------------------------------------------------------------

    def on_start(self) -> None:
        self._check(first=True)

    def on_stop(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
        self._stop_watchers()

    def on_failure(self, *_: Any) -> None:
        self._stop_watchers()

    def on_receive(self, message: Any) -> Any:
        if isinstance(message, Batch):
            if message.generation == self.generation and self.spec is not None:
                self._announce((Path(p), added) for p, added in message.touched)
        elif isinstance(message, Health):
            self._answer(message.reply)
        elif isinstance(message, WatcherDied):
            if message.generation == self.generation:
                self.error = f"a watcher stopped: {message.error}"
                log.error("FileMonitor: %s", self.error)
        elif isinstance(message, _Check):
            self._check()
        return None

    def _answer(self, reply: Callable[..., None]) -> None:
        if self.error:
            reply("error", {"reason": self.error})
        else:
            recursive, plain = self._roots
            reply("ok", {"epoch": self.epoch, "seq": self.seq,
                         "watching": len(recursive) + len(plain),
                         "published": self.published()})

    # -- watchers -------------------------------------------------------------------

    def _check(self, first: bool = False) -> None:
        """Restart the watchers when the parameters, the roots or a watcher changed."""
        try:
            specs = self.specs()
            roots = watch_roots(specs.watch)
            if first or specs.source != self._source or roots != self._roots or self.error:
                old = set(self._roots[0]) | set(self._roots[1])
                self.spec, self._source = specs.watch, specs.source
                self._restart(roots)
                new = [p for p in roots[0] + roots[1] if p not in old]
                if new and not first:
                    self._announce((p, True) for p in new)
        except Exception as exc:  # a bad parameter must not kill the monitor
            self.error = f"cannot watch: {exc}"
            log.exception("FileMonitor: %s", self.error)
        ref = self.actor_ref
        self._timer = self.clock.call_later(
            CHECK_INTERVAL, lambda: ref.is_alive() and ref.tell(_Check()))

    def _restart(self, roots: tuple[list[Path], list[Path]]) -> None:
        self._stop_watchers()
        self.generation += 1
        self.error = None
        self._roots = roots
        self._stop_event = threading.Event()
        for paths, recursive in ((roots[0], True), (roots[1], False)):
            if paths:
                thread = threading.Thread(
                    target=self._watch, args=(paths, recursive, self._stop_event,
                                              self.generation),
                    name=f"FileMonitor-watch-{'rec' if recursive else 'plain'}", daemon=True)
                thread.start()
                self._threads.append(thread)
        log.info("FileMonitor: watching %d recursive and %d plain directories",
                 len(roots[0]), len(roots[1]))

    def _stop_watchers(self) -> None:
        self._stop_event.set()
        for thread in self._threads:
            thread.join(timeout=5)
        self._threads = []

    def _watch(self, paths: list[Path], recursive: bool, stop: threading.Event,
               generation: int) -> None:
        """Watcher thread: hand each coalesced burst to the actor."""
        ref = self.actor_ref
        try:
            for changes in watchfiles.watch(
                    *paths, watch_filter=None, debounce=DEBOUNCE_MS, step=STEP_MS,
                    stop_event=stop, recursive=recursive, raise_interrupt=False,
                    ignore_permission_denied=True):
                touched: dict[str, bool] = {}
                for change, path in changes:
                    touched[path] = touched.get(path, False) or change == watchfiles.Change.added
                ref.tell(Batch(tuple(touched.items()), generation))
        except pykka.ActorDeadError:
            return
        except Exception as exc:
            if not stop.is_set():
                try:
                    ref.tell(WatcherDied(generation, f"{type(exc).__name__}: {exc}"))
                except pykka.ActorDeadError:
                    pass

    # -- notices --------------------------------------------------------------------

    def _announce(self, touched: Iterable[tuple[Path, bool]]) -> None:
        assert self.spec is not None
        rows = notice_rows(self.spec, touched)
        for i in range(0, len(rows), ROWS_PER_NOTICE):
            part = rows[i:i + ROWS_PER_NOTICE]
            self.seq += 1
            self.notifier.publish(
                Envelope(kind="event", sender=self.sender, target="SwitchoverService",
                         eid=proto.CHANGE,
                         body={"epoch": self.epoch, "seq": self.seq, "count": len(part)}),
                [proto.encode_changes(part)])
