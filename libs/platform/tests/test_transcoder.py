"""TopLevelTranscoder (store/transcoder.py) writes what eventsourcing's JSONTranscoder writes, byte
for byte, and reads back the same; every service's application uses it."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta, timezone
from decimal import Decimal
from enum import Enum
from typing import Any
from uuid import uuid4

import orjson
import pytest
from eventsourcing.persistence import JSONTranscoder, Transcoding

from libs.platform.store.application import DateAsISO
from libs.platform.store.transcoder import TopLevelTranscoder
from services.intake.application import IntakeApplication


class TupleAsList(Transcoding):
    """A transcoding of a type JSON writes itself: the library's encoder never calls it."""

    type = tuple
    name = "tuple_as_list"

    def encode(self, obj: tuple) -> list:
        return ["never", *obj]

    def decode(self, data: list) -> tuple:
        return tuple(data)


def _both() -> tuple[JSONTranscoder, JSONTranscoder]:
    app = IntakeApplication({"PERSISTENCE_MODULE": "eventsourcing.popo"}, None)  # type: ignore[arg-type]
    library, ours = JSONTranscoder(), app.mapper.transcoder
    assert type(ours) is TopLevelTranscoder
    app.register_transcodings(library)
    return library, ours


def test_a_state_of_every_kind_of_value_is_written_and_read_as_the_library_does() -> None:
    library, ours = _both()
    states: list[Any] = [
        {"id": uuid4(), "at": datetime(2016, 7, 1, 10, tzinfo=UTC), "on": date(2016, 7, 1), "amount": Decimal("1.50"),
         "ids": [uuid4(), uuid4()], "nested": {"at": datetime.now(UTC), "on": date.today(), "n": [1, {"u": uuid4()}]},
         "none": None, "yes": True, "n": 3, "x": 1.5, "text": "相談", "pair": (1, uuid4()), "sealed": {"c": "..."}},
        {}, [uuid4(), date(2000, 1, 1)], "text", 7, None,
    ]
    for state in states:
        assert ours.encode(state) == library.encode(state)
        assert ours.decode(ours.encode(state)) == library.decode(library.encode(state))


def test_a_registered_type_that_json_writes_itself_is_left_to_json_as_by_the_library() -> None:
    library, ours = _both()
    for transcoder in (library, ours):
        transcoder.register(TupleAsList())
        transcoder.register(DateAsISO())  # registered again: still transcoded
    state = {"pair": (1, 2), "on": date(2016, 7, 1), "id": uuid4()}
    assert ours.encode(state) == library.encode(state)
    assert b"never" not in ours.encode(state)


class Colour(Enum):
    RED = "red"


def test_a_plain_state_is_written_by_orjson_byte_for_byte_as_the_library_writes_it(monkeypatch: Any) -> None:
    library, ours = _both()
    written: list[Any] = []
    dumps = orjson.dumps

    def counted(obj: Any) -> bytes:
        written.append(obj)
        return dumps(obj)

    monkeypatch.setattr(orjson, "dumps", counted)
    every_char = "".join(chr(c) for c in range(0x110000) if not 0xD800 <= c < 0xE000)
    plain: list[Any] = [
        {"text": every_char, "id": uuid4(), "at": datetime.now(UTC), "none": None, "yes": True, "no": False,
         "ints": [0, -1, 2**63 - 1, -(2**63), 2**64 - 1], "sealed": {"alg": "A256GCM", "ct": "a/b+c="},
         "nested": [[{"k\x00\n\"\\": ["\u2028\u2029\x7f\ufeff"]}]], "empty": {}, "none_list": []},
        {},
    ]
    for state in plain:
        assert ours.encode(state) == library.encode(state)
    assert len([w for w in written if type(w) is dict]) == len(plain)  # each state (and its instants)


def test_a_state_orjson_would_write_otherwise_is_left_to_the_json_module(monkeypatch: Any) -> None:
    library, ours = _both()
    for refused in ({"colour": Colour.RED}, {"lone": "\ud800"}):  # orjson refuses the second: json's error
        with pytest.raises((TypeError, UnicodeEncodeError)) as by_library:
            library.encode(refused)
        with pytest.raises(by_library.type):
            ours.encode(refused)
    monkeypatch.setattr(orjson, "dumps", lambda obj: pytest.fail(f"orjson wrote {obj!r}"))
    others: list[Any] = [{"x": 1e16}, {"x": float("nan")}, {"n": 2**64}, {"n": -(2**63) - 1}, {"ids": [uuid4()]},
                         {"nested": {"at": datetime.now(UTC)}}, {"pair": (1, 2)}, {1: "int key"},
                         {"deep": [[[[[[[[[[[[[[[[[["x"]]]]]]]]]]]]]]]]]]}]
    for state in others:
        assert ours.encode(state) == library.encode(state)
    circular: dict[str, Any] = {}
    circular["self"] = circular
    with pytest.raises(ValueError, match="Circular"):
        ours.encode(circular)


def test_instants_are_written_as_the_library_writes_them_in_every_zone() -> None:
    """An instant in UTC or without a zone is written by orjson (store/transcoder.py), any other by
    isoformat: the same text either way, every field at its edges, a fold, an offset in seconds."""
    from zoneinfo import ZoneInfo

    library, ours = _both()
    zones = [UTC, None, timezone(timedelta(0)), timezone(timedelta(hours=9)),
             timezone(timedelta(hours=1, seconds=1)), timezone(timedelta(minutes=-330)), ZoneInfo("Asia/Tokyo")]
    instants = [datetime(1, 1, 1), datetime(9999, 12, 31, 23, 59, 59, 999999), datetime(2015, 5, 1, 10),
                datetime(2026, 11, 30, 18, 11, 47, 430298), datetime(999, 3, 4, 5, 6, 7, 1),
                datetime(2024, 2, 29, 0, 0, 0, 100000), datetime(2021, 11, 7, 1, 30, fold=1)]
    for zone in zones:
        for instant in instants:
            state = {"at": instant.replace(tzinfo=zone), "nested": [instant.replace(tzinfo=zone)]}
            assert ours.encode(state) == library.encode(state), (zone, instant)
