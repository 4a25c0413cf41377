"""An event whose handler records one fact row keyed by its id is guarded against a second
application by that row, not by a row of `projected_events` (issue 15: a second random-key index per
fact in a rebuild). Delivered again — in the same batch, in a later one, stored again on the stream —
it still counts once; the events that leave no such row keep their `projected_events` row."""

from __future__ import annotations

import random

from sqlalchemy import func, select

from libs.platform.messaging.handlers import contract_of_envelope
from services.reporting.projections import RECORDED_IN
from services.reporting.projections.tables import consultations
from services.reporting.projections.tallies import consultation_pivot
from services.reporting.tests.conftest import TOKYO
from services.reporting.tests.test_tallies import _intake, _programmes, _registry_and_dispatch, _supporters


def _guarded_ids(engine, projection) -> set[str]:
    with engine.connect() as conn:
        return set(conn.execute(select(projection.seen.c.event_id)).scalars())


def test_a_consultation_delivered_again_counts_once_and_its_fact_row_is_its_only_guard(feed, engine, projection):
    centre = feed.centre(TOKYO)
    case = feed.case(centre)
    first = feed.consultation(case, "2016-05-01T10:00:00+09:00")
    feed.redeliver(first)  # stored again on the stream: a later position, its own transaction
    feed.batch = 10_000
    second = feed.consultation(case, "2016-05-02T10:00:00+09:00")
    feed.redeliver(second)  # in the same batch as the first delivery
    feed.redeliver(first)
    feed.flush()
    feed.batch = None
    feed.redeliver(second)
    with engine.connect() as conn:
        assert conn.execute(select(func.count()).select_from(consultations)).scalar() == 2
        assert conn.execute(select(func.sum(consultation_pivot.wide.table.c.n))).scalar() == 2
    ids = _guarded_ids(engine, projection)
    assert first.id not in ids and second.id not in ids, "the fact row guards them: no projected_events row"
    assert len(ids) == 2, "the centre and the case leave no fact row keyed by their id: projected_events keeps them"


def test_every_event_guarded_by_a_fact_table_leaves_its_row_there(feed, engine):
    """The list of guarded events holds only handlers that always insert their row: an event listed
    whose handler made no row would be applied again at its next delivery."""
    rng = random.Random(7)
    centre = feed.centre(TOKYO, opened_fy=2009)
    feed.dates(centre, "2009-06-01", "2020-03-31", time="2019-06-01T12:00:00+09:00")
    _intake(feed, rng, 60)
    _programmes(feed, rng, 40)
    _registry_and_dispatch(feed, rng, 60)
    _supporters(feed, rng, 60)
    guarded = [(e, RECORDED_IN[c]) for _, e in feed.log if (c := contract_of_envelope(e)) in RECORDED_IN]
    assert {contract_of_envelope(e) for e, _ in guarded} == set(RECORDED_IN), "each guarded event is exercised"
    with engine.connect() as conn:
        rows = {(table.name, i) for table in set(RECORDED_IN.values())
                for i in conn.execute(select(table.c.event_id)).scalars()}
    assert [e.type for e, table in guarded if (table.name, e.id) not in rows] == []
