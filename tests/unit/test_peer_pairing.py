"""Pairing mistakes as both sides see them (DESIGN.md, peers find each other from
SwitchoverServer A/B): the querying side's PeerTracker and the answering virtual switch
share one rule, `pairing_error`."""
from __future__ import annotations

from switchover.actors.peer_view import PeerTracker, pairing_error

PAIR = {"A": "ICServer1", "B": "ICServer2"}


def test_same_pair_and_different_letters_is_no_error() -> None:
    assert pairing_error(PAIR, dict(PAIR), "ICServer1", "ICServer2", ("A", "B")) == ""


def test_a_pair_named_in_another_order_names_both_configurations() -> None:
    error = pairing_error(PAIR, {"A": "ICServer2", "B": "ICServer1"}, "ICServer1", "ICServer2")
    assert error.startswith("pairing mismatch: ICServer1 has SwitchoverServer A = ICServer1")
    assert "ICServer2 has SwitchoverServer A = ICServer2" in error


def test_both_calling_themselves_a_is_reported_with_the_peers_name() -> None:
    error = pairing_error(PAIR, dict(PAIR), "ICServer1", "ICServer2", ("A", "A"))
    assert error == ("pairing mismatch: ICServer2 also calls itself SwitchoverServer A; "
                     "SwitchoverServer A and B are reversed in one of the two configurations")


def test_the_tracker_refuses_a_peer_with_our_letter() -> None:
    tracker = PeerTracker("ICServer2", "A", PAIR, "2026.1.0", lambda: 0.0)
    view = tracker.answered({"state": "Primary", "letter": "A", "pair": dict(PAIR)})
    assert view is not None and "also calls itself SwitchoverServer A" in view.pairing
