"""Attack (merge-s26, held batch writes): a batch holding a fact and the void of that fact, a
batch redelivered whole after it committed, and the same batch applied again from a position
before it; a poison (NOT NULL) row in the middle of a large batch. The count tables must equal what
derive_all computes from the facts, nothing doubled."""

from __future__ import annotations

from uuid import uuid4

import pytest
from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError

from libs.platform.messaging.cloudevents import Envelope
from libs.platform.readmodels.projection import StalePosition
from services.reporting.projections.tables import consultations
from services.reporting.projections.tallies import COUNTED, consultation_pivot, derive_all
from services.reporting.tests.conftest import TOKYO


def _counts(engine) -> dict:
    with engine.connect() as conn:
        return {t.table.name: sorted(tuple(r) for r in conn.execute(select(t.table))) for t in COUNTED}


def _consultations_counted(engine) -> int:
    """The consultations the count tables hold (their per-centre pivot's `n`)."""
    with engine.connect() as conn:
        return conn.execute(select(func.sum(consultation_pivot.wide.table.c.n))).scalar()


def _derived(engine) -> dict:
    with engine.begin() as conn:
        derive_all(conn)
    return _counts(engine)


def test_fact_and_its_void_in_one_batch_redelivered(feed, engine, projection):
    feed.batch = 10_000  # held until flush: one batch
    case = feed.case(feed.centre(TOKYO))
    feed.flush()
    xs = [feed.consultation(case, "2016-05-01T10:00:00+09:00") for _ in range(30)]
    for x in xs[::3]:
        feed.void(case, x, "2016-05-02")
    again = [feed.consultation(case, "2016-06-01T10:00:00+09:00", channel="visit") for _ in range(5)]
    feed.void(case, xs[0], "2016-05-03")  # a second void of the same: moves nothing
    held = list(feed._held["INTAKE"])
    feed.flush()
    before = _counts(engine)
    # Redelivered whole (the PubAck of the commit lost): the same envelopes, the same last position.
    with pytest.raises(StalePosition):  # refused whole (the runner drops such messages before)
        projection.apply_batch([e for e, _ in held], "INTAKE", held[-1][1])
    assert _counts(engine) == before
    with engine.connect() as conn:
        assert conn.execute(select(func.count()).select_from(consultations)).scalar() == 35
        live = conn.execute(select(func.count()).select_from(consultations).where(
            consultations.c.voided_at.is_(None))).scalar()
    assert live == 35 - 10
    assert before == _derived(engine)
    assert _consultations_counted(engine) == 25 and again


def test_poison_row_in_the_middle_of_a_large_batch_fails_it_whole(feed, engine, projection):
    case = feed.case(feed.centre(TOKYO))
    centre = feed.case_centre[case]
    pos = feed.positions["INTAKE"]
    batch = []
    for i in range(2000):
        batch.append(Envelope(
            id=str(uuid4()), source="/tsunagu/intake", type="jp.tsunagu.intake.ConsultationRecorded.v1",
            subject=case, time="2016-05-01T12:00:00+09:00", tenant=TOKYO, sequence=pos + 1 + i, aggregate="case",
            data={"consultation_id": str(uuid4()), "centre_id": centre, "channel": None if i == 1000 else "phone",
                  "consulted_by": "person", "occurred_at": "2016-05-01T10:00:00+09:00", "summary": None,
                  "idempotency_key": None}))
    with pytest.raises(IntegrityError):
        projection.apply_batch(batch, "INTAKE", pos + 2000)
    assert projection.position("INTAKE") == pos
    # One by one, as the runner falls back: the first 1000 then the poison fails, skip it, the rest.
    for e in batch[:1000]:
        projection.apply(e, "INTAKE", e.sequence)
    with pytest.raises(IntegrityError):
        projection.apply(batch[1000], "INTAKE", batch[1000].sequence)
    projection.skip("INTAKE", batch[1000].sequence, "poison")
    projection.apply_batch(batch[1001:], "INTAKE", pos + 2000)
    assert _consultations_counted(engine) == 1999
    assert _counts(engine) == _derived(engine)
