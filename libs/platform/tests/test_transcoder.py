"""TopLevelTranscoder (store/transcoder.py) writes what eventsourcing's JSONTranscoder writes, byte
for byte, and reads back the same; every service's application uses it."""

from __future__ import annotations

from datetime import UTC, date, datetime
from decimal import Decimal
from typing import Any
from uuid import uuid4

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
