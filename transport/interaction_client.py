"""The client library an application embeds to create and change interactions.

It talks to the "InteractionRecovery" service of whichever server is active, over a
Notifier connection (a `Channel`). Three rules make a switchover invisible to the
application, beyond the reference's "All chat responses typed during the switchover are
maintained":

1. **Last used first.** It connects to the server it last used (remembered in a small
   state file when given one), then to the other: the reference's client-side caching.
2. **Every call has an id.** The client makes a request id per call; the server applies
   an id once, on the active and, through replication, on the backup that replaces it.
3. **Resend what was not acknowledged.** On a timeout, a lost connection or a "not
   active" answer, the client moves to the other server and resends, in their original
   order, every call not yet acknowledged, until one server acknowledges them (or
   `give_up` seconds pass with no server answering). A call the active applied but did
   not get to acknowledge is thus applied exactly once.

Plain dicts only: this module imports nothing outside transport/.
"""
from __future__ import annotations

import collections
import itertools
import json
import logging
import threading
import time
import uuid
from concurrent.futures import Future
from pathlib import Path
from typing import Any, Callable, Mapping, Protocol, Sequence

import orjson
import zmq

from .channel import Channel
from .envelope import EnvelopeError
from .interaction_batch import (ANSWER_BYTES, BATCH, BATCH_ANSWER_BYTES, BATCH_BYTES,
                                BATCH_CALLS, MAX_CALL_BYTES, MESSAGES_IN_FLIGHT, SERVICE, Call,
                                attachment, batch_answers)
from .last_server import LastServer
from .outcome import Outcome
from .security import CurveKeys

log = logging.getLogger("InteractionClient")


class InteractionError(Exception):
    """The active refused the call itself (unknown interaction, malformed request)."""


class Unavailable(Exception):
    """No server acknowledged the call within `give_up` seconds."""


class Link(Protocol):
    """What the client needs of a connection (a `Channel`; a fake in unit tests)."""

    def request(self, target: str, eid: str, body: Mapping[str, Any] | None = None, *,
                timeout: float, bulk: Sequence[bytes] = ()) -> Future[Outcome]: ...

    def stop(self) -> None: ...


