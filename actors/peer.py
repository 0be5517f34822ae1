"""The backup's two remote Notifier connections ("Remote Notifier Connections").

Main and auxiliary are separate DEALER channels to separate addresses and ports, so one
can fail while the other lives ("Redundancy"). This object owns both for the host and
offers them to the monitors through the `Links` shape, converting the reference's
seconds into real seconds with the clock. The active publishes every event on both; the
links deliver each once, by the number and epoch the active's Notifier stamps on it, to
the handler `route` declared for its eid (the replication services' `events()`), and
anything else to `on_event`. A thread that must not act before a channel is
up (a replication service's worker) blocks in `wait_connected`, woken by the channels'
state reports.

"Switchover Use QoS for Ping" marks the TS ping with "Switchover QoS DSCP" only where the
reference says it does: on the auxiliary connection, and only when "Switchover Ping on
Aux Connection" has moved the ping there (`ping_tos` works that out from the parameters;
the channels take the TOS byte as a plain number).
"""
from __future__ import annotations

import collections
import concurrent.futures
import logging
import threading
import time
from typing import Any, Callable, Iterable, Mapping, Sequence

import zmq

from switchover.clock import Clock
from switchover.metrics import observe_request
from switchover.transport.channel import CHANNELS, Channel
from switchover.transport.envelope import Envelope
from switchover.transport.outcome import CONNECTION_LOST, Outcome
from switchover.transport.security import CurveKeys

log = logging.getLogger("NotifierLib")

#: Event keys (epoch, number) remembered to drop the second channel's copy: far more
#: than can arrive on one channel before the other's copy of the same event.
SEEN_EVENTS = 16_384
EventHandler = Callable[[Envelope, tuple[bytes, ...]], Any]


def ping_tos(params: Mapping[str, Any]) -> dict[str, int]:
    """The IP TOS byte (DSCP << 2) for each channel that carries a QoS-marked ping.

    The reference: "If only the Switchover Use QoS For Ping parameter is enabled, QoS is
    not used on the ping": both it and "Switchover Ping on Aux Connection" must be on, and
    then the aux channel (the ping's) is marked, never the main one with the bulk data.
    """
    if params["Switchover Use QoS for Ping"] and params["Switchover Ping on Aux Connection"]:
        return {"aux": int(params["Switchover QoS DSCP"]) << 2}
    return {}
#: How often (real seconds, at most) `wait_connected` looks at its cancel event: nothing
#: signals a set Event to the links, so a waiter given one wakes this often to check it.
CANCEL_CHECK = 0.05


class PeerLinks:
    def __init__(
        self,
        ctx: zmq.Context,
        clock: Clock,
        *,
        endpoints: Mapping[str, str],
        keys: CurveKeys | None,
        server_public: bytes | None,
        sender: str,
        on_state: Callable[[str, bool], None],
        on_event: Callable[[Envelope, tuple[bytes, ...]], None] | None,
        reconnect_delay: float,
        tos: Mapping[str, int] | None = None,
    ) -> None:
        heartbeat = clock.real_seconds(1.0)
        tos = tos or {}
        self._clock = clock
        self._on_state = on_state
        self._on_event = on_event
        self._routes: dict[str, EventHandler] = {}
        self._seen: collections.OrderedDict[tuple[str, int], None] = collections.OrderedDict()
        self._seen_lock = threading.Lock()
        # Notified whenever a channel reports a state change and when the links stop.
        self._changed = threading.Condition()
        self._stopped = False
        self._channels = {
            name: Channel(
                ctx,
                name=name,
                endpoint=endpoints[name],
                keys=keys,
                server_public=server_public,
                sender=sender,
                on_state=self._state_changed,
                on_event=self._deliver,
                heartbeat_interval=heartbeat,
                reconnect_delay=clock.real_seconds(reconnect_delay),
                tos=tos.get(name, 0),
            )
            for name in CHANNELS
        }

    def start(self) -> None:
        for channel in self._channels.values():
            channel.start()

    def stop(self) -> None:
        with self._changed:
            self._stopped = True
            self._changed.notify_all()
        for channel in self._channels.values():
            channel.cancel_all()
        for channel in self._channels.values():
            channel.stop()

    def connected(self, channel: str) -> bool:
        return self._channels[channel].connected

    def route(self, eids: Iterable[str], handler: EventHandler) -> None:
        """Deliver the peer's events of these eids to `handler` (before `start`)."""
        for eid in eids:
            self._routes[eid] = handler

    def _deliver(self, env: Envelope, bulk: tuple[bytes, ...]) -> None:
        """A channel's event (on its loop thread): once, to whoever declared its eid. An
        event without a number (a peer of an older release) is delivered as it comes."""
        if env.req_id > 0:
            key = (env.oid, env.req_id)
            with self._seen_lock:
                if key in self._seen:
                    return  # the other channel's copy
                self._seen[key] = None
                if len(self._seen) > SEEN_EVENTS:
                    self._seen.popitem(last=False)
        handler = self._routes.get(env.eid, self._on_event)
        if handler is None:
            log.warning("NotifierLib: event %r from the peer: nothing here handles it", env.eid)
            return
        handler(env, bulk)

    def wait_connected(self, timeout: float,
                       cancel: threading.Event | Iterable[threading.Event] | None = None
                       ) -> bool:
        """Block until the main or the aux channel is connected; True once one is.

        False after `timeout` reference seconds, or as soon as `cancel` (one event, or
        several: whichever is set first) is set (seen within `CANCEL_CHECK` real seconds)
        or the links are stopped. A channel that is already up answers True at once,
        whatever `cancel` says.
        """
        events = (() if cancel is None else (cancel,) if isinstance(cancel, threading.Event)
                  else tuple(cancel))
        deadline = time.monotonic() + self._clock.real_seconds(timeout)
        check = max(0.001, min(CANCEL_CHECK, self._clock.real_seconds(0.5)))
        with self._changed:
            while True:
                if any(channel.connected for channel in self._channels.values()):
                    return True
                if self._stopped or any(event.is_set() for event in events):
                    return False
                left = deadline - time.monotonic()
                if left <= 0:
                    return False
                self._changed.wait(min(left, check) if events else left)

    def _state_changed(self, channel: str, up: bool) -> None:
        """A channel's report (on its loop thread, its `connected` already updated)."""
        with self._changed:
            self._changed.notify_all()
        self._on_state(channel, up)

    def request(
        self,
        channel: str,
        target: str,
        eid: str,
        *,
        timeout: float,
        body: Mapping[str, Any] | None = None,
        bulk: Sequence[bytes] = (),
    ) -> concurrent.futures.Future[Outcome]:
        """Send on one channel; `timeout` is in reference seconds."""
        chan = self._channels.get(channel)
        if chan is None:
            future: concurrent.futures.Future[Outcome] = concurrent.futures.Future()
            future.set_result(Outcome(CONNECTION_LOST, detail=f"no channel {channel!r}"))
            return future
        started = time.monotonic()
        future = chan.request(target, eid, body, timeout=self._clock.real_seconds(timeout),
                              bulk=bulk)
        future.add_done_callback(lambda done: observe_request(
            channel, target, time.monotonic() - started,
            "cancelled" if done.cancelled() else
            "error" if done.exception() is not None else done.result().status))
        return future

    def cancel_all(self) -> None:
        for channel in self._channels.values():
            channel.cancel_all()
