"""The witness driver on a FakeClock with a fake etcd: what it reports, and when."""
from __future__ import annotations

import pykka
import pytest

from tests.unit.doubles import Trampoline
from switchover.actors.witness import Witness
from switchover.actors.witness_driver import EXPIRY_SLACK, HOLDING, WitnessDriver
from switchover.actors.witness_messages import (
    AcquireWitness,
    ReadWitness,
    ReleaseWitness,
    WitnessAcquired,
    WitnessHeldBy,
    WitnessHolder,
    WitnessLost,
    WitnessReleased,
    WitnessUnreachable,
)
from switchover.clock import FakeClock
from tests.unit.actor_support import pump
from tests.unit.fake_witness import FakeEtcd, ManualExecutor
from switchover.transport.witness import Holder

TTL = 12.0  # renew every 4 s, retry 2 s after a failed attempt, lost 8 s after the last
ME, PEER = Holder("ICServer1", 3), Holder("ICServer2", 2)


class Rig:
    def __init__(self, clock: FakeClock | None = None) -> None:
        self.clock = clock or FakeClock(1000.0)
        self.etcd = FakeEtcd(self.clock)
        self.posts: list[object] = []
        self.executor = ManualExecutor()
        self.deliver = Trampoline()
        self.driver = WitnessDriver(self.clock, self.etcd.store, "ICServer1", TTL,
                                    self.posts.append, self.deliver, self.executor)
        self.deliver.handler = self.driver.handle

    def tell(self, message: object) -> None:
        self.deliver(message)

    def run_for(self, seconds: float, step: float = 0.1) -> None:
        for _ in range(round(seconds / step)):
            self.clock.advance(step)

    def first(self, kind: type) -> tuple[int, object]:
        return next((i, p) for i, p in enumerate(self.posts) if isinstance(p, kind))


@pytest.fixture
def rig() -> Rig:
    return Rig()


def test_acquire_takes_the_key_for_this_server_and_generation(rig: Rig) -> None:
    rig.tell(AcquireWitness(3))
    assert rig.posts == [WitnessAcquired(ME, TTL)]
    assert rig.etcd.key is not None and rig.etcd.key[0] == ME
    assert rig.etcd.timeouts == [TTL / 6]  # every call bounded well inside the TTL


def test_the_holder_renews_every_third_of_the_ttl_and_keeps_the_key(rig: Rig) -> None:
    rig.tell(AcquireWitness(3))
    rig.run_for(TTL / 3 - 0.1)
    assert rig.etcd.calls == ["acquire"]
    rig.run_for(0.2)
    assert rig.etcd.calls == ["acquire", "keep_alive", "read"]
    rig.run_for(10 * TTL)
    assert rig.etcd.calls.count("keep_alive") == rig.etcd.calls.count("read") == 31
    assert rig.etcd.key is not None and rig.etcd.key[0] == ME
    assert rig.posts == [WitnessAcquired(ME, TTL)]


def test_failed_renewals_report_unreachable_then_lost_before_the_lease_expires(
    rig: Rig,
) -> None:
    rig.tell(AcquireWitness(3))
    rig.run_for(TTL / 3 + 0.1)  # renewed once: etcd's lease now runs from then
    lease_expires = rig.etcd.leases[rig.etcd.key[1]]
    renewed_at = lease_expires - TTL
    assert renewed_at == pytest.approx(1000 + TTL / 3)
    rig.etcd.reachable = False
    lost_at = None
    while lost_at is None:
        assert rig.clock.now() < lease_expires, "the lease expired before WitnessLost"
        rig.clock.advance(0.05)
        if any(isinstance(p, WitnessLost) for p in rig.posts):
            lost_at = rig.clock.now()
    assert lost_at == pytest.approx(renewed_at + 2 * TTL / 3, abs=0.06)
    assert lease_expires - lost_at >= TTL / 3 - 0.06  # the demotion's margin
    i_unreachable, unreachable = rig.first(WitnessUnreachable)
    i_lost, lost = rig.first(WitnessLost)
    assert unreachable.holding and "Connection refused" in unreachable.reason
    assert i_unreachable < i_lost and lost.holder == ME
    assert lost.margin == pytest.approx(TTL / 3, abs=0.06)
    assert rig.etcd.calls.count("keep_alive") == 3  # renewal at T/3, retries at T/2, 2T/3
    assert rig.driver.mode == "idle"


def test_a_renewal_hung_in_flight_does_not_delay_lost(rig: Rig) -> None:
    rig.tell(AcquireWitness(3))
    acquired_at = rig.clock.now()
    rig.executor.hold = True  # etcd accepts the connection and never answers
    rig.run_for(2 * TTL / 3 - 0.1)
    assert not any(isinstance(p, WitnessLost) for p in rig.posts)
    rig.run_for(0.2)
    _, lost = rig.first(WitnessLost)
    assert "no renewal of the lease confirmed for 8.0 s" in lost.reason
    assert rig.clock.now() - acquired_at < TTL
    rig.executor.hold = False
    rig.executor.finish()  # the late answer changes nothing
    assert [type(p) for p in rig.posts] == [WitnessAcquired, WitnessLost]


