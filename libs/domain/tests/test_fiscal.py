"""Fiscal years (年度): 1 April to 31 March in Japan time, labelled in 和暦."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta, timezone

import pytest

from libs.domain.fiscal import JST, fiscal_year, fiscal_year_bounds, wareki_label


def jst(year: int, month: int, day: int, hour: int = 0, minute: int = 0, second: int = 0) -> datetime:
    return datetime(year, month, day, hour, minute, second, tzinfo=JST)


def utc(year: int, month: int, day: int, hour: int = 0, minute: int = 0, second: int = 0) -> datetime:
    return datetime(year, month, day, hour, minute, second, tzinfo=UTC)


# -- fiscal_year: edges in Japan time ---------------------------------------------------------

def test_japan_time_is_nine_hours_ahead_of_utc() -> None:
    assert JST.utcoffset(None) == timedelta(hours=9)


def test_the_last_second_of_31_march_jst_belongs_to_the_old_fiscal_year() -> None:
    assert fiscal_year(datetime.fromisoformat("2017-03-31T23:59:59+09:00")) == 2016


def test_a_consultation_at_midnight_of_1_april_jst_belongs_to_the_new_fiscal_year() -> None:
    assert fiscal_year(datetime.fromisoformat("2017-04-01T00:00:00+09:00")) == 2017


def test_the_utc_instant_that_is_midnight_of_1_april_in_japan_belongs_to_the_new_fiscal_year() -> None:
    # 2017-03-31T15:00:00Z is still 31 March in UTC but already 1 April 00:00 in Japan.
    moment = datetime.fromisoformat("2017-03-31T15:00:00+00:00")
    assert moment.date() == date(2017, 3, 31)
    assert fiscal_year(moment) == 2017


def test_the_utc_instant_one_second_before_midnight_jst_belongs_to_the_old_fiscal_year() -> None:
    assert fiscal_year(datetime.fromisoformat("2017-03-31T14:59:59+00:00")) == 2016


def test_an_instant_in_a_western_timezone_is_judged_by_its_japan_time_date() -> None:
    # 31 March 10:00 in New York (UTC-4 in DST) is 31 March 23:00 in Japan: old year.
    new_york = timezone(timedelta(hours=-4))
    assert fiscal_year(datetime(2017, 3, 31, 10, 0, tzinfo=new_york)) == 2016
    # 31 March 11:00 in New York is 1 April 00:00 in Japan: new year.
    assert fiscal_year(datetime(2017, 3, 31, 11, 0, tzinfo=new_york)) == 2017


def test_in_utc_the_fiscal_year_changes_at_15_00_on_31_march() -> None:
    # 1 April 00:00 UTC is 1 April 09:00 JST: already the new year.
    assert fiscal_year(utc(2017, 4, 1, 0, 0)) == 2017
    # One year later the change happens at 2018-03-31T15:00Z, not at midnight UTC.
    assert fiscal_year(utc(2018, 3, 31, 14, 59, 59)) == 2017
    assert fiscal_year(utc(2018, 3, 31, 15, 0, 0)) == 2018


@pytest.mark.parametrize(
    ("month", "expected"),
    [(1, 2016), (2, 2016), (3, 2016), (4, 2017), (5, 2017), (6, 2017),
     (7, 2017), (8, 2017), (9, 2017), (10, 2017), (11, 2017), (12, 2017)],
)
def test_january_to_march_belong_to_the_fiscal_year_that_began_the_previous_april(
    month: int, expected: int
) -> None:
    assert fiscal_year(jst(2017, month, 15, 12, 0)) == expected


def test_a_naive_datetime_is_rejected_because_its_japan_date_is_unknown() -> None:
    with pytest.raises(ValueError, match="aware"):
        fiscal_year(datetime(2017, 4, 1, 0, 0))


def test_a_plain_calendar_date_is_taken_as_a_japanese_date() -> None:
    assert fiscal_year(date(2017, 3, 31)) == 2016
    assert fiscal_year(date(2017, 4, 1)) == 2017
    assert fiscal_year(date(2017, 12, 31)) == 2017
    assert fiscal_year(date(2018, 1, 1)) == 2017


# -- fiscal_year_bounds ---------------------------------------------------------------------

def test_a_fiscal_year_runs_from_1_april_jst_to_the_next_1_april_jst() -> None:
    start, end = fiscal_year_bounds(2017)
    assert start == datetime.fromisoformat("2017-04-01T00:00:00+09:00")
    assert end == datetime.fromisoformat("2018-04-01T00:00:00+09:00")
    assert start.utcoffset() == timedelta(hours=9)
    assert end.utcoffset() == timedelta(hours=9)


def test_the_bounds_are_the_same_instants_as_15_00_utc_on_31_march() -> None:
    start, end = fiscal_year_bounds(2017)
    assert start == utc(2017, 3, 31, 15, 0)
    assert end == utc(2018, 3, 31, 15, 0)


def test_the_start_is_inside_the_fiscal_year_and_the_end_is_not() -> None:
    start, end = fiscal_year_bounds(2017)
    assert fiscal_year(start) == 2017
    assert fiscal_year(end - timedelta(microseconds=1)) == 2017
    assert fiscal_year(end) == 2018
    assert fiscal_year(start - timedelta(microseconds=1)) == 2016


def test_consecutive_fiscal_years_meet_without_gap_or_overlap() -> None:
    for fy in range(2015, 2025):
        assert fiscal_year_bounds(fy)[1] == fiscal_year_bounds(fy + 1)[0]


def test_a_leap_fiscal_year_has_366_days() -> None:
    start, end = fiscal_year_bounds(2019)  # contains 29 February 2020
    assert end - start == timedelta(days=366)
    start, end = fiscal_year_bounds(2017)
    assert end - start == timedelta(days=365)


# -- wareki_label ---------------------------------------------------------------------------

@pytest.mark.parametrize(
    ("fy", "label"),
    [
        (2016, "平成28年度"),
        (2018, "平成30年度"),
        (2019, "令和元年度"),
        (2020, "令和2年度"),
        (1989, "平成元年度"),
        (1988, "昭和63年度"),
    ],
)
def test_a_fiscal_year_is_labelled_in_wareki(fy: int, label: str) -> None:
    assert wareki_label(fy) == label


def test_fy2019_is_reiwa_gannen_although_it_began_in_heisei_31() -> None:
    start, _ = fiscal_year_bounds(2019)
    assert start.date() < date(2019, 5, 1)  # 改元 on 1 May 2019
    assert wareki_label(2019) == "令和元年度"
    assert "31" not in wareki_label(2019)


def test_the_first_year_of_an_era_is_gannen_not_1() -> None:
    assert wareki_label(1989) == "平成元年度"
    assert "1年度" not in wareki_label(1989)
    assert wareki_label(2019) == "令和元年度"
    assert wareki_label(2021) == "令和3年度"


def test_the_year_before_an_era_begins_belongs_to_the_previous_era() -> None:
    assert wareki_label(2018).startswith("平成")
    assert wareki_label(1988).startswith("昭和")


def test_a_fiscal_year_before_showa_has_no_label() -> None:
    with pytest.raises(ValueError):
        wareki_label(1925)


def test_the_label_matches_the_fiscal_year_of_a_consultation() -> None:
    moment = datetime.fromisoformat("2019-03-31T15:00:00+00:00")  # 1 April 2019 00:00 JST
    assert wareki_label(fiscal_year(moment)) == "令和元年度"
    assert wareki_label(fiscal_year(moment - timedelta(seconds=1))) == "平成30年度"


def test_adding_years_keeps_the_day_and_turns_29_february_into_28_february() -> None:
    from libs.domain.fiscal import add_years

    assert add_years(date(2016, 3, 31), 3) == date(2019, 3, 31)
    assert add_years(date(2016, 2, 29), 1) == date(2017, 2, 28)
    assert add_years(date(2016, 2, 29), 4) == date(2020, 2, 29)
