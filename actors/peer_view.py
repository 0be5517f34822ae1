"""What this server knows of its peer, from the peer's own answers on the virtual switch.

Both servers ask each other for their state at a bounded interval in every state
(Primary, Backup, Reconnecting, Inactive), so `status` on either server shows both as
they are: the peer's role, state, generation, release, mode, connections and warnings
as the peer reports them, when it last answered, and since when it has not. The pure
part (turning a reply into a `PeerView` for the state machine, the pairing check, the
warnings) lives here so that it is tested without sockets or actors.
"""
from __future__ import annotations

import datetime as _dt
from typing import Any, Callable, Mapping

from switchover.actors.state_events import PeerView
from switchover.config import release_key

#: The peer-view keys copied from the peer's reply into status.
REPORTED = ("state", "role", "generation", "release", "mode", "connections", "letter",
            "reason", "warnings", "paused", "pause_version")


def pairing_error(ours: Mapping[str, str], theirs: Any, server: str, peer: str,
                  letters: tuple[str, Any] = ("", None)) -> str:
    """The sentence for two configurations that do not name the same A and B; '' if they do.

    `letters` is (ours, theirs): two servers that both call themselves A (or B) have the
    same pair in reversed order in one configuration, which the names alone cannot show
    when each file is otherwise consistent."""
    if isinstance(theirs, Mapping) and (theirs.get("A"), theirs.get("B")) != (
            ours.get("A"), ours.get("B")):
        return (
            f"pairing mismatch: {server} has SwitchoverServer A = {ours.get('A')}, "
            f"SwitchoverServer B = {ours.get('B')}, but {peer} has SwitchoverServer A = "
            f"{theirs.get('A')}, SwitchoverServer B = {theirs.get('B')}; both configurations "
            "must name the same two servers in the same order"
        )
    if letters[0] and letters[1] == letters[0]:
        return (f"pairing mismatch: {peer} also calls itself SwitchoverServer {letters[0]}; "
                "SwitchoverServer A and B are reversed in one of the two configurations")
    return ""


def _iso(seconds: float) -> str:
    return _dt.datetime.fromtimestamp(seconds, _dt.timezone.utc).isoformat(timespec="milliseconds")


class PeerTracker:
    """The peer's last report and the times it answered or stopped answering."""

    def __init__(self, name: str, letter: str, pair: Mapping[str, str], release: str,
                 wall: Callable[[], float]) -> None:
        self.name = name
        self.letter = letter
        self.pair = dict(pair)
        self.release = release
        self._wall = wall
        self.report: dict[str, Any] = {}
        self.last_answered: float | None = None
        self.unreachable_since: float | None = None
        #: Set while the peer refuses our CURVE handshake: why it "does not answer".
        self.refused = ""

    def answered(self, reply: Mapping[str, Any] | None) -> PeerView | None:
        """Remember one answer (None: no answer); the view the state machine decides on."""
        now = self._wall()
        if reply is None:
            if self.unreachable_since is None:
                self.unreachable_since = now
            return None
        self.unreachable_since = None
        self.last_answered = now
        pairing = pairing_error(self.pair, reply.get("pair"), _me(self), self.name,
                                (self.letter, reply.get("letter")))
        if reply.get("pairing"):  # the peer refused our query for the same reason
            pairing = str(reply["pairing"])
        self.report = {k: reply[k] for k in REPORTED if k in reply}
        generation = reply.get("generation")
        return PeerView(
            server=self.name,
            state=str(reply.get("state", "")),
            generation=generation if isinstance(generation, int) else 0,
            letter=str(reply.get("letter", "")),
            upgrade=self._upgrade(reply.get("release")),
            pairing=pairing,
        )

    def _upgrade(self, theirs: Any) -> str | None:
        if not isinstance(theirs, str) or not theirs:
            return None
        ours, other = release_key(self.release), release_key(theirs)
        return "higher" if ours > other else "lower" if ours < other else None

    def status(self) -> dict[str, Any]:
        """The peer as `status` shows it: its own report, when it answered, since when not."""
        now = self._wall()
        out: dict[str, Any] = {"name": self.name, "reachable": self.unreachable_since is None
                               and self.last_answered is not None, **self.report}
        if self.last_answered is not None:
            out["last_answered"] = _iso(self.last_answered)
            out["last_answered_ago"] = round(now - self.last_answered, 1)
        if self.unreachable_since is not None:
            out["unreachable_since"] = _iso(self.unreachable_since)
        if self.refused:
            out["refused"] = self.refused
        return out

    def warnings(self, own_role: str) -> list[str]:
        """The warnings about the pair that this server's role and the peer's view give."""
        out: list[str] = []
        state = self.report.get("state")
        if self.unreachable_since is not None or self.last_answered is None:
            since = (f" since {_iso(self.unreachable_since)}"
                     if self.unreachable_since is not None else "")
            why = f": {self.refused}" if self.refused else ""
            out.append(f"peer unreachable: {self.name} does not answer on the virtual "
                       f"switch{since}{why}")
            if own_role == "active":
                out.append("no backup: the pair is not redundant")
            return out
        if own_role == "active" and state not in ("Backup", "Reconnecting", "UpgradeHigher",
                                                   "UpgradeLower"):
            out.append(f"no backup: {self.name} is {state}; the pair is not redundant")
        if state == "Inactive":
            out.append(f"peer stale: {self.name} is stale (inactive) until restarted")
        if own_role == "active":
            out += [f"{self.name}: {w}" for w in self.report.get("warnings") or ()]
        return out


def _me(tracker: PeerTracker) -> str:
    """This server's name, as the pair configuration names it."""
    return tracker.pair.get(tracker.letter, "this server")
