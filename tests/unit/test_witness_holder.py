"""What the key's value says: a holder of ours round-trips; anyone else's is still named."""
from __future__ import annotations

from switchover.transport.witness import Holder, holder_key


def test_a_holder_round_trips_through_the_key_value() -> None:
    holder = Holder("ICServer1", 12)
    assert Holder.decode(holder.encode()) == holder
    assert str(holder) == "ICServer1 (generation 12)"


def test_a_value_written_by_someone_else_still_names_them() -> None:
    assert Holder.decode(b"etcdctl was here") == Holder("etcdctl was here", -1)
    assert Holder.decode(b'{"server": "x"}') == Holder('{"server": "x"}', -1)


def test_the_key_sits_under_the_pair_prefix() -> None:
    assert holder_key("/switchover/pair1") == "/switchover/pair1/active"
    assert holder_key("/switchover/pair1/") == "/switchover/pair1/active"