def test_a_lease_etcd_no_longer_knows_is_lost_at_once(rig: Rig) -> None:
    rig.tell(AcquireWitness(3))
    rig.etcd.leases.clear()
    rig.run_for(TTL / 3 + 0.1)
    _, lost = rig.first(WitnessLost)
    assert lost.margin == 0.0 and "expired" in lost.reason


@pytest.mark.parametrize("by", [None, PEER])
def test_a_key_deleted_or_replaced_under_the_holder_is_lost_at_once(rig: Rig, by) -> None:
    rig.tell(AcquireWitness(3))
    rig.etcd.key = None  # an operator's `etcdctl del`; the lease itself lives on
    if by is not None:
        rig.etcd.take(by, ttl=int(TTL))
    rig.run_for(TTL / 3 + 0.1)
    _, lost = rig.first(WitnessLost)
    assert lost.margin == 0.0
    assert lost.reason == (f"the key is now held by {PEER}" if by else "the key was deleted")


def test_renewing_again_after_unreachable_reports_the_key_held_again(rig: Rig) -> None:
    rig.tell(AcquireWitness(3))
    rig.etcd.reachable = False
    rig.run_for(TTL / 3 + 0.1)
    rig.etcd.reachable = True
    rig.run_for(TTL / 6)
    assert [type(p) for p in rig.posts] == [WitnessAcquired, WitnessUnreachable,
                                            WitnessAcquired]
    rig.run_for(2 * TTL)
    assert rig.driver.mode == HOLDING and len(rig.posts) == 3


def test_release_revokes_the_lease_and_stops_renewing(rig: Rig) -> None:
    rig.tell(AcquireWitness(3))
    rig.tell(ReleaseWitness())
    assert rig.posts[-1] == WitnessReleased(ME, True)
    assert rig.etcd.key is None and rig.etcd.leases == {}
    rig.run_for(2 * TTL)
    assert rig.etcd.calls == ["acquire", "release"]  # no renewal after the release


def test_release_without_a_key_says_so(rig: Rig) -> None:
    rig.tell(ReleaseWitness())
    assert rig.posts == [WitnessReleased(None, False, "this server held no witness key")]


def test_release_while_etcd_is_unreachable_says_the_lease_will_expire(rig: Rig) -> None:
    rig.tell(AcquireWitness(3))
    rig.etcd.reachable = False
    rig.tell(ReleaseWitness())
    released = rig.posts[-1]
    assert isinstance(released, WitnessReleased) and not released.revoked
    assert "Connection refused" in released.reason


def test_another_holder_is_reported_once_and_the_key_taken_when_its_lease_ends(
    rig: Rig,
) -> None:
    rig.etcd.take(PEER, ttl=int(TTL))  # the peer holds it and then stops renewing
    expires = rig.clock.now() + TTL
    rig.tell(AcquireWitness(3))
    assert rig.posts == [WitnessHeldBy(PEER)]
    while not any(isinstance(p, WitnessAcquired) for p in rig.posts):
        assert rig.clock.now() < expires + TTL, "never acquired"
        rig.clock.advance(0.1)
    assert rig.posts == [WitnessHeldBy(PEER), WitnessAcquired(ME, TTL)]
    assert expires <= rig.clock.now() <= expires + TTL / 3 + 0.1
    assert rig.etcd.calls.count("acquire") == 4  # at 0, T/3, 2T/3 and T


def test_asked_again_while_the_key_is_held_it_tries_at_once(rig: Rig) -> None:
    """The old active revoked its lease and confirmed its hand-over: the candidate takes
    the key now, not at its next retry T/3 later (docs/witness.md, module death)."""
    lease = rig.etcd.take(PEER, ttl=int(TTL))
    rig.tell(AcquireWitness(3))
    assert rig.posts == [WitnessHeldBy(PEER)]
    rig.etcd.leases.pop(lease)  # the peer's ReleaseWitness
    rig.etcd.key = None
    rig.tell(AcquireWitness(3))
    assert rig.posts == [WitnessHeldBy(PEER), WitnessAcquired(ME, TTL)]
    rig.run_for(TTL / 3 + 0.1)  # the retry the early attempt replaced does not run
    assert rig.etcd.calls == ["acquire", "acquire", "keep_alive", "read"]


def test_asked_again_during_an_attempt_it_tries_again_when_that_one_ends(rig: Rig) -> None:
    rig.etcd.take(PEER, ttl=int(TTL))
    rig.executor.hold = True
    rig.tell(AcquireWitness(3))
    rig.tell(AcquireWitness(3))  # one attempt at a time: the second waits for the first
    assert len(rig.executor.pending) == 1
    rig.executor.finish()
    assert rig.etcd.calls == ["acquire", "acquire"]  # no T/3 wait between the two
    assert rig.posts == [WitnessHeldBy(PEER)]


