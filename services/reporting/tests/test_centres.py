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


# seeds/001 ひきこもり地域支援センター設置状況: 開所年度 (平成) of the 67 local governments, ※ = more than one
# site (サテライト等); 75 sites in all at 平成30年4月.
SEED_OPENINGS = (
    ("北海道", "21"), ("青森県", "※28"), ("岩手県", "21"), ("宮城県", "※25"), ("秋田県", "25"), ("山形県", "21"),
    ("福島県", "※26"), ("茨城県", "23"), ("栃木県", "26"), ("群馬県", "26"), ("埼玉県", "27"), ("千葉県", "23"),
    ("東京都", "26"), ("神奈川県", "22"), ("新潟県", "25"), ("富山県", "24"), ("石川県", "25"), ("福井県", "26"),
    ("山梨県", "27"), ("長野県", "22"), ("岐阜県", "28"), ("静岡県", "25"), ("愛知県", "22"), ("三重県", "25"),
    ("滋賀県", "22"), ("京都府", "20"), ("大阪府", "21"), ("兵庫県", "26"), ("奈良県", "27"), ("和歌山県", "21"),
    ("鳥取県", "21"), ("島根県", "27"), ("岡山県", "29"), ("広島県", "24"), ("山口県", "21"), ("徳島県", "22"),
    ("香川県", "23"), ("愛媛県", "23"), ("高知県", "21"), ("福岡県", "22"), ("佐賀県", "※29"), ("長崎県", "25"),
    ("熊本県", "27"), ("大分県", "19"), ("宮崎県", "26"), ("鹿児島県", "22"), ("沖縄県", "28"), ("札幌市", "27"),
    ("仙台市", "24"), ("さいたま市", "24"), ("千葉市", "27"), ("横浜市", "21"), ("川崎市", "23"), ("相模原市", "30"),
    ("新潟市", "23"), ("静岡市", "27"), ("浜松市", "21"), ("名古屋市", "24"), ("京都市", "※25"), ("大阪市", "21"),
    ("堺市", "※23"), ("神戸市", "21"), ("岡山市", "22"), ("広島市", "※21"), ("北九州市", "21"), ("福岡市", "※21"),
    ("熊本市", "26"),
)


def _code(n: int) -> str:
    from libs.domain.codes import check_digit

    head = f"{n:02d}000" if n <= 47 else f"{n - 47:02d}100"  # 47 prefectures, then 20 designated cities
    return head + str(check_digit(head))


def _seed_sites(feed) -> dict[str, str]:
    """The seed's 67 local governments as centres with opening dates (6月1日 of their 開所年度), a
    satellite the year after for each ※; returns the first centre id by name."""
    first = {}
    for n, (name, year) in enumerate(SEED_OPENINGS, start=1):
        fy = 1988 + int(year.lstrip("※"))
        first[name] = feed.centre(_code(n), name=name, opened_on=f"{fy}-06-01")
        if year.startswith("※"):
            feed.centre(_code(n), site="satellite", opened_on=f"{min(fy + 1, 2018)}-04-01")
    return first


def test_the_seeds_openings_give_its_67_local_governments_and_75_sites_from_the_centres_dates(feed, engine):
    _seed_sites(feed)
    report = centres_report(engine, MINISTRY, 2018)
    # From the list, as the module docstring explains (the published table says 18/8/6/5/7/8/9/3/2/1).
    assert [y["new"] for y in report["years"]] == [17, 8, 7, 5, 8, 8, 8, 3, 2, 1]
    assert [y["cumulative"] for y in report["years"]][-1] == report["local_governments"] == 67
    assert report["centres"] == 75 and report["sites"]["satellite"] == 8  # 75か所 (67自治体) at 平成30年4月
    assert report["multi_site_local_governments"] == 8
    # Registered in 2009 (the feed's default time), yet counted from their opening dates.
    # 平成24年度: the 37 local governments' first sites and the satellites of 広島市, 福岡市 and 堺市.
    assert centres_report(engine, MINISTRY, 2012)["centres"] == 37 + 3


def test_a_closed_centre_counts_only_in_the_years_it_was_open_and_a_change_of_dates_wins(feed, engine):
    tokyo = feed.centre(TOKYO, opened_on="2014-06-01", time="2014-06-01T09:00:00+09:00")
    osaka = feed.centre(OSAKA, opened_on="2012-04-01", time="2012-04-01T09:00:00+09:00")
    feed.centre(CHIYODA, time="2015-05-01T09:00:00+09:00")  # no date: counted from its registration year
    feed.dates(tokyo, "2014-06-01", "2017-03-31", time="2017-04-01T09:00:00+09:00")  # 廃止: the last day of FY2016
    feed.dates(osaka, "2013-10-01", None, time="2017-05-01T09:00:00+09:00")  # opening corrected
    counts = {fy: centres_report(engine, MINISTRY, fy)["centres"] for fy in range(2012, 2019)}
    assert counts == {2012: 0, 2013: 1, 2014: 2, 2015: 3, 2016: 3, 2017: 2, 2018: 2}
    # As of before the correction and the closure, the old dates still answer.
    from datetime import datetime

    before = datetime.fromisoformat("2017-03-01T00:00:00+09:00")
    assert centres_report(engine, MINISTRY, 2012, as_of=before)["centres"] == 1
    assert centres_report(engine, MINISTRY, 2017, as_of=before)["centres"] == 3
