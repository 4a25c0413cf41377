"""Bounds of what a request may say, shared by the schemas and parameters of every service
(issue 14: dates from year 0081 to 9847 were stored; `after=9223372036854775808` gave a 500).

- Every date and time of a request lies in the window EARLIEST..LATEST (1900-01-01 to
  2100-12-31: a birth date of someone alive to a term ending far ahead); a birth date is not in
  the future. The window is in the OpenAPI documents as `formatMinimum`/`formatMaximum`.
- Pairs of dates in one request come in order (`ends_on` not before `starts_on`): a schema names
  them in ORDER; hours of a day open before they close.
- Every integer parameter has a maximum; positions in a log go up to MAX_POSITION.
A date that a request gives relative to what is stored (a dispatch's end before its request) is
the domain's to check (libs/domain/errors.DateOutOfOrder).
"""

from __future__ import annotations

import re
from datetime import UTC, date, datetime, timedelta
from typing import Annotated, ClassVar

from fastapi import Query
from pydantic import (
    AfterValidator,
    AwareDatetime,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    Strict,
    model_validator,
)

EARLIEST = date(1900, 1, 1)
LATEST = date(2100, 12, 31)
# The largest integer every JSON client reads exactly (2^53 - 1), far beyond any log's length and
# below SQL's BIGINT, whose overflow was the 500.
MAX_POSITION = 2**53 - 1
WINDOW = {"formatMinimum": EARLIEST.isoformat(), "formatMaximum": LATEST.isoformat()}
INSTANT_WINDOW = {"formatMinimum": f"{EARLIEST.isoformat()}T00:00:00Z",
                  "formatMaximum": f"{LATEST.isoformat()}T23:59:59Z"}


_NUMBER = re.compile(r"[+-]?[0-9]+(\.[0-9]*)?([eE][+-]?[0-9]+)?")


def _written(value: object) -> object:
    # pydantic's lax mode reads a number (or a string of digits, as every query value is) as seconds
    # since 1970: `"starts_on": 0` made a course of 1970-01-01. A date or time comes as ISO 8601
    # text, as the schema says (format: date, date-time).
    if isinstance(value, int | float) or (isinstance(value, str) and _NUMBER.fullmatch(value.strip())):
        raise ValueError("a date or time is ISO 8601 text (2026-04-01, 2026-04-01T10:00:00+09:00), not a number")
    return value


def _in_window(value: date) -> date:
    if not EARLIEST <= value <= LATEST:
        raise ValueError(f"a date between {EARLIEST} and {LATEST} is expected")
    return value


def _utc_day(value: datetime) -> date:
    """The instant's day in UTC. An offset can carry an instant of year 1 or 9999 past what datetime
    holds (0001-01-01T00:00:00+14:00 is in year 0 in UTC): OverflowError, a 500 (h-attack9); such an
    instant is outside any window."""
    try:
        return value.astimezone(UTC).date()
    except OverflowError:
        raise ValueError(f"a time between {EARLIEST} and {LATEST} is expected") from None


def _instant_in_window(value: datetime) -> datetime:
    _in_window(_utc_day(value))
    return value


def _when_in_window(value: datetime) -> datetime:
    _in_window(_utc_day(value) if value.tzinfo else value.date())
    return value


def _born(value: date) -> date:
    # One day of slack: it is already tomorrow east of the server.
    if value > date.today() + timedelta(days=1):
        raise ValueError("a birth date is not in the future")
    return value


Day = Annotated[date, BeforeValidator(_written), AfterValidator(_in_window), Field(json_schema_extra=WINDOW)]
Instant = Annotated[AwareDatetime, BeforeValidator(_written), AfterValidator(_instant_in_window),
                    Field(json_schema_extra=INSTANT_WINDOW)]
BirthDate = Annotated[Day, AfterValidator(_born)]
# A yes/no of a body (a consent item above all): JSON true or false only, never 0, 1, "yes" or "off",
# which pydantic's lax mode reads as booleans. (Query values are text: they stay lax.)
Flag = Annotated[bool, Strict()]
# A query's instant, with or without its offset (the route decides what a naive one means).
When = Annotated[datetime, BeforeValidator(_written), AfterValidator(_when_in_window),
                 Field(json_schema_extra=INSTANT_WINDOW)]
# Free-text query and path values (ids, codes, cursors): bounded like every string of a request.
MAX_PARAMETER_CHARS = 200
# The opaque cursor of a paged list (`?cursor=` from the previous page's next_cursor).
Cursor = Annotated[str | None, Query(max_length=MAX_PARAMETER_CHARS)]


def _opens_before_closing(hours: tuple[str, str]) -> tuple[str, str]:
    if hours[0] >= hours[1]:
        raise ValueError("the hours close after they open (HH:MM, HH:MM)")
    return hours


HHMM = Annotated[str, Field(pattern=r"^([01][0-9]|2[0-3]):[0-5][0-9]$", max_length=5)]
Hours = Annotated[tuple[HHMM, HHMM], AfterValidator(_opens_before_closing)]


class Ordered(BaseModel):
    """A request schema whose dates come in order: ORDER lists (earlier, later) field names; a
    later one that is set is not before its earlier one (HH:MM times compare as text)."""

    ORDER: ClassVar[tuple[tuple[str, str], ...]] = ()

    @model_validator(mode="after")
    def _in_order(self) -> Ordered:
        for earlier, later in self.ORDER:
            first, second = getattr(self, earlier), getattr(self, later)
            if first is not None and second is not None and second < first:
                raise ValueError(f"{later} is before {earlier}")
        return self


class RequestBody(Ordered):
    """The base of every request body: unknown fields refused (a misspelt field is a 422, not
    silently dropped), text trimmed. Its dates are Day/Instant/BirthDate and its yes/no fields Flag
    (tests/contract/test_request_types.py holds every body to that)."""

    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    @model_validator(mode="after")
    def _no_nul(self) -> RequestBody:
        for name in type(self).model_fields:
            refuse_nul(getattr(self, name))
        return self


def refuse_nul(value: object) -> None:
    """No text of a request carries U+0000 (NUL): PostgreSQL's text refuses it, so a centre named
    with one was stored as an event (201) and then stopped intake's read models there, and every
    query naming one was a 500 (SQLite took them). One rule for every string, on both backends.
    Walked once, after validation: a part that is a RequestBody itself was checked by its own
    validator (an import's 500 items are not walked twice), a plain model's fields are walked here."""
    if isinstance(value, str):
        if "\x00" in value:
            raise ValueError("text may not contain U+0000 (NUL)")
    elif isinstance(value, RequestBody):
        return
    elif isinstance(value, BaseModel):
        for name in type(value).model_fields:
            refuse_nul(getattr(value, name))
    elif isinstance(value, dict):
        for key, item in value.items():
            refuse_nul(key)
            refuse_nul(item)
    elif isinstance(value, list | tuple | set | frozenset):
        for item in value:
            refuse_nul(item)
