"""Prometheus metrics on `/metrics` (the official prometheus-client), one registry per app.

Loop metrics are read at scrape time from the same `LoopHealth` objects `/readyz` reads, so the
two never disagree. HTTP requests are counted by route template (never the raw path: ids in
paths would make a series per case) and status, with a latency histogram.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from typing import Any

from fastapi import FastAPI, Response
from prometheus_client import (
    CONTENT_TYPE_LATEST,
    CollectorRegistry,
    Counter,
    Histogram,
    generate_latest,
)
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric

from libs.platform.health import LoopHealth

LOOP_LABELS = ["service", "kind", "name", "stream"]


class LoopCollector:
    """Gauges and counters of every background loop and of the dead letters, read on scrape."""

    def __init__(self, service: str, loops: Callable[[], list[LoopHealth]], open_dead_letters: Callable[[], int],
                 stall: Callable[[LoopHealth], bool]) -> None:
        self.service = service
        self.loops = loops
        self.open_dead_letters = open_dead_letters
        self.stall = stall

    def collect(self) -> Iterable[Metric]:
        gauges = {
            "position": GaugeMetricFamily("tsunagu_loop_position", "Position the loop has handled", labels=LOOP_LABELS),
            "end": GaugeMetricFamily("tsunagu_loop_end", "End of the stream or log the loop follows",
                                     labels=LOOP_LABELS),
            "lag": GaugeMetricFamily("tsunagu_loop_lag", "Messages or events not yet handled", labels=LOOP_LABELS),
            "since": GaugeMetricFamily("tsunagu_loop_seconds_since_progress",
                                       "Seconds the oldest pending work has waited (0 when caught up)",
                                       labels=LOOP_LABELS),
            "round": GaugeMetricFamily("tsunagu_loop_round_seconds",
                                       "Seconds the round under way has run without the position moving (0 "
                                       "between rounds)", labels=LOOP_LABELS),
            "failing": GaugeMetricFamily("tsunagu_loop_consecutive_failures", "Failures in a row",
                                         labels=LOOP_LABELS),
            "stuck": GaugeMetricFamily("tsunagu_loop_stuck", "1 when the loop makes the service unready",
                                       labels=LOOP_LABELS),
            "replaying": GaugeMetricFamily("tsunagu_loop_replaying",
                                           "1 while the loop replays its stream into rebuilt read models",
                                           labels=LOOP_LABELS),
            "superseded": GaugeMetricFamily(
                "tsunagu_loop_superseded", "1 when a newer release's replica took the loop's work over: it stopped "
                "for good in this replica, which stays unready until it is replaced (/readyz says why)",
                labels=LOOP_LABELS),
            "missing": GaugeMetricFamily(
                "tsunagu_loop_missing_messages", "Messages missing from the stream the loop follows (deleted or "
                "purged: our streams keep every event, so any is a loss; /readyz says which stream)",
                labels=LOOP_LABELS),
            "target": GaugeMetricFamily("tsunagu_loop_replay_target",
                                        "Position at which the replay ends (0 when not replaying)", labels=LOOP_LABELS),
        }
        failures = CounterMetricFamily("tsunagu_loop_failures", "Failed rounds (publish, apply, job)",
                                       labels=LOOP_LABELS)
        handled = CounterMetricFamily("tsunagu_loop_handled", "Events or messages handled", labels=LOOP_LABELS)
        fetches = CounterMetricFamily("tsunagu_consumer_fetches", "Non-empty fetches of a consumer from the server",
                                      labels=LOOP_LABELS)
        transactions = CounterMetricFamily(
            "tsunagu_consumer_transactions", "Apply transactions a consumer tried, committed or not (a failed "
            "batch's retry and halvings count here)", labels=LOOP_LABELS)
        for loop in self.loops():
            labels = [self.service, loop.kind, loop.name, loop.stream]
            gauges["position"].add_metric(labels, loop.position)
            gauges["end"].add_metric(labels, loop.end)
            gauges["lag"].add_metric(labels, loop.lag)
            gauges["since"].add_metric(labels, loop.seconds_since_progress())
            gauges["round"].add_metric(labels, loop.seconds_in_round())
            gauges["failing"].add_metric(labels, loop.failures)
            gauges["stuck"].add_metric(labels, 1 if self.stall(loop) else 0)
            gauges["replaying"].add_metric(labels, 1 if loop.replaying else 0)
            gauges["target"].add_metric(labels, loop.replay_target if loop.replaying else 0)
            gauges["superseded"].add_metric(labels, 1 if loop.superseded else 0)
            gauges["missing"].add_metric(labels, loop.missing)
            failures.add_metric(labels, loop.failures_total)
            handled.add_metric(labels, loop.handled_total)
            if loop.kind == "consumer":
                fetches.add_metric(labels, loop.fetches_total)
                transactions.add_metric(labels, loop.transactions_total)
        leases = {
            "held": GaugeMetricFamily("tsunagu_lease_held", "1 when this replica runs the loop (holds its lease)",
                                      labels=LOOP_LABELS),
            "generation": GaugeMetricFamily("tsunagu_lease_generation",
                                            "Generation of the loop's lease (one more at every take-over)",
                                            labels=LOOP_LABELS),
            "expires": GaugeMetricFamily("tsunagu_lease_expires_in_seconds",
                                         "Seconds until the loop's lease expires unless renewed", labels=LOOP_LABELS),
            "unheld": GaugeMetricFamily("tsunagu_lease_unheld_seconds",
                                        "Seconds no replica has held the loop's lease, as this replica saw it "
                                        "(0 while a holder's lease runs)", labels=LOOP_LABELS),
            "competing": GaugeMetricFamily("tsunagu_lease_competing",
                                           "1 when this replica may take the loop's lease, 0 in a web-only "
                                           "replica (TSUNAGU_BACKGROUND=off)", labels=LOOP_LABELS),
        }
        for loop in self.loops():
            if loop.lease is None:
                continue
            labels, lease = [self.service, loop.kind, loop.name, loop.stream], loop.lease()
            leases["held"].add_metric(labels, 1 if lease["state"] == "active" else 0)
            leases["generation"].add_metric(labels, lease["generation"])
            leases["expires"].add_metric(labels, lease["expires_in"])
            leases["unheld"].add_metric(labels, lease["unheld_seconds"])
            leases["competing"].add_metric(labels, 0 if "reason" in lease else 1)
        yield from gauges.values()
        yield from leases.values()
        yield failures
        yield handled
        yield fetches
        yield transactions
        dead = GaugeMetricFamily("tsunagu_dead_letters_open", "Dead letters not yet resolved", labels=["service"])
        try:
            dead.add_metric([self.service], self.open_dead_letters())
        except Exception:  # noqa: BLE001 - the database is down: /readyz says so; no sample rather than a 500
            return
        yield dead


# Methods counted by name; any other (a client may send any token as a method) as OTHER, so that
# requests cannot make new series without bound.
METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"})


class HttpMetrics:
    """Count and latency of HTTP requests by route template and status, observed by the edge
    (libs/platform/web/edge.Edge) when a request is answered. The labelled children are kept in a
    dict of our own: prometheus-client's `labels()` builds and checks the label tuple under a lock
    on every call."""

    def __init__(self, service: str, registry: CollectorRegistry) -> None:
        self.service = service
        self.requests = Counter("tsunagu_http_requests", "HTTP requests by route and status",
                                ["service", "method", "route", "status"], registry=registry)
        self.latency = Histogram("tsunagu_http_request_duration_seconds", "HTTP request latency by route",
                                 ["service", "method", "route"], registry=registry,
                                 buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10))
        self._children: dict[tuple[str, str, int], tuple[Any, Any]] = {}

    def observe(self, scope: Mapping[str, Any], status: int, seconds: float) -> None:
        method = scope.get("method", "")
        method = method if method in METHODS else "OTHER"
        route = getattr(scope.get("route"), "path", None) or "unmatched"
        key = (method, route, status)
        if (children := self._children.get(key)) is None:
            children = (self.requests.labels(self.service, method, route, str(status)),
                        self.latency.labels(self.service, method, route))
            self._children[key] = children
        children[0].inc()
        children[1].observe(seconds)


def install_metrics(app: FastAPI, service: str, collector: LoopCollector) -> HttpMetrics:
    """/metrics on `app`; returns the request metrics, which the edge observes (install_edge)."""
    registry = CollectorRegistry(auto_describe=False)
    registry.register(collector)
    http = HttpMetrics(service, registry)

    @app.get("/metrics", tags=["health"], include_in_schema=False)
    def metrics() -> Response:
        return Response(generate_latest(registry), media_type=CONTENT_TYPE_LATEST)

    return http