class InteractionClient:
    def __init__(
        self,
        endpoints: Sequence[str],
        keys: CurveKeys | None,
        server_public: bytes | None,
        name: str = "Application",
        *,
        state_path: str | Path | None = None,
        timeout: float = 2.0,
        give_up: float = 120.0,
        window: int = 1024,
        connect: Callable[[str], Link] | None = None,
    ) -> None:
        if not endpoints:
            raise ValueError("an interaction client needs at least one server endpoint")
        self.name = name
        self._timeout = timeout
        self._give_up = give_up
        self._last = LastServer(state_path, name)
        self._keys, self._server_public = keys, server_public
        self._ctx: zmq.Context | None = None
        self._connect = connect or self._channel
        last = self._last.load()
        self.endpoints = [last, *[e for e in endpoints if e != last]] if last in endpoints \
            else list(endpoints)
        self._index = 0
        self._gen = 0
        self._lock = threading.RLock()
        self._pending: dict[str, Call] = {}  # insertion order = order of the calls
        # Calls not yet sent on the current connection, oldest first. At most `window`
        # calls are in flight (what a failover resends), in at most MESSAGES_IN_FLIGHT
        # messages, which keeps far below the sockets' high-water marks.
        self._unsent: collections.deque[str] = collections.deque()
        self._window = window
        self._inflight = 0  # calls
        self._messages = 0
        self._unbatched: str | None = None  # a server that refused a batch as invalid
        self._ids = itertools.count(1)
        self._prefix = f"{name}-{uuid.uuid4().hex[:12]}"
        self._failing_since: float | None = None
        self._tried_since_ok = 0
        self._closed = False
        self.failovers = 0
        self._link: Link | None = self._connect(self.endpoints[0])

    @property
    def endpoint(self) -> str:
        """The server this client is talking to now."""
        return self.endpoints[self._index]

    # --- the application's calls ------------------------------------------------------

    def create(self, interaction: Mapping[str, Any], files: Sequence[bytes] = (),
               wait: bool = True) -> Any:
        return self.call("create", {"interaction": dict(interaction)}, files, wait=wait)

    def update_state(self, key: str, state: str, wait: bool = True) -> Any:
        return self.call("update_state", {"key": key, "state": state}, wait=wait)

    def assign(self, key: str, agent: str, state: str = "offering", wait: bool = True) -> Any:
        return self.call("assign", {"key": key, "agent": agent, "state": state}, wait=wait)

    def requeue(self, key: str, queue_kind: str, queue: str, state: str = "queued",
                wait: bool = True) -> Any:
        return self.call("requeue", {"key": key, "queue_kind": queue_kind, "queue": queue,
                                     "state": state}, wait=wait)

    def append_message(self, key: str, message_id: str, text: str, author: str = "",
                       kind: str = "text", file: tuple[str, bytes] | None = None,
                       wait: bool = True) -> Any:
        """A chat/SMS/social line; `message_id` is what makes a resent line land once."""
        line: dict[str, Any] = {"line_id": message_id, "author": author, "text": text,
                                "kind": kind, "timestamp": time.time()}
        bulk: tuple[bytes, ...] = ()
        if file is not None:
            line["file"], data = attachment(*file)
            bulk = (data,)
        return self.call("append_message", {"key": key, "line": line}, bulk, wait=wait)

    def save_draft(self, key: str, draft: Mapping[str, Any], files: Sequence[bytes] = (),
                   wait: bool = True) -> Any:
        return self.call("save_draft", {"key": key, "draft": dict(draft)}, files, wait=wait)

    def close(self, key: str, wait: bool = True) -> Any:
        return self.call("close", {"key": key}, wait=wait)

    def get(self, key: str) -> dict[str, Any] | None:
        return self.call("get", {"key": key})["interaction"]

    def list(self, type: str | None = None) -> list[dict[str, Any]]:  # noqa: A002
        """Every live interaction (of a type), fetched page by page."""
        found: list[dict[str, Any]] = []
        while True:
            page = self.call("list", {"type": type, "after": found[-1]["key"] if found else ""})
            found += page["interactions"]
            if not page.get("more") or not page["interactions"]:
                return found

    def stats(self) -> list[list[Any]]:
        return self.call("stats", {})["stats"]

    def call(self, eid: str, body: Mapping[str, Any], bulk: Sequence[bytes] = (),
             wait: bool = True) -> Any:
        """Send one call; its response body, or a Future of it when `wait` is False."""
        if self._closed:
            raise RuntimeError("interaction client closed")
        rid = f"{self._prefix}-{next(self._ids)}"
        full = {**body, "rid": rid}
        size = len(orjson.dumps(full))
        if size > MAX_CALL_BYTES:
            raise InteractionError(f"{eid}: the call is {size} bytes, over the limit of "
                                   f"{MAX_CALL_BYTES}: send large content as files")
        call = Call(rid, eid, full, tuple(bulk), size)
        with self._lock:
            self._pending[rid] = call
            self._unsent.append(rid)
            self._pump()  # without a connection, the failover in progress sends it
        if not wait:
            return call.result
        return call.result.result(timeout=self._give_up + 4 * self._timeout + 2.0)

    def pending(self) -> int:
        """Calls sent and not yet acknowledged."""
        with self._lock:
            return len(self._pending)

    def shutdown(self) -> None:
        with self._lock:
            self._closed = True
            link, self._link = self._link, None
            calls, self._pending = list(self._pending.values()), {}
        if link is not None:
            link.stop()
        for call in calls:
            _set(call.result, exc=Unavailable("interaction client closed"))
        if self._ctx is not None:
            self._ctx.destroy(linger=0)

    # --- sending and failing over -----------------------------------------------------

    def _pump(self) -> None:
        """Under the lock: send the oldest unsent calls while the window has room, in as
        many messages as `MESSAGES_IN_FLIGHT` allows (see there)."""
        while self._link is not None and self._messages < MESSAGES_IN_FLIGHT:
            group = self._next_group()
            if not group:
                return
            self._send(group)

    def _next_group(self) -> list[Call]:
        """Under the lock: the oldest unsent calls that can share one message."""
        group: list[Call] = []
        size = answer = 0
        while self._unsent and self._inflight + len(group) < self._window:
            call = self._pending.get(self._unsent[0])
            if call is None or call.sent_gen >= self._gen:
                self._unsent.popleft()
                continue
            grows = len(str(call.body.get("key", ""))) + ANSWER_BYTES
            if group and (call.alone or self._unbatched == self.endpoint
                          or len(group) >= BATCH_CALLS
                          or size + call.size > BATCH_BYTES
                          or answer + grows > BATCH_ANSWER_BYTES):
                break
            self._unsent.popleft()
            group.append(call)
            size += call.size
            answer += grows
            if call.alone:
                break
        return group

    def _send(self, group: list[Call]) -> None:
        """Under the lock."""
        gen, link = self._gen, self._link
        assert link is not None
        try:
            if len(group) == 1:
                call = group[0]
                future = link.request(SERVICE, call.eid, call.body, timeout=self._timeout,
                                      bulk=call.bulk)
            else:
                future = link.request(SERVICE, BATCH,
                                      {"calls": [[c.eid, c.body] for c in group]},
                                      timeout=self._timeout)
        except EnvelopeError as exc:  # too large with its files: it can never travel
            for call in group:
                del self._pending[call.rid]
                _set(call.result, exc=InteractionError(f"{call.eid}: {exc}"))
            return
        for call in group:
            call.sent_gen = gen
        self._inflight += len(group)
        self._messages += 1
        future.add_done_callback(lambda f: self._outcome(group, gen, f.result()))

    def _outcome(self, group: list[Call], gen: int, outcome: Outcome) -> None:
        body = dict(outcome.response.body or {}) if outcome.response is not None else {}
        status = outcome.response.status if outcome.response is not None else None
        if len(group) > 1 and (status == "error" or body.get("code") == "invalid"):
            # The batch itself was refused (a server without batches, an answer too large
            # to send): nothing in it was applied, so its calls go again, alone.
            with self._lock:
                self._refused_batch(group, gen, body.get("reason", outcome.detail),
                                    invalid=status != "error")
            return
        if not outcome.ok:  # the message itself failed: every call in it shares that
            answers = [(status, body, ())] * len(group)
        elif len(group) == 1:
            answers = [("ok", body, outcome.bulk)]
        else:
            answers = batch_answers(body, len(group))
        with self._lock:
            if gen == self._gen:
                self._inflight -= len(group)
                self._messages -= 1
            retry = False
            for call, (status, answer, bulk) in zip(group, answers):
                retry |= self._settle(call, gen, status, answer, bulk, outcome.detail)
            if retry and gen == self._gen:
                log.warning("%s: %s on %s (%s): trying the other server", self.name,
                            group[0].eid if len(group) == 1 else f"batch of {len(group)}",
                            self.endpoint, f"{outcome.status} {outcome.detail}".strip())
                self._begin_failover()
            else:
                self._pump()

    def _refused_batch(self, group: list[Call], gen: int, reason: str,
                       invalid: bool) -> None:
        """Under the lock: put a refused batch's calls back at the head of the queue. A
        server that calls a batch invalid (one without batches) gets single calls from
        then on; after a failover the other server is tried with batches again."""
        if gen != self._gen:
            return  # already resent on the newer connection
        self._inflight -= len(group)
        self._messages -= 1
        if invalid:
            self._unbatched = self.endpoint
        log.warning("%s: a batch of %d calls was refused (%s): sending them one by one",
                    self.name, len(group), reason)
        for call in reversed(group):
            if self._pending.get(call.rid) is call:
                call.solo, call.sent_gen = True, -1
                self._unsent.appendleft(call.rid)
        self._pump()

    def _settle(self, call: Call, gen: int, status: str | None, body: dict[str, Any],
                bulk: Sequence[bytes], detail: str) -> bool:
        """Under the lock: end one call by its answer; True if it must be resent."""
        if self._pending.get(call.rid) is not call:
            return False
        if status == "ok":
            del self._pending[call.rid]
            self._succeeded(gen)
            if body.get("payload") == "bulk" and bulk:
                body = json.loads(bulk[0])  # large answers ride in a bulk frame
            _set(call.result, value=body)
            return False
        if status == "error" or body.get("code") == "invalid":
            del self._pending[call.rid]  # the server refused the call itself: no retry
            _set(call.result, exc=InteractionError(body.get("reason", detail)))
            return False
        return True

    def _succeeded(self, gen: int) -> None:
        if gen == self._gen:
            self._failing_since = None
            self._tried_since_ok = 0
            self._last.save(self.endpoint)

    def _begin_failover(self) -> None:
        """Under the lock: drop the connection now, connect to the next server soon."""
        now = time.monotonic()
        if self._failing_since is None:
            self._failing_since = now
        elif now - self._failing_since > self._give_up:
            calls, self._pending = list(self._pending.values()), {}
            for call in calls:
                _set(call.result, exc=Unavailable(
                    f"no server acknowledged within {self._give_up:.1f} s"))
            self._failing_since, self._tried_since_ok = now, 0
        self._gen += 1
        self._inflight = self._messages = 0
        self._tried_since_ok += 1
        link, self._link = self._link, None
        gen = self._gen
        # Once every server has been tried, pause before each further round.
        delay = 0.0 if self._tried_since_ok < len(self.endpoints) else min(
            1.0, 0.05 * self._tried_since_ok)
        threading.Thread(target=self._failover, args=(gen, link, delay),
                         name="interaction-client-failover", daemon=True).start()

    def _failover(self, gen: int, old: Link | None, delay: float) -> None:
        if old is not None:
            old.stop()  # its outstanding futures complete as cancelled, with an old gen
        if delay:
            time.sleep(delay)
        with self._lock:
            if gen != self._gen or self._closed:
                return
            self._index = (self._index + 1) % len(self.endpoints)
            self.failovers += 1
            self._link = self._connect(self.endpoint)
            self._unsent = collections.deque(self._pending)  # resend all, in order
            self._pump()

    # --- the connection ---------------------------------------------------------------

    def _channel(self, endpoint: str) -> Link:
        if self._ctx is None:
            self._ctx = zmq.Context()
        interval = max(0.05, self._timeout / 3)
        channel = Channel(self._ctx, name="interactions", endpoint=endpoint, keys=self._keys,
                          server_public=self._server_public, sender=self.name,
                          on_state=lambda *_: None, heartbeat_interval=interval,
                          reconnect_delay=interval)
        channel.start()
        return channel

def _set(future: Future, value: Any = None, exc: BaseException | None = None) -> None:
    if future.done():
        return
    if exc is not None:
        future.set_exception(exc)
    else:
        future.set_result(value)
