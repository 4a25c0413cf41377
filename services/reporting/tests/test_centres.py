"""年度別設置自治体数 and site counts."""

from __future__ import annotations

from services.reporting.queries import centres_report
from services.reporting.tests.conftest import (
    CHIYODA,
    MINISTRY,
    OSAKA,
    OSAKA_CITY,
    TOKYO,
)


def test_local_governments_are_counted_in_the_year_their_first_centre_opened(feed, engine):
    feed.centre(OSAKA, opened_fy=2008)  # before the programme: counted in 平成21年度, as the seed does
    feed.centre(TOKYO, opened_fy=2014)
    feed.centre(TOKYO, site="satellite", opened_fy=2015)  # a second site adds no local government
    feed.centre(OSAKA_CITY, opened_fy=2009)
    feed.centre(CHIYODA, site="window", opened_fy=2010)  # a window is not a centre
    feed.centre(CHIYODA, opened_fy=2017)  # after the asked year
    report = centres_report(engine, MINISTRY, 2016)
    years = {y["label"]: (y["new"], y["cumulative"]) for y in report["years"]}
    assert years["平成21年度"] == (2, 2) and years["平成26年度"] == (1, 3) and years["平成28年度"] == (0, 3)
    assert [y["fy"] for y in report["years"]] == list(range(2009, 2017))
    assert report["local_governments"] == 3
    assert report["sites"] == {"main": 3, "satellite": 1, "window": 1}
    assert report["centres"] == 4 and report["multi_site_local_governments"] == 1


def test_a_later_profile_replaces_the_opening_year_and_without_one_the_registration_year_counts(feed, engine):
    centre = feed.centre(TOKYO, opened_fy=2015, time="2016-01-10T09:00:00+09:00")
    feed.profile(centre, 2012, time="2016-02-01T09:00:00+09:00")
    feed.centre(OSAKA, time="2014-06-01T09:00:00+09:00")  # no profile: registered in FY2014
    years = {y["fy"]: y["new"] for y in centres_report(engine, MINISTRY, 2016)["years"]}
    assert years[2012] == 1 and years[2014] == 1 and years[2015] == 0
