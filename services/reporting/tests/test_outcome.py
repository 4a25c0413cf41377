"""成果目標: 決定件数 > 前年度の1センターあたりの決定件数 × 設置数."""

from __future__ import annotations

from fractions import Fraction

from services.reporting.queries import outcome_report
from services.reporting.queries.outcome import target, verdict
from services.reporting.tests.conftest import MINISTRY, OSAKA, TOKYO


def _decisions(feed, case: str, n: int, day: str) -> None:
    for _ in range(n):
        feed.decision(case, day)


def _two_centres_then_three(feed) -> str:
    case = feed.case(feed.centre(TOKYO, opened_fy=2010))
    feed.centre(OSAKA, opened_fy=2014)
    feed.centre(OSAKA, site="satellite", opened_fy=2016)
    feed.centre(OSAKA, site="window", opened_fy=2016)  # a municipal window is not a centre
    return case


def test_the_target_is_last_years_decisions_per_centre_times_this_years_centres_and_16_beats_15(feed, engine):
    case = _two_centres_then_three(feed)
    _decisions(feed, case, 10, "2015-10-01")
    _decisions(feed, case, 16, "2016-10-01")
    report = outcome_report(engine, MINISTRY, 2016)
    assert report["previous"] == {"fy": 2015, "label": "平成27年度", "decided": 10, "centres": 2, "per_centre": 5.0}
    assert (report["decided"], report["centres"], report["target"]) == (16, 3, 15.0)
    assert (report["met"], report["verdict"]) == (True, "met")


def test_equalling_the_target_is_not_above_it(feed, engine):
    case = _two_centres_then_three(feed)
    _decisions(feed, case, 10, "2015-10-01")
    _decisions(feed, case, 15, "2016-10-01")
    report = outcome_report(engine, MINISTRY, 2016)
    assert (report["target"], report["met"], report["verdict"]) == (15.0, False, "not_met")


def test_the_target_is_exact_and_the_decision_year_is_that_of_decided_on(feed, engine):
    case = feed.case(feed.centre(TOKYO, opened_fy=2010))
    feed.centre(TOKYO, opened_fy=2010)
    feed.centre(TOKYO, opened_fy=2015)
    feed.centre(TOKYO, opened_fy=2016)
    _decisions(feed, case, 10, "2016-03-31")  # FY2015: 10 decisions by 3 centres
    _decisions(feed, case, 13, "2016-04-01")
    report = outcome_report(engine, MINISTRY, 2016)
    assert report["target_exact"] == "40/3" and report["target"] == 13.33
    assert report["verdict"] == "not_met"


def test_without_a_centre_the_year_before_there_is_no_target():
    assert target(5, 0, 2) is None and verdict(5, None) == "no_baseline"
    assert target(10, 2, 3) == Fraction(15) and verdict(16, Fraction(15)) == "met"
