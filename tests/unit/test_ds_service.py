"""DSService as the host sees it, two of them wired together in-process (no sockets):
the backup's requests reach the active's registered "DSServer" handler directly, and the
active's events reach the backup twice, as on the main and aux channels."""
from __future__ import annotations

import concurrent.futures
import re
import threading
import time
from pathlib import Path
from types import SimpleNamespace
from typing import Any, Callable, Iterator

import pytest
import zmq

from switchover.actors.peer import PeerLinks
from switchover.replication.ds import protocol as p
from switchover.replication.ds.protocol import HEAD, RemoteError
from switchover.replication.ds import remote
from switchover.replication.ds import requests as requests_module
from switchover.replication.ds.service import DSService
from switchover.replication.service import ServiceContext
from switchover.clock import FakeClock
from switchover.logs import EventLog
from switchover.params import ServerParameters
from switchover.transport.envelope import Envelope
from switchover.transport.outcome import Outcome

BASE = {"SwitchoverServer A": "A", "SwitchoverServer B": "B", "Switchover TS Timeout": 10}


class Notifier:
    def __init__(self) -> None:
        self.services: dict[str, Callable] = {}
        self.subscribers: list[Callable] = []
        self.peer_connected = True

    def register_service(self, name: str, handler: Callable) -> None:
        self.services[name] = handler

    def publish(self, env: Envelope, bulk: Any = ()) -> None:
        for deliver in self.subscribers:
            deliver(env, tuple(bulk))
            deliver(env, tuple(bulk))  # main and aux


class Links:
    def __init__(self, peer: Notifier) -> None:
        self.peer = peer

    def connected(self, channel: str) -> bool:
        return True

    def wait_connected(self, timeout: float, cancel: Any = None) -> bool:
        return True

    def request(self, channel: str, target: str, eid: str, *, timeout: float,
                body: Any = None, bulk: Any = ()) -> concurrent.futures.Future:
        out: concurrent.futures.Future = concurrent.futures.Future()
        env = Envelope("request", "SwitchoverService", target, eid, 1, body=body or {})

        def reply(status: str = "ok", body: Any = None, bulk: Any = ()) -> None:
            resp = env.reply(status, body)
            out.set_result(Outcome("ok" if status == "ok" else "rejected", resp, tuple(bulk)))

        self.peer.services[target](env, tuple(bulk), reply)
        return out


def make(tmp: Path, name: str, peer: str, notifier: Notifier, peer_notifier: Notifier,
         params: dict, links: Any = None) -> tuple[DSService, list[ServerParameters]]:
    seen: list[ServerParameters] = []
    config = SimpleNamespace(server_name=name, peer=SimpleNamespace(name=peer),
                             parameters=ServerParameters.from_mapping(params),
                             data_dir=tmp / name)
    state = {"params": config.parameters}

    def set_params(p: ServerParameters) -> None:
        state["params"] = p
        seen.append(p)

    ctx = ServiceContext(config=config, clock=FakeClock(), events=EventLog(tmp / f"{name}.jsonl", name),
                         notifier=notifier, links=links or Links(peer_notifier),
                         executor=concurrent.futures.ThreadPoolExecutor(1),
                         params=lambda: state["params"], set_params=set_params)
    service = DSService(ctx)
    service.start()
    return service, seen


@pytest.fixture
def pair(tmp_path: Path, request: pytest.FixtureRequest) -> Iterator[tuple]:
    extra = getattr(request, "param", {})
    na, nb = Notifier(), Notifier()
    a, seen_a = make(tmp_path, "A", "B", na, nb, {**BASE, **extra})
    b, seen_b = make(tmp_path, "B", "A", nb, na, {**BASE, **extra})
    na.subscribers.append(b.on_peer_event)
    a.on_role("active", None)
    b.on_role("backup", None)
    # "in sync" also before the backup's first resync has started: wait for its end
    wait(lambda: b.health()["state"] == "in sync" and b.health()["resyncs"])
    yield a, b, seen_a, seen_b
    b.stop()
    a.stop()


def wait(predicate: Callable[[], Any], timeout: float = 10.0) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(0.01)
    raise AssertionError("condition not met in time")


def run(service: DSService, command: str, **args: Any) -> Any:
    return service.commands()[command][1](args)


