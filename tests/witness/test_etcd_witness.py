"""transport/witness.py against real etcd on 127.0.0.1: the key is the right to be active."""
from __future__ import annotations

import socket
import threading
import time

import pytest
import requests

from tests.etcd import EtcdCluster
from switchover.transport.witness import EtcdWitness, Holder, WitnessError

pytestmark = pytest.mark.integration

PREFIX = "/switchover/test-pair"
TIMEOUT = 2.0


def witness(cluster: EtcdCluster, **kwargs) -> EtcdWitness:
    return EtcdWitness(cluster.endpoints, kwargs.pop("prefix", PREFIX), timeout=TIMEOUT,
                       **kwargs)


def test_two_clients_race_for_the_key_and_exactly_one_wins(etcd: EtcdCluster) -> None:
    clients = [witness(etcd) for _ in range(2)]
    holders = [Holder("ICServer1", 1), Holder("ICServer2", 1)]
    results: list = [None, None]
    start = threading.Barrier(2)

    def race(i: int) -> None:
        start.wait(5)
        results[i] = clients[i].acquire(holders[i], ttl=10)

    threads = [threading.Thread(target=race, args=(i,)) for i in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(10)
    winners = [i for i, r in enumerate(results) if r.acquired]
    assert len(winners) == 1, results
    loser = results[1 - winners[0]]
    assert loser.holder == holders[winners[0]]
    assert clients[1 - winners[0]].read() == (holders[winners[0]], results[winners[0]].lease)


def test_a_taken_key_is_never_overwritten(etcd: EtcdCluster) -> None:
    first, second = witness(etcd), witness(etcd)
    taken = first.acquire(Holder("ICServer1", 3), ttl=10)
    refused = second.acquire(Holder("ICServer2", 4), ttl=10)
    assert taken.acquired and not refused.acquired
    assert refused.holder == Holder("ICServer1", 3)
    assert refused.expires_in is not None and 0 < refused.expires_in <= 10
    assert second.read() == (Holder("ICServer1", 3), taken.lease)


def test_the_other_acquires_after_the_holder_stops_renewing(etcd: EtcdCluster) -> None:
    holder, waiter = witness(etcd), witness(etcd)
    taken = holder.acquire(Holder("ICServer1", 1), ttl=2)
    assert taken.acquired and taken.ttl == 2
    assert holder.keep_alive(taken.lease) == 2
    began = time.monotonic()
    while True:  # the holder has stopped renewing; the waiter retries as the driver does
        result = waiter.acquire(Holder("ICServer2", 2), ttl=2)
        if result.acquired:
            break
        assert result.holder == Holder("ICServer1", 1)
        assert time.monotonic() - began < 10, "the lease never expired"
        time.sleep(0.2)
    assert time.monotonic() - began >= 1.0  # not before (most of) the TTL had run out
    assert holder.keep_alive(taken.lease) == 0  # the old holder learns its lease is gone


def test_release_frees_the_key_at_once(etcd: EtcdCluster) -> None:
    holder, waiter = witness(etcd), witness(etcd)
    taken = holder.acquire(Holder("ICServer1", 1), ttl=30)
    holder.release(taken.lease)
    assert waiter.read() == (None, 0)
    assert waiter.acquire(Holder("ICServer2", 2), ttl=30).acquired


def test_pairs_under_different_prefixes_do_not_meet(etcd: EtcdCluster) -> None:
    one = witness(etcd, prefix="/switchover/pair-one")
    two = witness(etcd, prefix="/switchover/pair-two/")
    assert one.acquire(Holder("ICServer1", 1), ttl=10).acquired
    assert two.acquire(Holder("ICServer1", 1), ttl=10).acquired
    assert one.key == "/switchover/pair-one/active" and two.key == "/switchover/pair-two/active"


def test_stopped_etcd_is_reported_unreachable_within_the_timeout(etcd: EtcdCluster) -> None:
    client = witness(etcd)
    taken = client.acquire(Holder("ICServer1", 1), ttl=10)
    etcd.stop()
    began = time.monotonic()
    with pytest.raises(WitnessError, match="etcd unreachable: .*Connection refused"):
        client.keep_alive(taken.lease)
    assert time.monotonic() - began < TIMEOUT


def test_the_holder_keeps_its_key_while_one_of_three_members_restarts(
    etcd_cluster: EtcdCluster,
) -> None:
    """Its first endpoint is down for longer than the TTL, then the leader restarts."""
    client = witness(etcd_cluster)
    ttl = 2
    taken = client.acquire(Holder("ICServer1", 7), ttl=ttl)
    assert taken.acquired
    stop = threading.Event()
    renewed: list[float] = []
    lost: list[str] = []

    def renew() -> None:  # every TTL/3, as the driver does; a failed renewal is retried
        while not stop.wait(ttl / 3):
            try:
                if client.keep_alive(taken.lease) > 0:
                    renewed.append(time.monotonic())
                else:
                    lost.append("lease gone")
            except WitnessError:
                pass

    renewer = threading.Thread(target=renew)
    renewer.start()
    try:
        down = time.monotonic()
        etcd_cluster.restart(etcd_cluster.members[0], down_for=1.5 * ttl)
        up = time.monotonic()
        etcd_cluster.restart(etcd_cluster.leader())
    finally:
        stop.set()
        renewer.join(10)
    assert lost == []
    assert len([t for t in renewed if down < t < up]) >= 3  # through the other members
    other = witness(etcd_cluster)
    assert other.read() == (Holder("ICServer1", 7), taken.lease)
    assert not other.acquire(Holder("ICServer2", 8), ttl=ttl).acquired


def enable_auth(cluster: EtcdCluster, password: str) -> None:
    url = cluster.endpoints[0] + "/v3/auth/"
    for path, body in (("role/add", {"name": "root"}),
                       ("user/add", {"name": "root", "password": password}),
                       ("user/grant", {"user": "root", "role": "root"}),
                       ("enable", {})):
        reply = requests.post(url + path, json=body, timeout=2)
        assert reply.ok, reply.text


def test_user_and_password_log_in_and_a_wrong_password_is_refused(etcd: EtcdCluster) -> None:
    enable_auth(etcd, "s3cret")
    with pytest.raises(WitnessError, match="refused"):
        witness(etcd).read()  # no credentials
    with pytest.raises(WitnessError, match="authentication failed"):
        witness(etcd, user="root", password="wrong").read()
    client = witness(etcd, user="root", password="s3cret")
    taken = client.acquire(Holder("ICServer1", 1), ttl=10)
    assert taken.acquired and client.keep_alive(taken.lease) == 10


def test_a_member_that_never_answers_costs_a_share_of_the_budget_not_the_call(
    etcd: EtcdCluster,
) -> None:
    hung = socket.create_server(("127.0.0.1", 0))  # the kernel accepts; nobody answers
    try:
        url = f"http://127.0.0.1:{hung.getsockname()[1]}"
        client = EtcdWitness([url, *etcd.endpoints], PREFIX, timeout=TIMEOUT)
        began = time.monotonic()
        taken = client.acquire(Holder("ICServer1", 1), ttl=10)
        assert taken.acquired and time.monotonic() - began < TIMEOUT
        began = time.monotonic()
        assert client.keep_alive(taken.lease) == 10
        assert time.monotonic() - began < 0.5  # the next call starts past the hung member
    finally:
        hung.close()


def test_tls_with_a_client_certificate(etcd_tls: EtcdCluster) -> None:
    tls = etcd_tls.members[0].tls
    files = {"ca_file": str(tls.ca), "cert_file": str(tls.client_cert),
             "key_file": str(tls.client_key)}
    client = witness(etcd_tls, **files)
    taken = client.acquire(Holder("ICServer1", 1), ttl=10)
    assert taken.acquired and client.keep_alive(taken.lease) == 10
    with pytest.raises(WitnessError, match=r"etcd unreachable: https://\S+ TLS: "):
        witness(etcd_tls, ca_file=str(tls.ca)).read()  # no client certificate
    with pytest.raises(WitnessError, match=r"TLS: \[SSL: CERTIFICATE_VERIFY_FAILED\] "):
        witness(etcd_tls, cert_file=files["cert_file"], key_file=files["key_file"]).read()


def test_an_expired_login_token_is_renewed_by_logging_in_again(
    etcd_short_tokens: EtcdCluster,
) -> None:
    enable_auth(etcd_short_tokens, "s3cret")
    client = witness(etcd_short_tokens, user="root", password="s3cret")
    taken = client.acquire(Holder("ICServer1", 1), ttl=30)
    time.sleep(3)  # etcd forgets the token after its one-second TTL
    assert client.read() == (Holder("ICServer1", 1), taken.lease)
