"""The backup's two remote Notifier connections ("Remote Notifier Connections").

Main and auxiliary are separate DEALER channels to separate addresses and ports, so one
can fail while the other lives ("Redundancy"). This object owns both for the host and
offers them to the monitors through the `Links` shape, converting the reference's
seconds into real seconds with the clock.
"""
from __future__ import annotations

import concurrent.futures
from typing import Any, Callable, Mapping, Sequence

import zmq

from switchover.clock import Clock
from transport.channel import Channel
from transport.envelope import Envelope
from transport.outcome import CONNECTION_LOST, Outcome
from transport.security import CurveKeys

CHANNELS = ("main", "aux")


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
    ) -> None:
        heartbeat = clock.real_seconds(1.0)
        self._clock = clock
        self._channels = {
            name: Channel(
                ctx,
                name=name,
                endpoint=endpoints[name],
                keys=keys,
                server_public=server_public,
                sender=sender,
                on_state=on_state,
                on_event=on_event,
                heartbeat_interval=heartbeat,
                reconnect_delay=clock.real_seconds(reconnect_delay),
            )
            for name in CHANNELS
        }

    def start(self) -> None:
        for channel in self._channels.values():
            channel.start()

    def stop(self) -> None:
        for channel in self._channels.values():
            channel.cancel_all()
        for channel in self._channels.values():
            channel.stop()

    def connected(self, channel: str) -> bool:
        return self._channels[channel].connected

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
        return chan.request(target, eid, body, timeout=self._clock.real_seconds(timeout),
                            bulk=bulk)

    def cancel_all(self) -> None:
        for channel in self._channels.values():
            channel.cancel_all()