def test_seeded_parameters_replicate_under_the_actives_name(pair) -> None:
    a, b, _, seen_b = pair
    assert run(b, "params.get", name="switchover ts timeout")["value"] == "10"
    assert b.server_name() == "A"  # ${SERVER} is the active's on both servers
    run(a, "params.set", name="Switchover TS Timeout", value="7")
    wait(lambda: seen_b and seen_b[-1]["Switchover TS Timeout"] == 7)
    with pytest.raises(Exception, match="Switchover TS Timeout"):
        run(a, "params.set", name="Switchover TS Timeout", value="99")


def test_status_shows_the_phases_of_the_backups_copy_of_the_actives_store(pair) -> None:
    a, b, _, _ = pair  # the backup started empty: it took a copy
    health = b.health()
    assert "copied the active's store" in health["last_sync"]
    assert {"snapshot", "transfer", "fsync", "verify", "swap"} <= set(health["last_copy_ms"])
    assert "last_copy_ms" not in a.health()


def test_params_set_of_a_udp_monitor_parameter_is_stored_with_a_warning(pair) -> None:
    a, b, _, seen_b = pair
    result = run(a, "params.set", name="switchover udp monitor", value="Yes")
    assert result["warning"] == (
        'server parameter "Switchover UDP Monitor" has no effect: the UDP monitor was '
        "retired by the reference in 2015 R1 (the primary monitor does its work) and "
        "switchover has none; the value is accepted and ignored"
    )
    wait(lambda: seen_b and seen_b[-1].is_set("Switchover UDP Monitor"))
    assert "warning" not in run(a, "params.set", name="Switchover TS Timeout", value="7")


@pytest.mark.parametrize("name, complaint", [
    ("Custom Upgrade Synchronization Directories", "must start with ${CONFIG}"),
    ("Custom Upgrade Attribute Exceptions", "attribute list in parentheses is missing"),
])
def test_params_set_refuses_a_malformed_upgrade_filter(pair, name: str, complaint: str) -> None:
    a, _, _, _ = pair
    with pytest.raises(Exception, match=re.escape(complaint)):
        run(a, "params.set", name=name, value="foo")
    assert run(a, "params.get", name=name)["value"] != "foo"


def test_backup_refuses_writes_unless_overridden_and_resync_clears_drift(pair) -> None:
    a, b, _, _ = pair
    with pytest.raises(Exception, match="active server A"):
        run(b, "ds.set", path="${CONFIG}/Users/x", **{"class": "User"})
    run(b, "ds.set", path="${CONFIG}/Users/x", local_override=True, **{"class": "User"})
    assert any("overwritten at the next resync" in w for w in b.warnings())
    assert b.store.get("/Config/Users/x") is not None
    run(a, "ds.set", path="${CONFIG}/Users/y", attributes={"Extension": "5"})
    wait(lambda: b.store.get("/Config/Users/y") is not None)  # the stream goes on
    b.resync()
    wait(lambda: b.store.get("/Config/Users/x") is None and not b.drift)
    assert b.store.subtree_hash("/") == a.store.subtree_hash("/")


@pytest.mark.parametrize("pair", [{"Switchover Synchronous DS Replication": "Yes"}],
                         indirect=True)
def test_synchronous_write_returns_once_the_backup_applied(pair) -> None:
    a, b, _, _ = pair
    result = run(a, "ds.set", path="/Config/Users/z", attributes={"Extension": "1"})
    assert result["replicated"] == "applied on the backup"
    assert b.store.get("/Config/Users/z") is not None
    assert a.health()["state"] == "in sync"


def test_tree_export_and_import_on_the_active(pair, tmp_path: Path) -> None:
    a, b, _, _ = pair
    run(a, "ds.set", path="/Config/Users/u1", attributes={"Extension": "1"})
    text = run(a, "ds.export")["text"]
    run(a, "ds.delete", path="/Config/Users/u1")
    run(a, "ds.import", text=text)
    assert run(a, "ds.get", path="/Config/Users/u1")["attributes"] == {"Extension": ["1"]}
    wait(lambda: b.store.subtree_hash("/") == a.store.subtree_hash("/"))
    tree = run(b, "ds.tree", path="/Config", depth=1)
    assert [e["path"] for e in tree["entries"]] == ["/Config", "/Config/Users"]


