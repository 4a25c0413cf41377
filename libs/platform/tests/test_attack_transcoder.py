"""Attack (h-attack4): TopLevelTranscoder (store/transcoder.py) against eventsourcing's own
JSONTranscoder with the same transcodings registered, on every kind of value a service stores and
some no service stores yet: aware datetimes at odd offsets and with microseconds, dates, Decimals
of every shape, UUIDs, nested dicts and lists of them, tuples, enums (str, int and plain), str, int
and float subclasses, int keys, a transcoding whose encoding holds registered values, and types
registered for a subclass only. The same bytes (or the same error) and the same decoded value."""

from __future__ import annotations

import enum
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta, timezone
from decimal import Decimal
from typing import Any
from uuid import UUID, uuid4

import pytest
from eventsourcing.persistence import Transcoding

from libs.platform.tests.test_transcoder import _both


class Colour(enum.StrEnum):
    RED = "赤"


class Level(enum.IntEnum):
    HIGH = 3


class Plain(enum.Enum):
    ONE = 1


class Name(str):
    pass


class Count(int):
    pass


class Ratio(float):
    pass


@dataclass(frozen=True)
class Span:
    start: datetime
    who: UUID


class SpanAsDict(Transcoding):
    type = Span
    name = "span"

    def encode(self, obj: Span) -> dict[str, Any]:
        return {"start": obj.start, "who": obj.who}

    def decode(self, data: dict[str, Any]) -> Span:
        return Span(data["start"], data["who"])


class ColourAsName(Transcoding):
    """A transcoding of a str enum: JSON writes it as a str, never calling back (as the library)."""
    type = Colour
    name = "colour"

    def encode(self, obj: Colour) -> str:
        return "never " + obj.name

    def decode(self, data: str) -> Colour:
        return Colour[data]


class MyUUID(UUID):
    pass


def _values() -> list[Any]:
    at = [datetime(2016, 7, 1, 10, tzinfo=timezone(timedelta(hours=-5, minutes=-30))),
          datetime(2016, 7, 1, 23, 59, 59, 999999, tzinfo=timezone(timedelta(hours=14))),
          datetime(1, 1, 1, tzinfo=UTC), datetime(9999, 12, 31, 23, 59, 59, 999999, tzinfo=UTC),
          datetime(2016, 7, 1, 10, tzinfo=timezone(timedelta(hours=9)))]
    amounts = [Decimal("0"), Decimal("-0.00"), Decimal("1E+3"), Decimal("1.500"), Decimal("123456789012345678901234.5")]
    span = Span(at[1], uuid4())
    return [
        {"at": at, "on": [date(1, 1, 1), date(9999, 12, 31)], "amounts": amounts, "span": span},
        {"id": uuid4(), "when": at[0], "on": date(2016, 2, 29), "amount": amounts[3], "span": span,
         "colour": Colour.RED, "level": Level.HIGH, "name": Name("名前"), "count": Count(5), "ratio": Ratio(0.1),
         "pair": (uuid4(), at[2], (date.today(), amounts[2])), "ints": {1: uuid4(), 2: [at[3]]},
         "deep": {"a": [{"b": [{"c": (uuid4(), {"d": amounts[4]})}]}]}, "none": None, "big": 2**70,
         "text": "\u2028\x00😀👨‍👩‍👧", "": "empty key", "_type_": "not a transcoding", "_data_": 1},
        {"_type_": "uuid_hex", "_data_": "not one either"},
        {"only": span}, {"u": uuid4()}, {"s": {"_type_": "x"}},
    ]


def test_every_kind_of_value_is_written_and_read_as_the_library_does() -> None:
    library, ours = _both()
    for transcoder in (library, ours):
        transcoder.register(SpanAsDict())
        transcoder.register(ColourAsName())
    for state in _values():
        written = library.encode(state)
        assert ours.encode(state) == written
        try:
            expected = library.decode(written)
        except Exception as e:  # noqa: BLE001  # the same refusal, then
            with pytest.raises(type(e)):
                ours.decode(written)
        else:
            assert ours.decode(written) == expected


@pytest.mark.parametrize("value", [Plain.ONE, MyUUID(int=1), object(), b"bytes", {1, 2}])
def test_a_value_of_no_registered_type_is_refused_as_by_the_library(value: Any) -> None:
    library, ours = _both()
    with pytest.raises(TypeError) as theirs:
        library.encode({"x": value})
    with pytest.raises(type(theirs.value)):
        ours.encode({"x": value})
