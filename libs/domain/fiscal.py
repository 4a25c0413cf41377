"""Fiscal years (年度): 1 April to 31 March in Japan time, labelled in 和暦 (平成28年度 = FY2016)."""

from __future__ import annotations

from datetime import date, datetime, timedelta, timezone

JST = timezone(timedelta(hours=9), "JST")

# First western year of each era, newest first. An FY is labelled by the era of its first year's
# name as published by the ministry: FY2019 (from 1 April 2019, still 平成31年) is 令和元年度.
_ERAS = (("令和", 2019), ("平成", 1989), ("昭和", 1926))


def fiscal_year(moment: datetime | date) -> int:
    """The fiscal year of an instant (its Japan-time date) or a calendar date."""
    if isinstance(moment, datetime):
        if moment.tzinfo is None:
            raise ValueError("fiscal_year needs an aware datetime (timezone known)")
        moment = moment.astimezone(JST).date()
    return moment.year if moment.month >= 4 else moment.year - 1


def fiscal_year_bounds(fy: int) -> tuple[datetime, datetime]:
    """[start, end) of a fiscal year as aware datetimes in Japan time."""
    return datetime(fy, 4, 1, tzinfo=JST), datetime(fy + 1, 4, 1, tzinfo=JST)


def wareki_label(fy: int) -> str:
    """和暦 label of a fiscal year: 2016 → 平成28年度, 2019 → 令和元年度."""
    for era, first in _ERAS:
        if fy >= first:
            n = fy - first + 1
            return f"{era}{'元' if n == 1 else n}年度"
    raise ValueError(f"no era label for fiscal year {fy}")


def add_years(day: date, years: int) -> date:
    """The same day `years` later; 29 February becomes 28 February (民法第143条: a period counted
    in years ends on the day before the corresponding day, or at the end of that month)."""
    try:
        return day.replace(year=day.year + years)
    except ValueError:  # 29 February
        return day.replace(year=day.year + years, day=28)
