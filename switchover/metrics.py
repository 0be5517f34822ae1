"""Prometheus metrics of one host, served only when `[metrics] listen` is set.

Two sources. What a scrape reads now (role, state, generation, channels, replication)
comes from the same status document `switchover status` shows, built at scrape time,
so the two never disagree. What happened (switches by reason, hook runs, ping round
trips) is counted as it happens: the event log tells `on_event` of each entry, and the
backup's peer links report each request's round trip to `observe_request`. The
registry is this module's own, never the process-global default, so a library's
metrics cannot leak into the endpoint.
"""
from __future__ import annotations

import datetime as _dt
import logging
from typing import Any, Callable, Iterator, Mapping

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily
from prometheus_client.registry import Collector

from switchover.events import SWITCH_INITIATED
from switchover.transport import refusals

log = logging.getLogger("Metrics")

REGISTRY = CollectorRegistry(auto_describe=True)
ROLES = ("active", "backup", "stale", "stopping", "none")
STATES = ("Init", "Primary", "Backup", "Reconnecting", "UpgradeHigher", "UpgradeLower",
          "Inactive", "Stopping", "Error")

PING_SECONDS = Histogram(
    "switchover_ping_seconds", "Round trip of the backup's requests to the active's "
    "Notifier (TS Diagnostic Ping and the other monitored requests) that were answered",
    ["channel", "target"], registry=REGISTRY,
    buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10))
PING_FAILURES = Counter(
    "switchover_ping_failures", "The backup's requests to the active that were not answered",
    ["channel", "target", "outcome"], registry=REGISTRY)
SWITCHES = Counter("switchover_switches", "Switches this server initiated, by reason",
                   ["reason"], registry=REGISTRY)
LAST_SWITCH = Gauge("switchover_last_switch_timestamp_seconds",
                    "When this server last initiated a switch (Unix time)", registry=REGISTRY)
HOOK_RUNS = Counter("switchover_hook_runs", "Commence, discontinue and fence hook commands run, "
                    "by outcome (each attempt)", ["hook", "outcome"], registry=REGISTRY)


def observe_request(channel: str, target: str, seconds: float, outcome: str) -> None:
    """One request of the backup's peer links finished (outcome as transport.outcome)."""
    if outcome == "ok":
        PING_SECONDS.labels(channel, target).observe(seconds)
    else:
        PING_FAILURES.labels(channel, target, outcome).inc()


def on_event(entry: Mapping[str, Any]) -> None:
    """Count what an event-log entry says happened (EventLog calls this for each)."""
    message = str(entry.get("message", ""))
    if message == SWITCH_INITIATED:
        SWITCHES.labels(str(entry.get("reason") or "unknown")).inc()
        try:
            LAST_SWITCH.set(_dt.datetime.fromisoformat(str(entry["time"])).timestamp())
        except (KeyError, ValueError):
            pass
    elif entry.get("kind") == "hook" and entry.get("hook"):
        HOOK_RUNS.labels(str(entry["hook"]), str(entry.get("outcome") or "unknown")).inc()


def _number(value: Any) -> float | None:
    if isinstance(value, bool):
        return float(value)
    return float(value) if isinstance(value, (int, float)) else None


class StatusCollector(Collector):
    """The status document as gauges, built at each scrape."""

    def __init__(self, status: Callable[[], Mapping[str, Any]]) -> None:
        self.status = status

    def describe(self) -> list:
        return []  # built at scrape time; nothing to check at registration

    def collect(self) -> Iterator[GaugeMetricFamily]:
        up = GaugeMetricFamily("switchover_up", "1 when the host answered its own status",
                               labels=[])
        try:
            doc = self.status()
        except Exception as exc:  # a wedged actor must not break the scrape
            log.warning("Metrics: status not available: %s", exc)
            up.add_metric([], 0)
            yield up
            return
        up.add_metric([], 1)
        yield up
        yield from status_families(doc)
        yield refusal_family()


def refusal_family() -> CounterMetricFamily:
    """transport.refusals' count of refused connections, by socket and reason."""
    family = CounterMetricFamily("switchover_refused_connections", "Connections a server "
                                 "socket refused (malformed greeting, handshake timeout, "
                                 "CURVE key refused)", labels=["socket", "reason"])
    with refusals.lock():
        counts = dict(refusals.REFUSALS)
    for (sock, reason), count in sorted(counts.items()):
        family.add_metric([sock, reason], count)
    return family


def status_families(doc: Mapping[str, Any]) -> Iterator[GaugeMetricFamily]:
    """Gauges from one status document (pure: unit-tested on a fixed document)."""
    server = str(doc.get("server", ""))
    role = GaugeMetricFamily("switchover_role", "1 for this server's role",
                             labels=["server", "role"])
    for name in ROLES:
        role.add_metric([server, name], 1 if doc.get("role") == name else 0)
    yield role
    state = GaugeMetricFamily("switchover_state", "1 for this server's state",
                              labels=["server", "state"])
    for name in STATES:
        state.add_metric([server, name], 1 if doc.get("state") == name else 0)
    yield state
    generation = GaugeMetricFamily("switchover_generation", "The pair's generation as "
                                   "this server knows it", labels=["server"])
    generation.add_metric([server], float(doc.get("generation") or 0))
    yield generation
    channel = GaugeMetricFamily("switchover_channel_up", "1 when the backup's channel to "
                                "the active is up (only on a server that watches)",
                                labels=["server", "channel"])
    for name, value in (doc.get("connections") or {}).items():
        if value is not None:
            channel.add_metric([server, name], 1 if value else 0)
    yield channel
    peer = doc.get("peer") or {}
    reachable = GaugeMetricFamily("switchover_peer_reachable", "1 when the peer's virtual "
                                  "switch answered last time", labels=["server", "peer"])
    reachable.add_metric([server, str(peer.get("name", ""))], 1 if peer.get("reachable") else 0)
    yield reachable
    in_sync = GaugeMetricFamily("switchover_replication_in_sync", "1 when the stream reports "
                                "itself in sync", labels=["server", "stream"])
    values = GaugeMetricFamily("switchover_replication", "The numbers a replication stream "
                               "reports (sequence numbers, counts, lag)",
                               labels=["server", "stream", "field"])
    for stream, health in (doc.get("replication") or {}).items():
        if not isinstance(health, Mapping):
            continue
        in_sync.add_metric([server, stream],
                           1 if str(health.get("state", "")).startswith("in sync") else 0)
        for field, value in health.items():
            number = _number(value)
            if number is not None:
                values.add_metric([server, stream, field], number)
        seq, acked = _number(health.get("seq")), _number(health.get("backup_seq"))
        if seq is not None and acked is not None:
            values.add_metric([server, stream, "lag"], seq - acked)
    yield in_sync
    yield values
    warnings = GaugeMetricFamily("switchover_warnings", "How many warnings status shows",
                                 labels=["server"])
    warnings.add_metric([server], len(doc.get("warnings") or []))
    yield warnings


def serve(address: str, port: int, status: Callable[[], Mapping[str, Any]],
          subscribe: Callable[[Callable[[Mapping[str, Any]], None]], Any]) -> Callable[[], None]:
    """Start the endpoint; the function that stops it."""
    from prometheus_client import start_http_server

    collector = StatusCollector(status)
    REGISTRY.register(collector)
    subscribe(on_event)
    server, thread = start_http_server(port, addr=address, registry=REGISTRY)
    log.info("Metrics: Prometheus endpoint on http://%s:%d/metrics", address, port)

    def stop() -> None:
        server.shutdown()
        server.server_close()
        thread.join(5)
        REGISTRY.unregister(collector)

    return stop
