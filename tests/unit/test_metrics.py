"""Metrics from a fixed status document and from event-log entries, in exposition text."""
from __future__ import annotations

from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.parser import text_string_to_metric_families

from switchover import metrics
from switchover.metrics import StatusCollector, observe_request, on_event
from tests.fake_host import EVENTS, STATUS

DOC = {**STATUS, "replication": {"ds": {"state": "in sync", "seq": 12, "backup_seq": 9},
                                 "files": {"state": "syncing", "files_copied": 3}},
       "warnings": ["automatic switching is off: manual"]}


def samples(registry) -> dict[tuple[str, tuple], float]:
    text = generate_latest(registry).decode()
    return {(s.name, tuple(sorted(s.labels.items()))): s.value
            for family in text_string_to_metric_families(text) for s in family.samples}


def test_status_gauges():
    registry = CollectorRegistry()
    registry.register(StatusCollector(lambda: DOC))
    got = samples(registry)
    assert got[("switchover_up", ())] == 1
    assert got[("switchover_role", (("role", "backup"), ("server", "ICServer2")))] == 1
    assert got[("switchover_role", (("role", "active"), ("server", "ICServer2")))] == 0
    assert got[("switchover_state", (("server", "ICServer2"), ("state", "Backup")))] == 1
    assert got[("switchover_generation", (("server", "ICServer2"),))] == 3
    assert got[("switchover_channel_up", (("channel", "aux"), ("server", "ICServer2")))] == 1
    assert got[("switchover_replication", (("field", "lag"), ("server", "ICServer2"),
                                           ("stream", "ds")))] == 3
    assert got[("switchover_replication_in_sync", (("server", "ICServer2"),
                                                   ("stream", "files")))] == 0
    assert got[("switchover_warnings", (("server", "ICServer2"),))] == 1


def test_a_status_that_fails_is_up_0():
    def broken():
        raise TimeoutError("SwitchoverMain did not answer")

    registry = CollectorRegistry()
    registry.register(StatusCollector(broken))
    assert samples(registry) == {("switchover_up", ()): 0}


def test_switches_hooks_and_pings_are_counted():
    before = samples(metrics.REGISTRY)
    for entry in EVENTS:
        on_event({**entry, "kind": entry.get("kind")})
    on_event({"kind": "hook", "hook": "discontinue", "outcome": "failed",
              "message": "Switchover Service: discontinue hook vip-down failed"})
    observe_request("aux", "TsServer", 0.004, "ok")
    observe_request("main", "TsServer", 10.0, "timeout")
    after = samples(metrics.REGISTRY)

    def grew(name, **labels):
        key = (name, tuple(sorted(labels.items())))
        return after.get(key, 0) - before.get(key, 0)

    assert grew("switchover_switches_total", reason="TS Ping Failure") == 1
    assert after[("switchover_last_switch_timestamp_seconds", ())] == 1796222421.544
    assert grew("switchover_hook_runs_total", hook="commence", outcome="ok") == 1
    assert grew("switchover_hook_runs_total", hook="discontinue", outcome="failed") == 1
    assert grew("switchover_ping_seconds_count", channel="aux", target="TsServer") == 1
    assert grew("switchover_ping_failures_total", channel="main", target="TsServer",
                outcome="timeout") == 1


def test_the_dashboard_graphs_only_metrics_that_exist():
    import json
    import re
    from pathlib import Path

    dashboard = json.loads((Path(__file__).parents[2] / "deploy/grafana-dashboard.json")
                           .read_text())
    exprs = [t["expr"] for p in dashboard["panels"] for t in p["targets"]]
    used = {m for e in exprs for m in re.findall(r"switchover_[a-z_]+", e)}
    registry = CollectorRegistry()
    registry.register(StatusCollector(lambda: DOC))
    observe_request("main", "TsServer", 0.01, "ok")
    observe_request("main", "TsServer", 10.0, "timeout")
    on_event(EVENTS[2])
    on_event({"kind": "hook", "hook": "commence", "outcome": "ok", "message": "x"})
    exported = {s.name for r in (registry, metrics.REGISTRY)
                for f in text_string_to_metric_families(generate_latest(r).decode())
                for s in f.samples}
    assert used - exported == set()
    assert len(used) >= 12