def test_release_answers_with_the_revokes_future(rig: Rig) -> None:
    rig.tell(AcquireWitness(3))
    rig.executor.hold = True
    revoked = rig.driver.handle(ReleaseWitness())
    assert revoked is not None and not revoked.done() and rig.etcd.key is not None
    rig.executor.finish()
    assert revoked.done() and rig.etcd.key is None
    assert rig.driver.handle(ReleaseWitness()) is None  # nothing held: nothing to wait for


def test_a_dead_holders_key_is_taken_just_after_its_lease_ends(rig: Rig) -> None:
    """Host loss: the key is taken within EXPIRY_SLACK of the lease's end, not up to T/3
    later, so the witness adds at most T to the failover (docs/witness.md)."""
    rig.etcd.take(PEER, ttl=int(TTL))
    rig.run_for(3.9)  # the peer's last renewal was 3.9 s ago: 8.1 s left
    expires = rig.clock.now() + TTL - 3.9
    rig.tell(AcquireWitness(3))
    while not any(isinstance(p, WitnessAcquired) for p in rig.posts):
        assert rig.clock.now() < expires + TTL, "never acquired"
        rig.clock.advance(0.05)
    assert expires <= rig.clock.now() <= expires + EXPIRY_SLACK + 0.05
    assert rig.etcd.calls.count("acquire") == 4  # at 0, T/3, 2T/3 (held), then at its end


def test_a_held_key_is_never_taken_while_its_holder_renews(rig: Rig) -> None:
    lease = rig.etcd.take(PEER, ttl=int(TTL))
    rig.tell(AcquireWitness(3))
    for _ in range(10):
        rig.run_for(TTL / 2)
        rig.etcd.leases[lease] = rig.clock.now() + TTL  # the peer's renewal
    assert rig.etcd.key == (PEER, lease)
    assert rig.posts == [WitnessHeldBy(PEER)]


def test_unreachable_while_acquiring_is_reported_once_then_acquired(rig: Rig) -> None:
    rig.etcd.reachable = False
    rig.tell(AcquireWitness(3))
    rig.run_for(TTL)
    rig.etcd.reachable = True
    rig.run_for(TTL / 3)
    assert [type(p) for p in rig.posts] == [WitnessUnreachable, WitnessAcquired]
    assert not rig.posts[0].holding


def test_read_reports_the_holder(rig: Rig) -> None:
    rig.tell(ReadWitness())
    rig.etcd.take(PEER, ttl=10)
    rig.tell(ReadWitness())
    rig.etcd.reachable = False
    rig.tell(ReadWitness())
    assert rig.posts[:2] == [WitnessHolder(None), WitnessHolder(PEER)]
    assert isinstance(rig.posts[2], WitnessUnreachable)


def test_a_key_taken_for_a_wish_since_withdrawn_is_given_back(rig: Rig) -> None:
    rig.executor.hold = True
    rig.tell(AcquireWitness(3))
    rig.tell(ReleaseWitness())
    rig.executor.hold = False
    rig.executor.finish()
    assert rig.etcd.key is None and rig.etcd.leases == {}
    assert not any(isinstance(p, WitnessAcquired) for p in rig.posts)


def test_a_new_generation_replaces_the_key_of_the_old_one(rig: Rig) -> None:
    rig.tell(AcquireWitness(3))
    rig.tell(AcquireWitness(4))
    assert rig.posts == [WitnessAcquired(ME, TTL), WitnessAcquired(Holder("ICServer1", 4), TTL)]
    assert rig.etcd.key[0] == Holder("ICServer1", 4) and len(rig.etcd.leases) == 1


class ScaledClock(FakeClock):
    """A FakeClock whose reference second lasts 0.01 real seconds, as in integration tests."""

    def real_seconds(self, delay: float) -> float:
        return max(0.0, delay) * 0.01


def test_etcd_counts_real_seconds_so_a_scaled_ttl_follows_etcd() -> None:
    rig = Rig(ScaledClock(1000.0))
    rig.tell(AcquireWitness(3))
    assert rig.driver.lease_ttl == pytest.approx(200.0)  # 2 s, etcd's shortest lease
    assert rig.etcd.timeouts == [pytest.approx(2 / 6)]
    assert rig.posts == [WitnessAcquired(ME, pytest.approx(200.0))]


def test_the_actor_reports_without_blocking_its_inbox() -> None:
    clock = FakeClock(1000.0)
    etcd = FakeEtcd(clock)
    posts: list[object] = []
    ref = Witness.start(clock, etcd.store, "ICServer1", TTL, posts.append,
                        executor=ManualExecutor())
    try:
        ref.tell(AcquireWitness(3))
        pump(clock, ref)
        assert posts == [WitnessAcquired(ME, TTL)]
        assert ref.proxy().snapshot().get(timeout=2)["mode"] == HOLDING
    finally:
        ref.stop()
    assert not pykka.ActorRegistry.get_all()
