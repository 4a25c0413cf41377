"""A batch of events is written with a statement per table and per tally, not per event (issue 15:
the reporting rebuild was two or more round trips per event), and fails as a whole."""

from __future__ import annotations

from uuid import uuid4

import pytest
from sqlalchemy import event, func, select
from sqlalchemy.exc import IntegrityError

from libs.platform.messaging.cloudevents import Envelope
from services.reporting.projections.tables import consultations
from services.reporting.projections.tallies import OF
from services.reporting.tests.conftest import TOKYO


def _consultations(feed, case: str, count: int, *, channel: str | None = "phone") -> list[Envelope]:
    centre = feed.case_centre[case]
    return [Envelope(
        id=str(uuid4()), source="/tsunagu/intake", type="jp.tsunagu.intake.ConsultationRecorded.v1", subject=case,
        time=f"2016-05-{1 + i % 28:02d}T12:00:00+09:00", tenant=TOKYO, sequence=feed.positions["INTAKE"] + 1 + i,
        aggregate="case", data={"consultation_id": str(uuid4()), "centre_id": centre, "channel": channel,
                                "consulted_by": "person", "occurred_at": f"2016-05-{1 + i % 28:02d}T10:00:00+09:00",
                                "summary": None, "idempotency_key": None}) for i in range(count)]


def test_a_batch_of_consultations_costs_a_few_statements_whatever_its_size(feed, engine, projection):
    case = feed.case(feed.centre(TOKYO))
    statements: list[str] = []

    def count(conn, cursor, statement, *args):
        statements.append(statement)

    batch = _consultations(feed, case, 120)
    event.listen(engine, "before_cursor_execute", count)
    try:
        projection.apply_batch(batch, "INTAKE", feed.positions["INTAKE"] + len(batch))
    finally:
        event.remove(engine, "before_cursor_execute", count)
    # The generation, the position, the ids seen, the facts, their tally, the ids recorded: one each.
    assert len(statements) <= 8, statements
    with engine.connect() as conn:
        assert conn.execute(select(func.count()).select_from(consultations)).scalar() == 120
        assert conn.execute(select(func.sum(OF[consultations].table.c.n))).scalar() == 120


def test_a_row_that_fails_when_the_batch_is_written_fails_the_whole_batch(feed, engine, projection):
    case = feed.case(feed.centre(TOKYO))
    position = feed.positions["INTAKE"]
    batch = _consultations(feed, case, 5) + _consultations(feed, case, 1, channel=None)  # NOT NULL, refused
    with pytest.raises(IntegrityError):
        projection.apply_batch(batch, "INTAKE", position + len(batch))
    assert projection.position("INTAKE") == position
    with engine.connect() as conn:
        assert conn.execute(select(func.count()).select_from(consultations)).scalar() == 0
        assert conn.execute(select(func.count()).select_from(OF[consultations].table)).scalar() == 0
