"""The Notifier's routing rules, without sockets."""
from __future__ import annotations

import pytest

from switchover.transport.routing import RouteError, RouteTable


@pytest.fixture
def table() -> RouteTable:
    t = RouteTable(pending_ttl=60.0, max_pending=4)
    t.register("TsServer", b"ts", 70, now=0.0)
    t.add_service("SwitchoverService")
    return t


def test_resolve_by_target(table):
    route = table.resolve("TsServer")
    assert (route.kind, route.identity) == ("module", b"ts")
    assert table.resolve("SwitchoverService").kind == "service"


def test_unknown_target(table):
    with pytest.raises(RouteError, match="no module named IpServer"):
        table.resolve("IpServer")


def test_response_found_by_rewritten_req_id(table):
    a = table.begin("remote", b"main", 7, "TsServer", now=0.0)
    b = table.begin("remote", b"aux", 7, "TsServer", now=0.0)
    assert a != b  # two senders using req_id 7 never collide
    pb = table.complete(b)
    assert (pb.identity, pb.req_id) == (b"aux", 7)
    pa = table.complete(a)
    assert (pa.identity, pa.req_id, pa.origin) == (b"main", 7, "remote")
    assert table.complete(a) is None  # answered once only


def test_duplicate_registration(table):
    with pytest.raises(RouteError, match="already registered"):
        table.register("TsServer", b"other", 71, now=1.0)
    # the same connection registering again is a refresh
    assert table.register("TsServer", b"ts", 70, now=1.0).last_seen == 1.0
    with pytest.raises(RouteError, match="already registered as 'TsServer'"):
        table.register("IpServer", b"ts", 70, now=1.0)
    with pytest.raises(RouteError, match="reserved"):
        table.register("Notifier", b"x", 1, now=1.0)
    with pytest.raises(RouteError, match="reserved"):
        table.register("SwitchoverService", b"x", 1, now=1.0)


def test_same_process_on_a_new_connection_takes_its_registration_over(table):
    """A module that reconnected while its old connection still looked alive (a restart
    of the host): the registration moves, and the old connection closing unregisters
    nothing, so the backup is never told the module left."""
    with pytest.raises(RouteError, match="already registered"):  # a second client
        table.register("TsServer", b"ts-twin", 70, now=1.0, connection=0)
    entry = table.register("TsServer", b"ts-new", 70, now=1.0, connection=1)
    assert entry.route_id == table.resolve("TsServer").route_id
    assert table.resolve("TsServer").identity == b"ts-new"
    assert table.unregister(b"ts") == (None, [])
    assert table.resolve("TsServer").identity == b"ts-new"
    # another process with the same name is still refused
    with pytest.raises(RouteError, match="already registered"):
        table.register("TsServer", b"ts-third", 99, now=2.0)


def test_module_death_returns_its_orphans(table):
    rid = table.begin("remote", b"main", 9, "TsServer", now=0.0)
    table.heard(b"ts", now=1.0)
    assert table.expire(now=3.9, silence=3.0) == []
    assert table.next_deadline(3.0) == 4.0
    [(entry, orphans)] = table.expire(now=4.5, silence=3.0)
    assert entry.name == "TsServer"
    assert [(p.identity, p.req_id) for p in orphans] == [(b"main", 9)]
    assert table.complete(rid) is None
    with pytest.raises(RouteError):
        table.resolve("TsServer")
    # the name is free again for a new process
    table.register("TsServer", b"ts2", 71, now=5.0)


def test_unregister_frees_the_name(table):
    entry, orphans = table.unregister(b"ts")
    assert entry.name == "TsServer" and orphans == []
    assert table.unregister(b"ts") == (None, [])
    assert "TsServer" not in table.modules()


def test_pending_is_bounded_and_swept(table):
    for i in range(4):
        table.begin("remote", b"main", i, "TsServer", now=0.0)
    with pytest.raises(RouteError, match="too many requests"):
        table.begin("remote", b"main", 5, "TsServer", now=1.0)
    table.begin("remote", b"main", 5, "TsServer", now=61.0)  # the old ones were swept
    assert table.pending_count() == 1


def test_resolve_follows_registration_changes(table):
    first = table.resolve("TsServer")
    assert table.resolve("TsServer") is first  # one Route per registration, not per request
    table.unregister(b"ts")
    with pytest.raises(RouteError, match="no module named TsServer"):
        table.resolve("TsServer")
    table.register("TsServer", b"ts2", 71, now=1.0)
    assert table.resolve("TsServer").identity == b"ts2"
    table.remove_service("SwitchoverService")
    with pytest.raises(RouteError):
        table.resolve("SwitchoverService")
