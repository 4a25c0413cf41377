from datetime import date, datetime

import pytest

from libs.domain.wareki import era_of, wareki, wareki_and_western


def test_a_date_reads_in_the_era_and_in_western_form():
    assert wareki_and_western(date(2026, 11, 29)) == "令和8年11月29日 (2026-11-29)"


def test_the_era_changes_on_the_day_of_accession_not_on_new_year():
    assert wareki(date(2019, 4, 30)) == "平成31年4月30日"
    assert wareki(date(2019, 5, 1)) == "令和元年5月1日"
    assert era_of(date(2019, 12, 31)) == ("令和", 1)
    assert era_of(date(2020, 1, 1)) == ("令和", 2)


@pytest.mark.parametrize(("day", "text"), [
    (date(1989, 1, 7), "昭和64年1月7日"),
    (date(1989, 1, 8), "平成元年1月8日"),
    (date(1926, 12, 24), "大正15年12月24日"),
    (date(1926, 12, 25), "昭和元年12月25日"),
    (date(1912, 7, 29), "明治45年7月29日"),
    (date(1912, 7, 30), "大正元年7月30日"),
    (date(2016, 4, 1), "平成28年4月1日"),
])
def test_every_modern_era_boundary(day, text):
    assert wareki(day) == text


def test_dates_before_the_gregorian_calendar_in_japan_and_instants_are_refused():
    with pytest.raises(ValueError):
        wareki(date(1872, 12, 31))
    with pytest.raises(TypeError):
        wareki(datetime(2026, 11, 29, 10, 0))
