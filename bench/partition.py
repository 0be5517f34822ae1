"""Partitions: how long both servers act as active, with and without the witness.

Rows of `./dev bench failover` (docs/witness.md, "Failure -> outcome"):

  cut-witness         A↔B cut, both still reach the router and etcd; a witness
  cut-no-witness      the same cut, no witness
  isolate-witness     A cut off from B and from etcd; a witness
  isolate-no-witness  the same cut (A still reaches the router), no witness

The pair runs at time scale 0.1 with `true` as every host's commence and discontinue
hook, so that its event logs say when each server began and stopped acting as active
(bench/event_times.py); the witness is one etcd member on the router
(bench/router_etcd.py) with the default "Switchover Witness Lease TTL" (10 s, so at
scale 0.1 the 2 real seconds etcd grants at least). The partition is held until B has
switched (or, with the key held by A, until B says it waits for it), then HOLD seconds
more, then healed; the run ends when one server is active. From the cut on:

  B active        until B's `Switch Initiated`
  loser stopped   until the end of the loser's discontinue hook (the server that is not
                  active at the end)
  both active     from B's switch until the loser's discontinue (0 when the loser
                  stopped first, or B never switched)
  after the heal  from the heal until the loser's discontinue, when it came after it
"""
from __future__ import annotations

import shutil
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

from bench.event_times import hook_runs, switches
from bench.failover_kit import FAULT_TIMEOUT, NAMES, cleanup, fmt, say, start_pair
from bench.netns import Topology
from bench.router_etcd import WITNESS, start_router_etcd
from switchover.localpair import LocalPair
from tests.etcd import EtcdCluster

SCALE = 0.1
#: Real seconds the partition is held once it settled (B switched, or B waits for the key).
HOLD = 3.0
HOOKS = {"commence": ["true"], "discontinue": ["true"]}


@dataclass
class PartitionResult:
    name: str
    fault: str  # "cut" (A↔B) or "isolate" (A from B and from the witness)
    witness: bool
    b_active: list[float] = field(default_factory=list)
    loser_stopped: list[float] = field(default_factory=list)
    both: list[float] = field(default_factory=list)
    after_heal: list[float] = field(default_factory=list)
    outcomes: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)


PARTITIONS = {
    "cut-witness": lambda: PartitionResult("A↔B cut", "cut", True),
    "cut-no-witness": lambda: PartitionResult("A↔B cut", "cut", False),
    "isolate-witness": lambda: PartitionResult("A isolated", "isolate", True),
    "isolate-no-witness": lambda: PartitionResult("A isolated", "isolate", False),
}


def partition(topo: Topology, fault: str, heal: bool = False) -> None:
    """Cut (or heal) A↔B, and with "isolate" also A's way to the witness."""
    step = topo.uncut if heal else topo.cut
    step("A", topo.address("B"), *((WITNESS,) if fault == "isolate" else ()))
    step("B", topo.address("A"))


def run_partition(result: PartitionResult, reps: int, keep: Path | None) -> None:
    topo = Topology().build()
    cluster: EtcdCluster | None = None
    try:
        if result.witness:
            cluster = start_router_etcd(topo, Path(tempfile.mkdtemp(prefix="so-etcd-",
                                                                    dir=keep)))
        for rep in range(reps):
            base = Path(tempfile.mkdtemp(prefix="so-pt-", dir=keep))
            witness = None if cluster is None else {
                "endpoints": cluster.endpoints, "prefix": f"/switchover/bench{rep}"}
            pair = LocalPair(
                base, time_scale=SCALE, hooks={name: HOOKS for name in NAMES},
                witness=witness,
                addresses={NAMES[0]: topo.address("A"), NAMES[1]: topo.address("B")},
                netns={NAMES[0]: topo.ns("A"), NAMES[1]: topo.ns("B")},
            )
            failed = False
            try:
                one_partition(result, pair, topo, rep)
            except Exception as exc:
                failed = True
                result.notes.append(f"rep {rep + 1}: {exc} (logs in {base})")
                say(f"{result.name} rep {rep + 1} failed: {exc}")
            finally:
                cleanup("pair", pair.stop_all)
                cleanup("partition", lambda: partition(topo, "isolate", heal=True))
                if keep is None and not failed:
                    shutil.rmtree(base, ignore_errors=True)
    finally:
        if cluster is not None:
            cleanup("etcd", cluster.stop)
        topo.destroy()


def _state(pair: LocalPair, name: str) -> dict:
    return pair.status(name, timeout=1.0) or {}


