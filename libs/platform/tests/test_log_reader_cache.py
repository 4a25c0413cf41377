"""A log reader remembers the tenants of a bounded number of aggregates: memory stays flat however
many aggregates a service's log holds, and a forgotten tenant is read again, still right."""

from __future__ import annotations

from uuid import uuid4

from libs.platform.lru import Lru
from libs.platform.store import log
from libs.platform.store.log import LogReader
from libs.platform.tests.test_event_bounds import _app, _session
from services.intake.domain.place import Place


def test_an_lru_keeps_at_most_its_size_and_forgets_the_least_recently_used_first():
    cache: Lru[str, int] = Lru(2)
    cache.put("a", 1)
    cache.put("b", 2)
    assert cache.get("a") == 1  # "b" is now the least recently used
    cache.put("c", 3)
    assert (cache.get("a"), cache.get("b"), cache.get("c"), len(cache)) == (1, None, 3, 2)


def test_a_log_reader_keeps_a_bounded_number_of_tenants_and_reads_a_forgotten_one_again(monkeypatch):
    monkeypatch.setattr(log, "TENANT_CACHE_SIZE", 3)
    app = _app()
    towns = ["131016", "131024", "131032", "131041", "131059", "131067"]
    places = []
    for town in towns:  # each place's events after its creation name no tenant
        place = Place.open(id=uuid4(), tenant=town, programme_id=None, name="居場所", operator="NPO",
                           municipality=town, address="1-1", schedule={"tue": ["13:00", "17:00"]})
        app.save(place)
        places.append(place)
    for place in places:
        app.save(_session(app.repository.get(place.id), 10))
    reader = LogReader("intake", app)
    envelopes = reader.read(0, 100)
    assert len(reader._tenants) == 3
    sessions = [e for e in envelopes if e.type.endswith("PlaceSessionHeld.v2")]
    assert [e.tenant for e in sessions] == towns  # the first three were forgotten, then read again


def test_a_log_reader_reads_the_tenants_it_does_not_know_in_one_statement(tmp_path):
    """A relay that never decoded the aggregates' created events (their messages were prepared when
    saved) renders a bulk import of many of them: their tenants come in one statement, not one
    each. Fails with a query per aggregate (six SELECTs of created events here)."""
    from sqlalchemy import event

    from services.intake.application import IntakeApplication
    from tests.harness import stored_applications

    towns = ["131016", "131024", "131032", "131041", "131059", "131067"]
    with stored_applications(tmp_path, "intake", IntakeApplication) as (_engine, application):
        app = application()
        places = [Place.open(id=uuid4(), tenant=town, programme_id=None, name="居場所", operator="NPO",
                             municipality=town, address="1-1", schedule={"tue": ["13:00", "17:00"]}) for town in towns]
        app.save(*places)
        created = app.recorder.max_notification_id()
        app.save(*[_session(app.repository.get(p.id), 10) for p in places])
        reader = LogReader("intake", app)
        selects: list[str] = []
        engine = app.recorder.datastore.engine

        def record(_conn, _cursor, statement, *_args) -> None:
            if statement.lstrip().upper().startswith("SELECT"):
                selects.append(statement)

        event.listen(engine, "before_cursor_execute", record)
        try:
            envelopes = reader.read(created, 100)
        finally:
            event.remove(engine, "before_cursor_execute", record)
        assert [e.tenant for e in envelopes] == towns
        assert len(selects) == 2, selects  # the events after `created`, and their aggregates' created events
