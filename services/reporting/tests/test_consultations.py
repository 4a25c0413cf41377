"""延べ相談件数 and 訪問支援: fiscal years of instants in Japan time, and the breakdowns."""

from __future__ import annotations

from datetime import UTC, datetime

from services.reporting.queries import consultation_report
from services.reporting.tests.conftest import MINISTRY, OSAKA, TOKYO

AFTER_ALL = datetime(2100, 1, 1, tzinfo=UTC)


def test_31_march_2359_jst_counts_in_that_fiscal_year_and_1_april_0000_jst_in_the_next(feed, engine):
    case = feed.case(feed.centre(TOKYO))
    feed.consultation(case, "2017-03-31T23:59:00+09:00")
    feed.consultation(case, "2017-04-01T00:00:00+09:00")
    feed.consultation(case, "2017-03-31T15:00:00+00:00")  # = 1 April 00:00 JST
    feed.outreach(case, "2017-03-31T23:59:59+09:00")
    feed.outreach(case, "2017-03-31T15:00:00Z")
    fy2016, fy2017 = (consultation_report(engine, MINISTRY, fy) for fy in (2016, 2017))
    assert (fy2016["total"], fy2017["total"]) == (1, 2)
    assert (fy2016["outreach_visits"], fy2017["outreach_visits"]) == (1, 1)


def test_consultations_are_broken_down_by_channel_client_kind_and_age_group(feed, engine):
    centre = feed.centre(TOKYO)
    family_child, person_adult = feed.case(centre, client_kind="family", age_group="child"), feed.case(centre)
    feed.consultation(family_child, "2016-05-01T10:00:00+09:00", channel="phone")
    feed.consultation(family_child, "2016-05-02T10:00:00+09:00", channel="phone")  # repeat ones count
    feed.consultation(person_adult, "2016-05-03T10:00:00+09:00", channel="email")
    feed.outreach(person_adult, "2016-05-04T10:00:00+09:00", staff_role="coordinator")
    report = consultation_report(engine, MINISTRY, 2016)
    assert report["total"] == 3
    assert report["by_channel"] == {"phone": 2, "visit": 0, "email": 1, "outreach": 0, "other": 0}
    assert report["by_client_kind"] == {"person": 1, "family": 2, "agency": 0}
    assert report["by_age_group"] == {"child": 2, "adult": 1}
    assert report["outreach_visits"] == 1  # 訪問支援 is counted apart from 延べ相談件数
    assert report["outreach_visits_by_staff_role"]["coordinator"] == 1
    assert report["centres"] == [{"centre_id": centre, "name": "ひきこもり地域支援センター", "kind": "adult",
                                  "site": "main", "tenant": TOKYO, "consultations": 3}]


def test_a_channel_no_pivot_column_names_is_reported_under_its_code_and_a_void_retracts_it(feed, engine):
    """The breakdowns come from one row per centre (the consultations' pivot, a column per known
    code); a channel it does not know (an event of a later version) is counted from the facts."""
    tokyo, osaka = feed.centre(TOKYO), feed.centre(OSAKA)
    case, other = feed.case(tokyo), feed.case(osaka, client_kind="family")
    faxed = feed.consultation(case, "2016-05-01T10:00:00+09:00", channel="fax")
    feed.consultation(case, "2016-05-02T10:00:00+09:00", channel="fax")
    feed.consultation(other, "2016-05-03T10:00:00+09:00", channel="phone")
    report = consultation_report(engine, MINISTRY, 2016)
    assert report["by_channel"] == {"phone": 1, "visit": 0, "email": 0, "outreach": 0, "other": 0, "fax": 2}
    assert report["by_client_kind"] == {"person": 2, "family": 1, "agency": 0}
    assert report == consultation_report(engine, MINISTRY, 2016, as_of=AFTER_ALL)
    feed.void(case, faxed, "2016-06-01")
    feed.void(case, feed.consultation(case, "2016-05-04T10:00:00+09:00", channel="fax"), "2016-06-01")
    report = consultation_report(engine, MINISTRY, 2016)
    assert report["total"] == 2 and report["by_channel"]["fax"] == 1
    assert report == consultation_report(engine, MINISTRY, 2016, as_of=AFTER_ALL)
