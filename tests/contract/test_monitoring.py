"""/metrics on every service, scraped like Prometheus would; the alert rules and the Grafana
dashboard in deploy/monitoring parse and name only metrics that exist."""

from __future__ import annotations

import json
import re
from pathlib import Path

import yaml
from prometheus_client.parser import text_string_to_metric_families

from libs.platform.health import LoopHealth
from libs.platform.lease import Lease
from libs.platform.web.metrics import LoopCollector
from tests.e2e.test_consultation_slice import _setup_case
from tests.harness import eventually, published

MONITORING = Path(__file__).resolve().parents[2] / "deploy" / "monitoring"
SERVICES = ("intake", "registry", "dispatch", "reporting")
METRIC = re.compile(r"\b(tsunagu_[a-z_]+)\b")


def _scrape(service) -> dict[str, list]:
    """Sample name → samples, as Prometheus would store them."""
    with service.client() as anyone:
        r = anyone.get("/metrics")
    assert r.status_code == 200 and r.headers["content-type"].startswith("text/plain")
    samples: dict[str, list] = {}
    for family in text_string_to_metric_families(r.text):
        for sample in family.samples:
            samples.setdefault(sample.name, []).append(sample)
    return samples


def _expressions() -> list[str]:
    rules = yaml.safe_load((MONITORING / "alerts.yaml").read_text())
    exprs = []
    for group in rules["groups"]:
        for rule in group["rules"]:
            assert rule["alert"] and rule["expr"] and rule["labels"]["severity"] in ("warning", "critical")
            exprs.append(rule["expr"])
    dashboard = json.loads((MONITORING / "grafana-dashboard.json").read_text())
    exprs += [t["expr"] for panel in dashboard["panels"] for t in panel["targets"]]
    for expr in exprs:
        assert expr.count("(") == expr.count(")"), expr
    return exprs


def test_every_service_serves_its_loops_and_requests_as_prometheus_metrics_that_the_alerts_use(
        nats_server, start_service):
    services = {name: start_service(name, nats_server.url) for name in SERVICES}
    _setup_case(services["intake"])
    # A loop's lag is counted to the end it last read: 0 at position 1 before the relay read the case's
    # event (seen on CI under load). Wait until both are on the stream, so its next read saw them.
    published(services["intake"], nats_server.url)
    scraped = {}
    for name, service in services.items():
        with service.operator() as operator:
            def caught_up(a=operator):
                r = a.get("/readyz")
                return (r.status_code == 200 and all(loop["lag"] == 0 for loop in r.json()["checks"]["loops"])
                        and r.json())

            # The same loops as /readyz, the same lag: both read once every loop has caught up (a
            # commit between the two reads — a loop's round — would make them differ for a moment).
            def agreeing(a=operator, s=service):
                ready = caught_up(a)
                samples = _scrape(s)
                lags = {(x.labels["kind"], x.labels["name"]): x.value for x in samples["tsunagu_loop_lag"]}
                return ready and lags == {(loop["kind"], loop["name"]): loop["lag"]
                                          for loop in ready["checks"]["loops"]} and samples

            samples = eventually(agreeing)
        scraped[name] = samples
        assert {s.labels["service"] for s in samples["tsunagu_loop_lag"]} == {name}
        routes = {(s.labels["route"], s.labels["status"]) for s in samples["tsunagu_http_requests_total"]}
        assert ("/readyz", "200") in routes
        assert samples["tsunagu_dead_letters_open"][0].value == 0
        assert "tsunagu_http_request_duration_seconds_bucket" in samples
    kinds = {s.labels["kind"] for samples in scraped.values() for s in samples["tsunagu_loop_lag"]}
    assert kinds == {"relay", "consumer", "follower", "job"}
    intake_relay = next(s for s in scraped["intake"]["tsunagu_loop_position"] if s.labels["kind"] == "relay")
    assert intake_relay.value >= 2  # the centre and the case were published
    assert any(s.labels["route"] == "/v1/cases" and s.labels["status"] == "201"
               for s in scraped["intake"]["tsunagu_http_requests_total"])
    # Consumers count their fetches and the apply transactions they tried (what failed batches cost).
    fetches = scraped["reporting"]["tsunagu_consumer_fetches_total"]
    assert {s.labels["kind"] for s in fetches} == {"consumer"} and any(s.value >= 1 for s in fetches)
    tried = scraped["reporting"]["tsunagu_consumer_transactions_total"]
    assert {s.labels["kind"] for s in tried} == {"consumer"} and any(s.value >= 1 for s in tried)
    known = {name for samples in scraped.values() for name in samples}
    known |= _lease_metrics()  # served only by replicas (PostgreSQL): tests/fault/test_web_only_replica.py
    for expr in _expressions():
        missing = set(METRIC.findall(expr)) - known
        assert not missing, f"{expr!r} names metrics no service serves: {missing}"


def _lease_metrics() -> set[str]:
    """The sample names /metrics has for a loop under a lease (several replicas, libs/platform/lease.py)."""
    lease = Lease("relay:INTAKE")
    health = LoopHealth("relay", "INTAKE", lease=lambda: lease.report("me"))
    collector = LoopCollector("intake", lambda: [health], lambda: 0, lambda loop: False)
    return {sample.name for family in collector.collect() for sample in family.samples}
