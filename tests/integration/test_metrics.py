"""The Prometheus endpoint of real host processes, scraped over HTTP and parsed."""
from __future__ import annotations

import urllib.request

import pytest
from prometheus_client.parser import text_string_to_metric_families

pytestmark = pytest.mark.integration


def scrape(port: int) -> dict[tuple[str, tuple], float]:
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5) as answer:
        text = answer.read().decode()
    return {(s.name, tuple(sorted(s.labels.items()))): s.value
            for family in text_string_to_metric_families(text) for s in family.samples}


def test_metrics_scrape_before_and_after_a_switch(make_pair) -> None:
    pair = make_pair(time_scale=0.05, metrics=True)
    a, b = pair.start_active(), pair.start_backup()
    pair.admin(b, "ping", {"channel": "main"})
    got = scrape(pair.metrics_ports[b])
    assert got[("switchover_up", ())] == 1
    assert got[("switchover_role", (("role", "backup"), ("server", b)))] == 1
    assert got[("switchover_channel_up", (("channel", "main"), ("server", b)))] == 1
    assert got[("switchover_channel_up", (("channel", "aux"), ("server", b)))] == 1
    assert got[("switchover_ping_seconds_count", (("channel", "main"),
                                                  ("target", "TsServer")))] >= 1
    assert scrape(pair.metrics_ports[a])[("switchover_role", (("role", "active"),
                                                              ("server", a)))] == 1
    pair.kill(f"{a}/TsServer")
    pair.wait_state(b, "Primary")
    got = scrape(pair.metrics_ports[b])
    assert got[("switchover_role", (("role", "active"), ("server", b)))] == 1
    assert got[("switchover_switches_total", (("reason", "TS Ping Failure"),))] == 1
    assert got[("switchover_last_switch_timestamp_seconds", ())] > 1.7e9
    assert got[("switchover_generation", (("server", b),))] >= 2
