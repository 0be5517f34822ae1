"""PeerLinks.wait_connected, driven by the channels' own state reports (no sockets: the
channels are never started; a channel "comes up" as its loop makes it, by setting its
state and reporting it)."""
from __future__ import annotations

import threading
import time
from typing import Iterator

import pytest
import zmq

from switchover.actors.peer import PeerLinks, ping_tos
from switchover.clock import FakeClock
from switchover.params import ServerParameters
from switchover.transport.envelope import Envelope


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


def event(eid: str, number: int, epoch: str = "epoch-a") -> Envelope:
    return Envelope("event", "DSServer", "SwitchoverService", eid, number, epoch,
                    body={"n": number})


def test_an_event_is_delivered_once_to_the_service_that_declared_it(made) -> None:
    """The active publishes every event on main and on aux; each channel's loop hands
    its copy over: only the first reaches the service, by eid."""
    links, _ = made
    ds: list[int] = []
    files: list[int] = []
    links.route(["DS Change"], lambda env, bulk: ds.append(env.req_id))
    links.route(["File Change", "Handlers Published"], lambda env, bulk: files.append(env.req_id))
    for number, eid in enumerate(["DS Change", "File Change", "DS Change"], start=1):
        links._deliver(event(eid, number), ())  # main's copy
        links._deliver(event(eid, number), ())  # aux's copy
    assert ds == [1, 3] and files == [2]


def test_a_restarted_notifier_numbers_again_in_a_new_epoch(made) -> None:
    links, _ = made
    got: list[tuple[str, int]] = []
    links.route(["DS Change"], lambda env, bulk: got.append((env.oid, env.req_id)))
    links._deliver(event("DS Change", 1, "epoch-a"), ())
    links._deliver(event("DS Change", 1, "epoch-b"), ())
    assert got == [("epoch-a", 1), ("epoch-b", 1)]


def test_undeclared_and_unnumbered_events_go_to_the_host() -> None:
    ctx = zmq.Context()
    other: list[str] = []
    links = PeerLinks(ctx, FakeClock(), endpoints={"main": "tcp://127.0.0.1:9",
                                                   "aux": "tcp://127.0.0.1:9"},
                      keys=None, server_public=None, sender="SwitchoverService",
                      on_state=lambda name, up: None,
                      on_event=lambda env, bulk: other.append(env.eid), reconnect_delay=1.0)
    try:
        links._deliver(event("Module Lost", 7), ())
        links._deliver(event("Module Lost", 7), ())
        # a peer of an older release numbers nothing: every copy is handed on
        links._deliver(event("Module Lost", 0), ())
        links._deliver(event("Module Lost", 0), ())
        assert other == ["Module Lost"] * 3
    finally:
        links.stop()
        ctx.term()
