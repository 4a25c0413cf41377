"""関係機関につないだ件数: fiscal years, the roll-up of the 21 categories into the 9 columns, 率."""

from __future__ import annotations

from datetime import UTC, date, datetime
from uuid import uuid4

import pytest
from sqlalchemy import insert

from libs.domain import agencies
from libs.platform.readmodels.projection import StalePosition
from services.reporting.projections import referrals
from services.reporting.projections.tallies import KEPT, derive_all
from services.reporting.queries import referral_report
from services.reporting.tests.conftest import MINISTRY, TOKYO
from services.reporting.tests.test_rates import SEED_DETAILED_2016, SEED_SUMMARY


def _summary(report: dict) -> dict[str, int]:
    return {c["code"]: c["count"] for c in report["summary"]["columns"]}


def test_a_referral_on_31_march_counts_in_that_fiscal_year_and_one_on_1_april_in_the_next(feed, engine):
    case = feed.case(feed.centre(TOKYO))
    feed.referral(case, "hello_work", "2017-03-31")
    feed.referral(case, "hello_work", "2017-04-01")
    fy2016, fy2017 = (referral_report(engine, MINISTRY, fy) for fy in (2016, 2017))
    assert fy2016["label"] == "平成28年度" and fy2017["label"] == "平成29年度"
    assert fy2016["summary"]["total"] == 1 and fy2017["summary"]["total"] == 1
    assert fy2016["detailed"]["total"] == 1


def test_the_detailed_categories_roll_up_into_the_summary_columns(feed, engine):
    case = feed.case(feed.centre(TOKYO))
    for category in ("private_support_group", "employment_other", "hello_work", "welfare_office",
                     "municipal_window", "welfare_office"):
        feed.referral(case, category, "2016-05-10")
    report = referral_report(engine, MINISTRY, 2016)
    detailed = {c["code"]: c["count"] for c in report["detailed"]["columns"]}
    assert [c["code"] for c in report["detailed"]["columns"]] == [c.code for c in agencies.CATEGORIES]
    assert detailed["welfare_office"] == 2 and detailed["employment_other"] == 1
    # 民間支援団体 → NPO法人等; the duplicated ハローワーク column and the 市区町村窓口 → その他.
    assert _summary(report) == {"mental_health_welfare_centre": 0, "public_health_centre": 0,
                                "medical_institution": 0, "npo": 1, "youth_support_station": 0,
                                "hello_work": 1, "child_guidance_centre": 0, "welfare_office": 2, "other": 2}
    assert report["summary"]["total"] == report["detailed"]["total"] == 6
    assert [c["rate"] for c in report["summary"]["columns"]] == [0.0, 0.0, 0.0, 16.7, 0.0, 16.7, 0.0, 33.3, 33.3]


def test_the_seeds_fy2016_counts_give_the_seeds_summary_and_detailed_tables(projection, engine):
    """7,520 referral rows of 平成28年度 in the seed's 21 categories (inserted in bulk)."""
    centre = "c-2016"
    with engine.begin() as conn:
        conn.execute(projection.metadata.tables["rp_centres"].insert().values(
            centre_id=centre, tenant=TOKYO, name="x", kind="adult", site="main",
            registered_at=datetime(2009, 4, 1, tzinfo=UTC), registered_fy=2009))
        rows = [{"event_id": str(uuid4()), "tenant": TOKYO, "fy": 2016, "time": datetime(2016, 6, 1, tzinfo=UTC),
                 "referral_id": "r", "case_id": "k", "centre_id": centre, "agency_id": "a",
                 "agency_category": cat.code, "referred_on": date(2016, 6, 1)}
                for cat, n in zip(agencies.CATEGORIES, SEED_DETAILED_2016[0], strict=True) for i in range(n)]
        conn.execute(insert(referrals), rows)
        derive_all(conn, KEPT[referrals])  # bulk-inserted facts: their tallies as the projection would keep them
    report = referral_report(engine, MINISTRY, 2016)
    counts, published = SEED_SUMMARY[2016]
    assert [c["count"] for c in report["summary"]["columns"]] == counts
    assert [c["rate"] for c in report["summary"]["columns"]] == published
    assert [c["count"] for c in report["detailed"]["columns"]] == SEED_DETAILED_2016[0]
    assert [c["rate"] for c in report["detailed"]["columns"]] == SEED_DETAILED_2016[1]
    assert report["summary"]["total"] == report["detailed"]["total"] == 7520
    assert report["summary"]["columns"][0] == {"code": "mental_health_welfare_centre",
                                               "label": "精神保健福祉センター", "count": 1323, "rate": 17.6}


def test_the_same_envelope_delivered_twice_at_a_new_position_counts_once(feed, engine):
    case = feed.case(feed.centre(TOKYO))
    envelope = feed.referral(case, "medical_institution", "2016-07-01")
    feed.redeliver(envelope)
    assert referral_report(engine, MINISTRY, 2016)["summary"]["total"] == 1
    with pytest.raises(StalePosition):  # at or below the recorded position: applied already
        feed.projection.apply(envelope, "INTAKE", 1)


def test_a_category_outside_the_list_is_shown_and_counted_in_sonota(feed, engine):
    case = feed.case(feed.centre(TOKYO))
    feed.referral(case, "future_category", "2016-07-01")
    report = referral_report(engine, MINISTRY, 2016)
    assert report["unknown_categories"] == {"future_category": 1}
    assert _summary(report)["other"] == 1 and report["detailed"]["columns"][-1]["count"] == 1
    assert report["category_version"] == agencies.VERSION


def test_a_year_without_referrals_has_zero_counts_and_no_rates(engine, projection):
    report = referral_report(engine, MINISTRY, 2016)
    assert report["summary"]["total"] == 0
    assert {c["rate"] for c in report["summary"]["columns"]} == {None}
