"""Every event is bounded before it is stored (issue 13): a save with one event larger on the bus
than the limit stores nothing, whichever way it is saved. In memory (eventsourcing's POPO store)."""

from __future__ import annotations

from datetime import date
from typing import cast
from uuid import uuid4

import pytest

from libs.domain.errors import EventTooLarge
from libs.platform.limits import (
    DEFAULT_MAX_EVENT_BYTES,
    PUBLISH_HEADROOM,
    max_event_bytes,
)
from libs.platform.messaging.cloudevents import GENESIS, published_size
from libs.platform.privacy.sealing import Sealer
from libs.platform.store.application import ServiceApplication
from libs.platform.store.log import LogReader
from services.intake.domain.place import Place

TOWN = "131016"
LIMIT = 8 * 1024


class Intake(ServiceApplication):
    name = "intake"


def _app(limit: int = LIMIT) -> Intake:
    # These events seal nothing: no sealer is needed.
    return Intake({"PERSISTENCE_MODULE": "eventsourcing.popo", "TSUNAGU_MAX_EVENT_BYTES": str(limit)},
                  sealer=cast(Sealer, None))


def _place() -> Place:
    return Place.open(id=uuid4(), tenant=TOWN, programme_id=None, name="居場所ひだまり", operator="NPO",
                      municipality=TOWN, address="千代田区神田1-1", schedule={"tue": ["13:00", "17:00"]})


def _session(place: Place, participant_bytes: int) -> Place:
    place.hold_session(session_id=uuid4(), held_on=date(2024, 6, 4), participants=1,
                       registered_participants=1, participant_refs={"ct": "x" * participant_bytes}, staff=1,
                       supporter_ids=[])
    return place


def _stored(app: Intake) -> int:
    return app.recorder.max_notification_id() or 0


def test_an_event_larger_on_the_bus_than_the_limit_is_refused_with_nothing_stored():
    app = _app()
    place = _place()
    app.save(place)
    with pytest.raises(EventTooLarge) as refused:
        app.save(_session(app.repository.get(place.id), LIMIT))
    assert (refused.value.status, refused.value.problem) == (413, "event-too-large")
    assert refused.value.extensions["event"] == "PlaceSessionHeld"
    size = refused.value.extensions["size"]
    assert isinstance(size, int) and size > LIMIT == refused.value.extensions["limit"]
    assert _stored(app) == 1
    assert app.repository.get(place.id).version == 1


def test_one_oversized_event_refuses_the_whole_save():
    app = _app()
    small, large = _place(), _session(_place(), LIMIT)
    with pytest.raises(EventTooLarge):
        app.save(small, large)
    assert _stored(app) == 0


def test_a_consumer_save_with_an_oversized_event_records_neither_the_event_nor_the_position():
    app = _app()
    with pytest.raises(EventTooLarge):
        app.save_tracked(_session(_place(), LIMIT), upstream="REGISTRY", position=7)
    assert _stored(app) == 0
    assert app.tracked_position("REGISTRY") == 0


def test_an_event_just_under_the_limit_is_stored_and_the_relay_publishes_no_more_bytes_than_were_measured():
    app = _app()
    place = _place()
    app.save(place)
    empty = published_size("intake", _session(_place(), 0).collect_events()[-1], tenant=TOWN) + PUBLISH_HEADROOM
    app.save(_session(app.repository.get(place.id), LIMIT - empty - 16))  # 16: a timestamp may gain digits
    [_, stored] = LogReader("intake", app).read(0, 10)
    published = len(stored.chained(GENESIS).to_json())
    measured = published_size("intake", next(iter(app.events.get(place.id, gt=1))), tenant=TOWN)
    assert published <= measured <= published + 32  # only the position's digits are assumed at their largest
    assert measured + PUBLISH_HEADROOM <= LIMIT


def test_the_limit_is_256_kib_unless_the_environment_says_otherwise():
    assert max_event_bytes({}) == DEFAULT_MAX_EVENT_BYTES == 256 * 1024
    assert max_event_bytes({"TSUNAGU_MAX_EVENT_BYTES": "65536"}) == 65536
    assert _app(4096).max_event_bytes == 4096
    for wrong in ("0", "-1", "lots"):
        with pytest.raises(ValueError):
            max_event_bytes({"TSUNAGU_MAX_EVENT_BYTES": wrong})