def one_active(pair: LocalPair) -> str:
    """Until exactly one server is active, twice in a row half a second apart."""
    def settled() -> str | None:
        now = [n for n in pair.names if _state(pair, n).get("state") == "Primary"]
        if len(now) != 1:
            return None
        time.sleep(0.5)
        return now[0] if _state(pair, now[0]).get("state") == "Primary" else None

    return pair.wait_for(settled, FAULT_TIMEOUT, "exactly one active server after the heal")


def one_partition(result: PartitionResult, pair: LocalPair, topo: Topology, rep: int) -> None:
    a, b = pair.names
    start_pair(pair)
    pair.wait_for(lambda: _state(pair, a).get("peer", {}).get("state") == "Backup", 30,
                  "A to see B as its backup")
    if result.witness:
        pair.wait_for(lambda: _state(pair, a).get("witness", {}).get("held_here"), 30,
                      "A to hold the witness key")
    time.sleep(1.0)  # let the backup's monitors settle into their rhythm
    t0 = time.time()
    partition(topo, result.fault)
    if result.witness and result.fault == "cut":
        pair.wait_for(lambda: f"held by {a}" in _state(pair, b).get("reason", ""),
                      FAULT_TIMEOUT, "B to find the key held by A")
    else:
        pair.wait_state(b, "Primary", timeout=FAULT_TIMEOUT)
    time.sleep(HOLD)
    healed = time.time()
    partition(topo, result.fault, heal=True)
    winner = one_active(pair)
    loser = b if winner == a else a
    time.sleep(0.5)  # the loser's discontinue hook ends after its state changed
    switched = switches(pair.events(b), t0)
    stopped = hook_runs(pair.events(loser), "discontinue", t0)
    b_at = switched[0] if switched else None
    stop_at = stopped[0] if stopped else None
    if b_at is not None:
        result.b_active.append(b_at - t0)
    if stop_at is not None:
        result.loser_stopped.append(stop_at - t0)
        if stop_at > healed:
            result.after_heal.append(stop_at - healed)
    if b_at is None:
        both: float | None = 0.0
        outcome = f"{winner} stayed active, B never switched"
    elif stop_at is None:
        both = None
        outcome = f"{winner} active, {loser} never ran its discontinue hook"
    else:
        both = max(0.0, stop_at - b_at)
        order = "before" if stop_at <= b_at else "after"
        outcome = f"{loser} discontinued {order} B's switch, {winner} stayed"
    if both is not None:
        result.both.append(both)
    result.outcomes.append(outcome)
    say(f"{result.name} ({'witness' if result.witness else 'no witness'}) rep {rep + 1}: "
        f"B active {_s(b_at, t0)}, loser stopped {_s(stop_at, t0)}, both active "
        f"{'—' if both is None else f'{both:.3f} s'}; {outcome}")


def _s(at: float | None, t0: float) -> str:
    return "—" if at is None else f"{at - t0:.3f} s"


def partition_table(results: dict[str, PartitionResult]) -> str:
    head = ("partition", "witness", "n", "B active after the fault, s",
            "loser's discontinue after the fault, s", "both active, s",
            "loser's discontinue after the heal, s", "outcome")
    rows = [head]
    for r in results.values():
        outcomes = "; ".join(f"{n}× {o}" for o, n in _counts(r.outcomes))
        rows.append((r.name, "etcd, T = 10 s" if r.witness else "none",
                     str(len(r.outcomes)), fmt(r.b_active), fmt(r.loser_stopped),
                     fmt(r.both), fmt(r.after_heal), outcomes or "—"))
    widths = [max(len(row[i]) for row in rows) for i in range(len(head))]
    lines = [" | ".join(cell.ljust(w) for cell, w in zip(row, widths)) for row in rows]
    lines.insert(1, "-+-".join("-" * w for w in widths))
    return "\n".join(lines)


def _counts(items: list[str]) -> list[tuple[str, int]]:
    seen: dict[str, int] = {}
    for item in items:
        seen[item] = seen.get(item, 0) + 1
    return sorted(seen.items(), key=lambda kv: -kv[1])


def describe() -> str:
    """The footnote under the partition table."""
    return (f"Partitions at time scale {SCALE:g}, held {HOLD:g} s after B switched (or "
            "found the key held), then healed. Times from the cut, read from both event "
            "logs: 'B active' to B's Switch Initiated, 'loser's discontinue' to the end of "
            "the discontinue hook of the server not active at the end, 'both active' "
            "between the two (0 when the loser stopped first or B never switched).")
