"""The event bound (issue 13) in a stored service (issue 15): the save measures each event on the
message the relay's outbox renders in its transaction (not on a rendering of its own), or, where no
message is prepared, on the events as stored; either way the same bound, and a refused save
stores nothing: no event, no prepared message."""

from __future__ import annotations

import os
from typing import Any

import pytest
from sqlalchemy import func, select

from libs.domain.errors import EventTooLarge
from libs.platform.limits import PUBLISH_HEADROOM
from libs.platform.messaging.cloudevents import GENESIS, LARGEST_SEQUENCE, Envelope, published_size
from libs.platform.messaging.outbox import Outbox, relay_outbox
from libs.platform.messaging.outbox import metadata as outbox_metadata
from libs.platform.messaging.signing import EventSigner
from libs.platform.store.creations import RELAY_RENDERS_KWARG
from libs.platform.store.log import LogReader
from libs.platform.tests.test_event_bounds import TOWN, _place, _session
from services.intake.application import IntakeApplication
from tests.harness import stored_applications

LIMIT = 8 * 1024


@pytest.mark.parametrize(("outbox", "relay_renders"), [(True, False), (False, False), (True, True)],
                         ids=["outbox", "no outbox", "left to the relay"])
def test_a_stored_save_is_bounded_on_the_relays_bytes_and_a_refused_one_stores_nothing(
        tmp_path, monkeypatch, outbox: bool, relay_renders: bool) -> None:
    """A save that leaves its messages to the relay (a bulk import) is measured on its events
    rendered from memory, and prepares nothing."""
    monkeypatch.setenv("TSUNAGU_MAX_EVENT_BYTES", str(LIMIT))
    with stored_applications(tmp_path, "intake", IntakeApplication) as (engine, application):
        app = application()
        outbox_metadata.create_all(engine)
        if outbox:
            assert Outbox("INTAKE", LogReader("intake", app), EventSigner(os.urandom(32).hex())).install(app)
        place = _place()
        app.save(place)
        empty = published_size("intake", _session(_place(), 0).collect_events()[-1], tenant=TOWN) + PUBLISH_HEADROOM
        kwargs = {RELAY_RENDERS_KWARG: True} if relay_renders else {}
        prepared = outbox and not relay_renders
        with pytest.raises(EventTooLarge) as refused:
            app.save(_session(app.repository.get(place.id), LIMIT - empty + 64), **kwargs)
        assert refused.value.extensions["event"] == "PlaceSessionHeld"
        assert refused.value.extensions["size"] > LIMIT  # type: ignore[operator]
        assert app.recorder.max_notification_id() == 1 and _prepared(engine) == (1 if outbox else 0)
        app.save(_session(app.repository.get(place.id), LIMIT - empty - 64), **kwargs)  # just under: stored
        assert app.recorder.max_notification_id() is not None
        assert _prepared(engine) == (2 if prepared else 1 if outbox else 0)
        [stored] = LogReader("intake", app).read(1, 10)
        published = len(stored.chained(GENESIS).to_json())
        at_largest = published - len(str(stored.sequence)) + len(str(LARGEST_SEQUENCE))
        assert published <= at_largest + PUBLISH_HEADROOM <= LIMIT


def test_a_save_left_to_the_relay_renders_only_the_events_its_stored_state_puts_near_the_limit(
        tmp_path, monkeypatch) -> None:
    """Events whose stored state bounds their message far under the limit (stored_size_bound) are
    not rendered to be measured; one that comes near it is, exactly. Fails rendering all three."""
    from libs.platform.store import event_sizes as store_application  # where the save measures

    monkeypatch.setenv("TSUNAGU_MAX_EVENT_BYTES", str(LIMIT))
    rendered: list[Any] = []
    measure = store_application.published_size

    def counted(service: str, event: Any, **kwargs: Any) -> int:
        rendered.append(event)
        return measure(service, event, **kwargs)

    monkeypatch.setattr(store_application, "published_size", counted)
    with stored_applications(tmp_path, "intake", IntakeApplication) as (_engine, application):
        app = application()
        small = [_place(), _place()]
        app.save(*small, **{RELAY_RENDERS_KWARG: True})
        assert rendered == []
        empty = published_size("intake", _session(_place(), 0).collect_events()[-1], tenant=TOWN) + PUBLISH_HEADROOM
        near = _session(app.repository.get(small[0].id), LIMIT - empty - 64)
        app.save(near, _session(app.repository.get(small[1].id), 10), **{RELAY_RENDERS_KWARG: True})
        assert [type(e).__name__ for e in rendered] == ["PlaceSessionHeld"]
        assert rendered[0].originator_id == small[0].id


def _prepared(engine: Any) -> int:
    with engine.connect() as conn:
        return conn.execute(select(func.count()).select_from(relay_outbox)).scalar_one()


@pytest.mark.parametrize("data", [
    {"note": "相談記録", "nested": {"b": [1, 2, {"z": None}], "a": "\"quoted\" \\ back"}},
    {},
    {"emoji": "😀", "n": 1.5, "t": True},
])
@pytest.mark.parametrize("trace", ["", "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"])
def test_a_chained_message_rendered_once_is_the_same_bytes(data: dict[str, Any], trace: str) -> None:
    envelope = Envelope(id="e", source="/tsunagu/intake", type="jp.tsunagu.intake.CaseOpened.v1", subject="s",
                        time="2016-07-01T01:00:00+00:00", tenant=TOWN, sequence=42, aggregate="Case", data=data,
                        leafhash="ab" * 32, traceparent=trace)
    chained, body = envelope.chained_json("cd" * 32)
    assert chained == envelope.chained("cd" * 32)
    assert body == chained.to_json()
