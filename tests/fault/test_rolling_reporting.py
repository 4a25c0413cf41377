"""A rolling deploy of reporting: a replica of the next release (its projection generation one more,
services/reporting/projections.GENERATION) starts beside a running one of this release, on the same
database and nats-server. The newer one stamps the read models; the older one stops projecting for
good (it writes no row after), says so in /readyz (unready, the reason), /metrics and its reports
(503 projection-superseded), and on PostgreSQL gives its consumers' leases up to the newer one, which
projects what comes next (libs/platform/readmodels/stamps.py, deploy/README)."""

from __future__ import annotations

import httpx
import pytest

from services.reporting import projections
from tests.e2e.test_reporting_rebuild import _consult, _consultations
from tests.harness import backend, eventually, status

pytestmark = pytest.mark.fault
SUPERSEDED = "https://tsunagu.jp/problems/projection-superseded"


def _replica() -> dict:
    """As deployed on PostgreSQL: replicas share the loops under leases. SQLite is one process's: each
    of the two runs its loops (the older one's stop then matters all the more)."""
    return {"replicas": 2, "lease_seconds": 1.0} if backend() == "postgresql" else {}


def _readyz(service) -> httpx.Response:
    with service.operator() as operator:
        return operator.get("/readyz")


def _superseded_metric(service) -> dict[str, float]:
    with service.client() as anyone:
        lines = anyone.get("/metrics").text.splitlines()
    return {line.split('name="', 1)[1].split('"', 1)[0]: float(line.rsplit(" ", 1)[1])
            for line in lines if line.startswith("tsunagu_loop_superseded{") and 'kind="consumer"' in line}


def _total(reporting) -> int | None:
    with reporting.client(role="ministry", org="mhlw") as ministry:
        r = ministry.get("/v1/reports/consultations", params={"fy": 2016})
    return r.json()["total"] if r.status_code == 200 else None


def test_an_older_releases_replica_stops_projecting_and_goes_unready_once_a_newer_one_stamped(
        nats_server, start_service, monkeypatch):
    intake = start_service("intake", nats_server.url)
    for producer in ("registry", "dispatch"):  # every stream reporting reads: ready before the roll
        start_service(producer, nats_server.url)
    old = start_service("reporting", nats_server.url, **_replica())
    centre_id, case_id, _ = _consultations(intake, old, 2)
    eventually(lambda: _readyz(old).status_code == 200, timeout=30)

    monkeypatch.setattr(projections, "GENERATION", projections.GENERATION + 1)  # the next release's code
    new = start_service("reporting", nats_server.url, **_replica())

    def superseded() -> dict | None:
        r = _readyz(old)
        body = r.json()
        loops = [loop for loop in body.get("checks", {}).get("loops", []) if loop["kind"] == "consumer"]
        return (r.status_code == 503 and loops and all(loop["state"] == "superseded" for loop in loops)
                and body)

    body = eventually(superseded, timeout=30)
    assert f"generation {projections.GENERATION} by a newer release" in body["detail"], body
    assert set(_superseded_metric(old).values()) == {1.0} and set(_superseded_metric(new).values()) == {0.0}
    applied = {c.durable: c.applied for c in old.runtime.consumers}

    for day in ("2016-09-01", "2016-10-01"):  # only the newer replica projects these
        _consult(intake, centre_id, case_id, day)
    eventually(lambda: _total(new) == 4, timeout=30)
    assert {c.durable: c.applied for c in old.runtime.consumers} == applied
    with old.client(role="ministry", org="mhlw") as ministry:
        r = ministry.get("/v1/reports/consultations", params={"fy": 2016})
    assert status(r) == 503 and r.json()["type"] == SUPERSEDED and r.headers["retry-after"] == "1"
    eventually(lambda: _readyz(new).status_code == 200, timeout=30)
    assert _readyz(old).status_code == 503  # for good, until it is replaced

    # An old pod restarted mid-roll starts (no crash loop on the newer tables), and stands down at once.
    old.stop()
    monkeypatch.setattr(projections, "GENERATION", projections.GENERATION - 1)
    old.start()
    eventually(superseded, timeout=30)
    _consult(intake, centre_id, case_id, "2016-11-01")
    eventually(lambda: _total(new) == 5, timeout=30)
    assert sum(c.applied for c in old.runtime.consumers) == 0