@pytest.fixture
def unconnected() -> Iterator[PeerLinks]:
    """The host's peer links before either channel has reached the active (never started:
    no sockets)."""
    ctx = zmq.Context()
    links = PeerLinks(ctx, FakeClock(),
                      endpoints={"main": "tcp://127.0.0.1:9", "aux": "tcp://127.0.0.1:9"},
                      keys=None, server_public=None, sender="SwitchoverService",
                      on_state=lambda name, up: None, on_event=None, reconnect_delay=1.0)
    yield links
    links.stop()
    ctx.term()


def waiting_call(service: DSService,
                 call: Callable[[], Any] | None = None) -> concurrent.futures.Future:
    """A DSServer request (by default a bare `requests.call`) on a worker thread, checked to be
    waiting for a channel."""
    pool = concurrent.futures.ThreadPoolExecutor(1)
    future = pool.submit(call or (lambda: service.requests.call(HEAD, {}, ())))
    pool.shutdown(wait=False)
    with pytest.raises(concurrent.futures.TimeoutError):
        future.result(timeout=0.1)  # "Switchover DS Request Timeout" is 120 s
    return future


NO_CONNECTION = r"^DS Head: no connection to the active server$"


def test_call_gives_up_when_this_host_stops_being_the_backup(tmp_path: Path,
                                                              unconnected) -> None:
    b, _ = make(tmp_path, "B", "A", Notifier(), Notifier(), BASE, links=unconnected)
    try:
        b.on_role("backup", None)
        future = waiting_call(b)
        b.on_role("backup", "higher")  # still the backup: still waiting
        with pytest.raises(concurrent.futures.TimeoutError):
            future.result(timeout=0.1)
        start = time.monotonic()
        b.on_role("stale", None)
        with pytest.raises(RemoteError, match=NO_CONNECTION):
            future.result(timeout=5)
        assert time.monotonic() - start < 1
        with pytest.raises(RemoteError, match=NO_CONNECTION):  # not the backup: at once
            b.requests.call(HEAD, {}, ())
    finally:
        b.stop()


def test_call_gives_up_when_the_service_stops(tmp_path: Path, unconnected) -> None:
    b, _ = make(tmp_path, "B", "A", Notifier(), Notifier(), BASE, links=unconnected)
    b.on_role("backup", None)
    future = waiting_call(b)
    b.stop()
    with pytest.raises(RemoteError, match=NO_CONNECTION):
        future.result(timeout=5)


def test_call_gives_up_when_its_resync_is_cancelled(tmp_path: Path, unconnected) -> None:
    b, _ = make(tmp_path, "B", "A", Notifier(), Notifier(), BASE, links=unconnected)
    try:
        b.on_role("backup", None)
        cancel = threading.Event()
        remote = b.requests.remote(cancel)  # what the replicator builds for one resync
        future = waiting_call(b, remote.head)
        other = waiting_call(b)  # a request of no resync
        start = time.monotonic()
        cancel.set()
        with pytest.raises(RemoteError, match=NO_CONNECTION):
            future.result(timeout=5)
        assert time.monotonic() - start < 1
        with pytest.raises(concurrent.futures.TimeoutError):  # still the backup
            other.result(timeout=0.1)
    finally:
        b.stop()


class Stalled(Links):
    """A channel is up, but the active never answers (it hangs, or the link drops its
    packets): every request stays in flight until its own timeout."""

    def __init__(self) -> None:
        self.sent: list[str] = []

    def request(self, channel: str, target: str, eid: str, *, timeout: float,
                body: Any = None, bulk: Any = ()) -> concurrent.futures.Future:
        self.sent.append(eid)
        return concurrent.futures.Future()


def test_a_cancelled_resync_abandons_its_request_in_flight(tmp_path: Path) -> None:
    """Its request already went out to an active that does not answer: the worker is
    free at once, not after "Switchover DS Request Timeout" (120 s)."""
    links = Stalled()
    b, _ = make(tmp_path, "B", "A", Notifier(), Notifier(), BASE, links=links)
    try:
        b.on_role("backup", None)
        cancel = threading.Event()
        future = waiting_call(b, b.requests.remote(cancel).head)
        assert HEAD in links.sent  # on the wire, unanswered
        start = time.monotonic()
        cancel.set()
        with pytest.raises(RemoteError, match=r"^DS Head: abandoned: the resync was "):
            future.result(timeout=5)
        assert time.monotonic() - start < 1
    finally:
        b.stop()


