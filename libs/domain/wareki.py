"""Dates in 和暦 (the Japanese era calendar) for documents a person reads: 令和8年11月29日.

An era begins on the day of its emperor's accession, not on 1 January: 平成31年4月30日 is
followed by 令和元年5月1日, and the first year of an era is written 元年. (Fiscal-year labels,
which name an FY by the era of its first year as the ministry publishes them, are fiscal.py.)
"""

from __future__ import annotations

from datetime import date, datetime

# First day of each era, newest first (明治 is counted from the Gregorian calendar's adoption
# in Japan, 明治6年1月1日; earlier dates used the lunisolar calendar and are not written here).
ERAS: tuple[tuple[str, date], ...] = (
    ("令和", date(2019, 5, 1)),
    ("平成", date(1989, 1, 8)),
    ("昭和", date(1926, 12, 25)),
    ("大正", date(1912, 7, 30)),
    ("明治", date(1868, 1, 25)),
)
_GREGORIAN_IN_JAPAN = date(1873, 1, 1)


def era_of(day: date) -> tuple[str, int]:
    """The era and the year within it: date(2019, 4, 30) → ("平成", 31), date(2019, 5, 1) → ("令和", 1)."""
    if isinstance(day, datetime):
        raise TypeError("era_of takes a calendar date: convert an instant to Japan time first")
    if day < _GREGORIAN_IN_JAPAN:
        raise ValueError(f"{day} predates the Gregorian calendar in Japan (明治6年)")
    for era, first in ERAS:
        if day >= first:
            return era, day.year - first.year + 1
    raise AssertionError("unreachable: 明治 covers every date from 1873")  # pragma: no cover


def wareki(day: date) -> str:
    """2026-11-29 → 令和8年11月29日; the first year of an era is 元年 (令和元年5月1日)."""
    era, year = era_of(day)
    return f"{era}{'元' if year == 1 else year}年{day.month}月{day.day}日"


def wareki_and_western(day: date) -> str:
    """Both forms, as a document addressed to a person gives them: 令和8年11月29日 (2026-11-29)."""
    return f"{wareki(day)} ({day.isoformat()})"
