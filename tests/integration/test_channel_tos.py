"""A channel's TOS byte is on the real socket it connects with, and on each one it
recreates after a loss ("Switchover Use QoS for Ping" marks the ping's packets)."""
from __future__ import annotations

import threading
import time
from typing import Iterator

import pytest
import zmq

from switchover.localpair import free_ports
from switchover.transport.channel import Channel


class _Spy(Channel):
    """Records every socket the loop makes, to read its options on the loop thread."""

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.made: list[zmq.Socket] = []

    def socket(self, kind: int) -> zmq.Socket:
        sock = super().socket(kind)
        if kind == zmq.DEALER:
            self.made.append(sock)
        return sock


def _on_loop(channel: Channel, read) -> object:
    box: list[object] = []
    done = threading.Event()

    def run() -> None:
        box.append(read())
        done.set()

    assert channel.call_soon(run)
    assert done.wait(5)
    return box[0]


@pytest.fixture
def ctx() -> Iterator[zmq.Context]:
    context = zmq.Context()
    yield context
    context.term()


@pytest.mark.parametrize("tos", [0, 34 << 2, 46 << 2])
def test_the_socket_carries_the_tos_byte(ctx: zmq.Context, tos: int) -> None:
    (port,) = free_ports(1)
    channel = _Spy(ctx, name="aux", endpoint=f"tcp://127.0.0.1:{port}", keys=None,
                   server_public=None, sender="SwitchoverService", on_state=lambda *_: None,
                   heartbeat_interval=0.02, heartbeat_liveness=2, reconnect_delay=0.02,
                   tos=tos)
    channel.start()
    try:
        assert _on_loop(channel, lambda: channel.made[-1].getsockopt(zmq.TOS)) == tos
        # Nothing answers: the channel throws its socket away and makes a new one.
        deadline = time.monotonic() + 5
        while len(channel.made) < 2 and time.monotonic() < deadline:
            time.sleep(0.01)
        assert len(channel.made) >= 2
        assert _on_loop(channel, lambda: [s.getsockopt(zmq.TOS) for s in channel.made
                                          if not s.closed]) == [tos]
    finally:
        channel.stop()


def test_a_tos_byte_out_of_range_is_refused(ctx: zmq.Context) -> None:
    with pytest.raises(ValueError, match="IP TOS byte 256 out of range 0..255"):
        Channel(ctx, name="aux", endpoint="tcp://127.0.0.1:9", keys=None, server_public=None,
                sender="SwitchoverService", on_state=lambda *_: None, tos=256)