def test_a_new_filter_frees_the_worker_held_by_the_waiting_resync(
        tmp_path: Path, unconnected, monkeypatch: pytest.MonkeyPatch) -> None:
    """The upgrade state changes while the backup still waits for a channel: the first
    resync's request gives up at once, and the second one takes the worker."""
    made: list[remote.RemoteTree] = []
    started: list[int] = []
    ended: list[tuple[int, str]] = []

    class Recorded(remote.RemoteTree):
        def __init__(self, *args: Any) -> None:
            super().__init__(*args)
            self.index = len(made)
            made.append(self)

        def request(self, *args: Any, **kw: Any) -> Any:
            started.append(self.index)
            try:
                return super().request(*args, **kw)
            except Exception as exc:
                ended.append((self.index, str(exc)))
                raise

    monkeypatch.setattr(requests_module, "RemoteTree", Recorded)
    b, _ = make(tmp_path, "B", "A", Notifier(), Notifier(), BASE, links=unconnected)
    try:
        b.on_role("backup", None)
        wait(lambda: started == [0])
        time.sleep(0.1)
        assert ended == []  # waiting for a channel ("Switchover DS Request Timeout": 120 s)
        start = time.monotonic()
        b.on_role("backup", "higher")
        wait(lambda: ended, timeout=5)
        assert time.monotonic() - start < 1
        assert ended == [(0, "DS Snapshot Open: no connection to the active server")]
        assert len(made) == 2 and made[0]._cancel.is_set() and not made[1]._cancel.is_set()
        wait(lambda: started == [0, 1], timeout=5)  # the second resync has the worker
        time.sleep(0.1)
        assert ended == [(0, "DS Snapshot Open: no connection to the active server")]  # and waits
        assert b.health()["state"] == "syncing" and not b.status.error
    finally:
        b.stop()


class _Overridden:
    """Parameters in force with some raw values replaced, bypassing validation: what a
    tree written by another release can hold."""

    def __init__(self, params: ServerParameters, raw: dict[str, str]) -> None:
        self._params, self._raw = params, raw

    def raw(self, name: str) -> Any:
        return self._raw.get(name, self._params.raw(name))

    def __getitem__(self, name: str) -> Any:
        return self._params[name]


def test_a_filter_error_stops_the_stream_instead_of_replicating_everything(pair) -> None:
    a, b, _, _ = pair
    params = b.ctx.params()
    b.ctx.params = lambda: _Overridden(params, {"Custom Upgrade Attribute Exceptions": "foo"})
    b.on_role("backup", "lower")
    state = wait(lambda: b.health()["state"].startswith("not running") and b.health()["state"])
    assert "attribute list in parentheses is missing" in state
    run(a, "ds.set", path="${CONFIG}/Users/after", attributes={"Extension": "9"})
    run(a, "ds.set", path="/Config/Handlers/h1", **{"class": "Handler"})
    time.sleep(0.3)
    assert b.store.get("/Config/Users/after") is None  # stopped: not even the admitted part
    assert b.store.get("/Config/Handlers/h1") is None


def test_a_filter_change_in_upgrade_higher_filters_again_at_once(pair) -> None:
    a, b, _, _ = pair
    b.on_role("backup", "higher")
    wait(lambda: b.health()["state"] == "in sync")
    run(a, "ds.set", path="/Config/Skills/s1", **{"class": "Skill"})
    wait(lambda: b.store.get("/Config/Skills/s1") is not None)
    run(a, "params.set", name="Switchover Upgrade Higher DS Exclusions", value="${CONFIG}/Skills")
    wait(lambda: b.ctx.params().raw("Switchover Upgrade Higher DS Exclusions"))
    wait(lambda: b.health()["state"] == "in sync")
    run(a, "ds.set", path="/Config/Skills/s2", **{"class": "Skill"})
    run(a, "ds.set", path="/Config/Users/u2", **{"class": "User"})
    wait(lambda: b.store.get("/Config/Users/u2") is not None)
    assert b.store.get("/Config/Skills/s2") is None  # excluded from now on, same role
