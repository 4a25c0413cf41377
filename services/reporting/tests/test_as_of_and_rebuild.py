"""Reports "as of" a past instant, and rebuilding the read models from the start of the streams."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest
from sqlalchemy import func, select, text

from libs.domain.errors import InvalidInput
from services.reporting.projections import (
    OutdatedReadModels,
    ReportingProjection,
    outdated_tables,
    read_model_tables,
    referrals,
)
from services.reporting.queries import (
    centres_report,
    consultation_report,
    dispatch_report,
    outcome_report,
    referral_report,
    supporters_report,
)
from services.reporting.rebuild import rebuild
from services.reporting.tests.conftest import CHIYODA, MINISTRY, TOKYO

JST = timezone(timedelta(hours=9))
CLOSING = datetime(2017, 4, 30, 23, 59, 59, tzinfo=JST)  # the report as sent to the ministry


def test_as_of_counts_only_facts_recorded_at_or_before_it(feed, engine):
    case = feed.case(feed.centre(TOKYO, opened_fy=2012))
    feed.referral(case, "hello_work", "2016-06-01")
    feed.referral(case, "hello_work", "2017-03-20", time="2017-05-15T10:00:00+09:00")  # entered late
    feed.consultation(case, "2017-03-30T10:00:00+09:00", time="2017-05-01T00:00:00+09:00")
    feed.decision(case, "2017-03-01", time="2017-04-30T14:59:59+00:00")  # 30 April 23:59:59 JST: included
    dispatch_id = feed.dispatch_started(CHIYODA, "2016-06-01")
    feed.activity(CHIYODA, dispatch_id, "2016-06-02", time="2017-06-01T09:00:00+09:00")
    feed.registered(TOKYO, "2017-05-01", "2020-03-31")  # recorded after the closing; fy 2017 anyway
    assert referral_report(engine, MINISTRY, 2016)["summary"]["total"] == 2
    assert referral_report(engine, MINISTRY, 2016, as_of=CLOSING)["summary"]["total"] == 1
    assert consultation_report(engine, MINISTRY, 2016, as_of=CLOSING)["total"] == 0
    assert consultation_report(engine, MINISTRY, 2016)["total"] == 1
    assert outcome_report(engine, MINISTRY, 2016, as_of=CLOSING)["decided"] == 1  # 23:59:59 JST: included
    assert dispatch_report(engine, MINISTRY, 2016, as_of=CLOSING)["total"]["activity_total"] == 0
    assert dispatch_report(engine, MINISTRY, 2016, as_of=CLOSING)["total"]["started"] == 1


def test_as_of_before_a_centre_was_registered_hides_the_centre_and_its_facts(feed, engine):
    case = feed.case(feed.centre(TOKYO, time="2016-06-01T09:00:00+09:00"))
    feed.consultation(case, "2016-06-02T10:00:00+09:00")
    before = datetime(2016, 5, 31, tzinfo=JST)
    assert consultation_report(engine, MINISTRY, 2016, as_of=before)["centres"] == []
    assert centres_report(engine, MINISTRY, 2016, as_of=before)["centres"] == 0
    assert centres_report(engine, MINISTRY, 2016)["centres"] == 1


def test_an_as_of_without_a_timezone_is_refused(engine, projection):
    with pytest.raises(InvalidInput):
        supporters_report(engine, MINISTRY, 2016, as_of=datetime(2017, 4, 30))


def test_rebuild_empties_the_read_models_and_resets_the_positions_so_a_replay_gives_the_same_report(
        feed, projection, engine):
    case = feed.case(feed.centre(TOKYO, opened_fy=2012))
    feed.referral(case, "private_support_group", "2016-06-01")
    feed.decision(case, "2016-07-01")
    feed.dispatch_started(CHIYODA, "2016-06-01")
    reports = (referral_report, outcome_report, dispatch_report)
    before = [report(engine, MINISTRY, 2016) for report in reports]
    rebuild(engine)
    assert {"rp_referrals", "rp_centres", "rp_activities"} <= {t.name for t in read_model_tables()}
    assert projection.position("INTAKE") == projection.position("DISPATCH") == 0
    with engine.connect() as conn:
        assert conn.execute(select(func.count()).select_from(referrals)).scalar_one() == 0
        assert conn.execute(select(func.count()).select_from(projection.seen)).scalar_one() == 0
    assert referral_report(engine, MINISTRY, 2016)["summary"]["total"] == 0
    feed.replay()
    assert [report(engine, MINISTRY, 2016) for report in reports] == before


def test_tables_of_an_older_shape_stop_the_start_until_they_are_rebuilt(engine, projection):
    with engine.begin() as conn:
        conn.execute(text("ALTER TABLE rp_consultations DROP COLUMN time"))
    with pytest.raises(OutdatedReadModels, match="rp_consultations"):
        ReportingProjection(engine)
    rebuild(engine)
    assert outdated_tables(engine) == []
    ReportingProjection(engine)
