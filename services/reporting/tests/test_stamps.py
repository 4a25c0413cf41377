"""The read models' stamp (libs/platform/readmodels/stamps.py): a replica of an older release writes
nothing once a newer one has stamped them, the stamp only moves forward however replicas start, and
a newer replica's take-over waits for a batch of an older one under way."""

from __future__ import annotations

import threading

import pytest
from sqlalchemy import delete, func, select

from libs.platform.readmodels.stamps import ProjectionSuperseded
from services.reporting import projections
from services.reporting.projections import ReportingProjection, consultations
from services.reporting.tests.conftest import TOKYO

NEWER = projections.GENERATION + 1


def _consultations(engine) -> int:
    with engine.connect() as conn:
        return conn.execute(select(func.count()).select_from(consultations)).scalar_one()


def test_an_older_releases_projection_writes_nothing_once_a_newer_one_has_stamped_the_read_models(feed, engine):
    old = feed.projection
    case = feed.case(feed.centre(TOKYO))
    feed.consultation(case, "2016-06-01T10:00:00+09:00")
    feed.batch = 100  # what the older replica fetched next: held, applied below
    feed.consultation(case, "2016-07-01T10:00:00+09:00")
    new = ReportingProjection(engine, generation=NEWER)  # a replica of the next release starts
    assert new.stamp() == NEWER and old.superseded() is not None and new.superseded() is None
    with pytest.raises(ProjectionSuperseded, match=f"generation {NEWER} by a newer release"):
        feed.flush()  # the batch
    with pytest.raises(ProjectionSuperseded):
        old.skip("INTAKE", 4, "a dead letter's skip writes a row too")
    with pytest.raises(ProjectionSuperseded):
        old.rebuild(by="operator@mhlw")  # it would empty only the tables it knows
    with pytest.raises(ProjectionSuperseded):
        old.position("INTAKE")  # a consumer made again stops before fetching
    with pytest.raises(ProjectionSuperseded):
        old.require_current()  # and a report (api/deps.Settled)
    assert _consultations(engine) == 1 and new.position("INTAKE") == 3
    new.apply(feed.log[-1][1], "INTAKE", 4)  # the newer replica projects it
    assert _consultations(engine) == 1 + 1


def test_the_stamp_only_moves_forward_whatever_order_replicas_start_in(engine):
    ReportingProjection(engine, generation=NEWER + 1)
    late = ReportingProjection(engine, generation=NEWER)  # an older one starting after: stamps nothing
    assert late.stamp() == NEWER + 1 and late.superseded() is not None
    with engine.begin() as conn:  # a database never stamped (a release before stamps): the row is inserted
        conn.execute(delete(late.stamps))
    generations = [NEWER, NEWER + 1, NEWER, NEWER + 1, NEWER + 2, NEWER]
    start, errors = threading.Barrier(len(generations)), list[BaseException]()

    def replica(generation: int) -> None:
        start.wait()
        try:
            ReportingProjection(engine, generation=generation)
        except BaseException as e:  # noqa: BLE001 - reported by the assertion below
            errors.append(e)

    threads = [threading.Thread(target=replica, args=(g,)) for g in generations]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert not errors and not any(t.is_alive() for t in threads)
    assert late.stamp() == NEWER + 2


def test_a_newer_replicas_take_over_waits_for_a_batch_of_an_older_one_under_way(feed, engine):
    """The take-over's first statement takes the stamp row, which every batch holds under a share
    lock from its first statement on (SQLite: the batch's BEGIN IMMEDIATE): the derivation reads the
    facts with the batch in them, and no batch of the older code commits after it."""
    old = feed.projection
    case = feed.case(feed.centre(TOKYO))
    feed.batch = 100  # what the older replica fetched next: held, applied below
    feed.consultation(case, "2016-06-01T10:00:00+09:00")
    read, started = old._generation, list[threading.Thread]()

    def generation(conn, *, lock: bool = False) -> int:
        found = read(conn, lock=lock)
        if lock and not started:  # inside the batch, after its stamp check: the newer replica starts
            started.append(threading.Thread(target=ReportingProjection, args=(engine,), kwargs={"generation": NEWER}))
            started[0].start()
            started[0].join(1.0)
            assert started[0].is_alive(), "the take-over did not wait for the batch under way"
        return found

    old._generation = generation
    feed.flush()
    started[0].join(60)
    assert not started[0].is_alive() and old.stamp() == NEWER
    assert _consultations(engine) == 1  # the batch committed before the stamp
    feed.consultation(case, "2016-07-01T10:00:00+09:00")
    with pytest.raises(ProjectionSuperseded):  # and the next one not at all
        feed.flush()
    assert _consultations(engine) == 1
