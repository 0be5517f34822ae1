"""PeerLinks.wait_connected, driven by the channels' own state reports (no sockets: the
channels are never started; a channel "comes up" as its loop makes it, by setting its
state and reporting it)."""
from __future__ import annotations

import threading
import time
from typing import Iterator

import pytest
import zmq

from actors.peer import PeerLinks, ping_tos
from switchover.clock import FakeClock
from switchover.params import ServerParameters


@pytest.fixture
def made() -> Iterator[tuple[PeerLinks, list[tuple[str, bool]]]]:
    ctx = zmq.Context()
    states: list[tuple[str, bool]] = []
    links = PeerLinks(ctx, FakeClock(),  # FakeClock: reference seconds are real seconds
                      endpoints={"main": "tcp://127.0.0.1:9", "aux": "tcp://127.0.0.1:9"},
                      keys=None, server_public=None, sender="SwitchoverService",
                      on_state=lambda name, up: states.append((name, up)), on_event=None,
                      reconnect_delay=1.0)
    yield links, states
    links.stop()
    ctx.term()


def come_up(links: PeerLinks, name: str) -> None:
    """What a channel's loop does when the peer's Notifier first answers it."""
    channel = links._channels[name]
    channel._connected = True
    channel._state(True)


def later(delay: float, fn, *args) -> threading.Timer:
    timer = threading.Timer(delay, fn, args)
    timer.start()
    return timer


def test_returns_true_as_soon_as_a_channel_comes_up(made) -> None:
    links, states = made
    assert not links.wait_connected(0)
    timer = later(0.05, come_up, links, "aux")
    start = time.monotonic()
    assert links.wait_connected(30)  # no cancel: one wait on the condition, woken
    assert time.monotonic() - start < 5
    timer.join()
    assert links.connected("aux") and not links.connected("main")
    assert states == [("aux", True)]  # the host still gets every report


def test_returns_false_at_its_timeout(made) -> None:
    links, _ = made
    start = time.monotonic()
    assert not links.wait_connected(0.2)
    assert 0.2 <= time.monotonic() - start < 5


def test_a_channel_already_up_answers_at_once_even_when_cancelled(made) -> None:
    links, _ = made
    come_up(links, "main")
    cancel = threading.Event()
    cancel.set()
    assert links.wait_connected(30, cancel)


def test_cancel_and_stop_end_the_wait(made) -> None:
    links, _ = made
    cancel = threading.Event()
    timer = later(0.05, cancel.set)
    start = time.monotonic()
    assert not links.wait_connected(30, cancel)
    assert time.monotonic() - start < 5
    timer.join()

    timer = later(0.05, links.stop)
    start = time.monotonic()
    assert not links.wait_connected(30)
    assert time.monotonic() - start < 5
    timer.join()


def test_any_of_several_cancel_events_ends_the_wait(made) -> None:
    links, _ = made
    backup_over, resync_cancelled = threading.Event(), threading.Event()
    timer = later(0.05, resync_cancelled.set)
    start = time.monotonic()
    assert not links.wait_connected(30, (backup_over, resync_cancelled))
    assert time.monotonic() - start < 5
    timer.join()
    assert not links.wait_connected(30, [backup_over, resync_cancelled])  # already set
    come_up(links, "aux")
    assert links.wait_connected(30, (backup_over, resync_cancelled))


# --- QoS: the ping's TOS byte ----------------------------------------------------------


@pytest.mark.parametrize(("qos", "aux", "dscp", "expected"), [
    ("Yes", "Yes", None, {"aux": 34 << 2}),  # AF41 by default
    ("Yes", "Yes", 46, {"aux": 184}),
    ("Yes", "No", 46, {}),  # "If only ... Use QoS For Ping is enabled, QoS is not used"
    ("No", "Yes", 46, {}),
    (None, None, None, {}),
])
def test_ping_tos_marks_the_aux_channel_only_with_both_parameters(qos, aux, dscp,
                                                                  expected) -> None:
    raw = {"Switchover Use QoS for Ping": qos, "Switchover Ping on Aux Connection": aux,
           "Switchover QoS DSCP": dscp}
    params = ServerParameters.from_mapping({k: v for k, v in raw.items() if v is not None})
    assert ping_tos(params) == expected


def test_links_give_each_channel_its_tos_byte() -> None:
    ctx = zmq.Context()
    links = PeerLinks(ctx, FakeClock(),
                      endpoints={"main": "tcp://127.0.0.1:9", "aux": "tcp://127.0.0.1:9"},
                      keys=None, server_public=None, sender="SwitchoverService",
                      on_state=lambda *_: None, on_event=None, reconnect_delay=1.0,
                      tos={"aux": 136})
    try:
        assert {name: ch.tos for name, ch in links._channels.items()} == {"main": 0, "aux": 136}
    finally:
        links.stop()
        ctx.term()
