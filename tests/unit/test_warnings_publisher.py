"""The virtual switch answers the peer's state query from `SharedState`: the replication
warnings are published there by `WarningsPublisher`, not read per query."""
from __future__ import annotations

from switchover.actors.replication_health import WarningsPublisher
from switchover.actors.shared import SharedState
from switchover.clock import FakeClock
from tests.unit.doubles import InlineExecutor


class Service:
    name = "ds"

    def __init__(self) -> None:
        self.said: list[str] = ["DS: local override"]
        self.asked = 0

    def warnings(self) -> list[str]:
        self.asked += 1
        return list(self.said)


def test_warnings_are_published_at_start_and_refreshed_each_period() -> None:
    clock, shared, service = FakeClock(), SharedState(), Service()
    publisher = WarningsPublisher(clock, InlineExecutor(), shared, [service])
    publisher.start()
    assert shared.snapshot()["warnings"] == ["DS: local override"]
    service.said = []
    clock.advance(WarningsPublisher.PERIOD)
    assert shared.snapshot()["warnings"] == []
    assert service.asked == 2


def test_stop_ends_the_refreshes() -> None:
    clock, shared, service = FakeClock(), SharedState(), Service()
    publisher = WarningsPublisher(clock, InlineExecutor(), shared, [service])
    publisher.start()
    publisher.stop()
    clock.advance(10 * WarningsPublisher.PERIOD)
    assert service.asked == 1 and clock.pending() == 0
