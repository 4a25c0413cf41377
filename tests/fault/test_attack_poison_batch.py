"""Attack (merge-s26): reporting starts behind a backlog of 1,500 imported consultations (one fetch
of up to 2,000, the next fetched while it applies), one of them in the middle poison to its
projection (a handler failing every time). The batch must fall back, the poison be dead-lettered
and named by readiness, everything else counted once: the count tables equal the facts."""

from __future__ import annotations

import pytest
from sqlalchemy import func, select

from libs.platform.messaging.cloudevents import Envelope
from services.reporting.projections import ReportingProjection
from services.reporting.projections.tables import consultations
from services.reporting.projections.tallies import COUNTED, consultation_pivot, derive_all
from tests.e2e.test_consultation_import import _item, _second_case
from tests.e2e.test_consultation_slice import _setup_case
from tests.harness import eventually, published

pytestmark = pytest.mark.fault
WHEN = "2016-07-01T10:00:00+09:00"


def _counts(engine) -> dict:
    with engine.connect() as conn:
        return {t.table.name: sorted(tuple(r) for r in conn.execute(select(t.table))) for t in COUNTED}


def test_a_poison_in_the_middle_of_a_2000_batch_is_dead_lettered_and_the_rest_counted_once(
        nats_server, start_service, monkeypatch):
    intake = start_service("intake", nats_server.url)
    centre_id, case_a = _setup_case(intake)
    case_b = _second_case(intake, centre_id)
    with intake.client(role="centre_staff", org=centre_id) as staff:
        for k in range(3):
            items = [_item(case_a if n % 2 else case_b, WHEN, f"毒 {k}.{n}") for n in range(500)]
            r = staff.post("/v1/consultation-imports", json={"consultations": items},
                           headers={"Idempotency-Key": f"p{k}"})
            assert r.status_code == 201, r.text
    messages = published(intake, nats_server.url, timeout=60)
    envelopes = [Envelope.from_json(m.data) for m in messages]
    recorded = [e for e in envelopes if ".ConsultationRecorded." in e.type]
    assert len(recorded) == 1500, (len(messages), {e.type for e in envelopes})
    poison = recorded[700].id
    project = ReportingProjection.project

    def poisoned(self, conn, envelope):
        if envelope.id == poison:
            raise ValueError("poison")
        return project(self, conn, envelope)

    monkeypatch.setattr(ReportingProjection, "project", poisoned)
    reporting = start_service("reporting", nats_server.url)
    with reporting.operator() as operator:
        r = eventually(lambda: (r := operator.get("/readyz")).status_code == 503
                       and r.json()["checks"].get("dead_lettered") == 1 and r, timeout=90)
    engine = reporting.runtime.engine
    eventually(lambda: _count(engine) == len(recorded) - 1, timeout=90)
    before = _counts(engine)
    with engine.connect() as conn:  # the consultations counted: the per-centre pivot's `n`
        assert conn.execute(select(func.sum(consultation_pivot.wide.table.c.n))).scalar() == len(recorded) - 1
    with engine.begin() as conn:
        derive_all(conn)
    assert _counts(engine) == before


def _count(engine) -> int:
    with engine.connect() as conn:
        return conn.execute(select(func.count()).select_from(consultations)).scalar()
