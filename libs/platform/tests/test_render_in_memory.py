"""A save's relay messages rendered from the domain events in memory (issue 15) are, byte for byte,
the messages the relay and the auditors render from the store (LogReader.read: decode the stored
event, envelope, chain hash, canonical JSON). Every event type of every context, built twice (every
optional field filled, then empty), with sealed fields, dates, times with an offset, None, Japanese
text and nested lists and dicts; on SQLite and PostgreSQL (TSUNAGU_TEST_DB). A value whose rendering
is not proven (cloudevents.as_stored) is decoded from the store as before."""

from __future__ import annotations

import os
import types
import typing
from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta, timezone
from typing import Any
from uuid import UUID, uuid4

import pytest
from eventsourcing.domain import Aggregate
from sqlalchemy import select

from libs.domain import audit, dispatch, intake, registry
from libs.platform.messaging.cloudevents import ENVELOPE_ATTRIBUTES_BOUND, Envelope
from libs.platform.messaging.outbox import Outbox, relay_outbox
from libs.platform.messaging.outbox import metadata as outbox_metadata
from libs.platform.messaging.signing import EventSigner
from libs.platform.store.log import LogReader
from services.dispatch.application import DispatchApplication
from services.intake.application import IntakeApplication
from services.registry.application import RegistryApplication
from tests.harness import stored_applications

JST = timezone(timedelta(hours=9))
TEXT = "外出が難しい「本人」と家族の相談。\n\t\"引用\" \\ 😀 ①"
SERVICES = {"intake": (IntakeApplication, (*intake.EVENTS, *audit.EVENTS)),
            "registry": (RegistryApplication, (*registry.EVENTS, *audit.EVENTS)),
            "dispatch": (DispatchApplication, (*dispatch.EVENTS, *audit.EVENTS))}


def _fields(cls: type) -> dict[str, Any]:
    hints = typing.get_type_hints(cls)
    return {k: v for k, v in hints.items() if typing.get_origin(v) is not typing.ClassVar
            and k not in ("originator_id", "originator_version", "timestamp", "originator_topic")}


def _value(hint: Any, filled: bool, sealed: bool, seal: Any, n: int) -> Any:
    """A value of the annotated type: `filled` False gives None where None is allowed and empty
    collections, so both shapes of every event are rendered."""
    args = typing.get_args(hint)
    if typing.get_origin(hint) in (typing.Union, types.UnionType):
        if type(None) in args and not filled:
            return None
        return _value(next(a for a in args if a is not type(None)), filled, sealed, seal, n)
    if sealed:
        return seal({"名前": "山田 太郎", "生年月日": "1990-04-01", "相談内容": [TEXT, {"回": n}]})
    if hint is str:
        return f"{TEXT}{n}"
    if hint is bool:
        return n % 2 == 0
    if hint is int:
        return 1_000_000_007 * n
    if hint is UUID:
        return uuid4()
    if hint is datetime:
        return datetime(2016, 3, 31, 23, 59, 58, 123456, tzinfo=JST if n % 2 else UTC)
    if hint is date:
        return date(2015, 4, 1) + timedelta(days=n)
    if typing.get_origin(hint) is list:
        return [_value(args[0], filled, False, seal, n + k) for k in range(2 if filled else 0)]
    if hint is dict or typing.get_origin(hint) is dict:
        if not filled:
            return {}
        return {"項目": ["名前", "住所", ["連絡先", None]], "日付": date(2016, 2, 29),
                "時刻": datetime(2015, 5, 1, tzinfo=JST), "id": uuid4(), "数": [1, 2.5, -0.0, True],
                "空": {}, "null": None, "ネスト": {"a": [[TEXT]]}}
    raise AssertionError(f"no value for {hint!r}: teach this test the new type")


def _event(cls: type, aggregate_id: UUID, version: int, filled: bool, seal: Any) -> Any:
    """The event as an aggregate method records it (eventsourcing's own constructor)."""
    sealed = getattr(cls, "SEALED_FIELDS", ())
    kwargs = {name: _value(hint, filled, name in sealed, lambda v: seal(aggregate_id, v), version + k)
              for k, (name, hint) in enumerate(_fields(cls).items())}
    if "tenant" in kwargs:
        kwargs["tenant"] = "131016"
    if issubclass(cls, Aggregate.Created):
        kwargs["originator_topic"] = "tests:Aggregate"
    return cls(originator_id=aggregate_id, originator_version=version, timestamp=datetime.now(UTC), **kwargs)


def _saves(events: tuple[type, ...], seal: Any) -> Iterator[list[Any]]:
    """One save per event type and shape; an event that is not its aggregate's first comes after a
    created event of the same aggregate type (the tenant of its message is that one's)."""
    created: dict[str, type] = {getattr(c, "AGGREGATE"): c for c in events  # noqa: B009 - narrowed to Created, mypy sees no AGGREGATE
                                if issubclass(c, Aggregate.Created) and "tenant" in _fields(c)}
    for cls in events:
        for filled in (True, False):
            aggregate_id = uuid4()
            if issubclass(cls, Aggregate.Created):
                yield [_event(cls, aggregate_id, 1, filled, seal)]
            else:
                first = created.get(cls.AGGREGATE, next(iter(created.values())))  # type: ignore[attr-defined]
                yield [_event(first, aggregate_id, 1, filled, seal), _event(cls, aggregate_id, 2, filled, seal)]


@pytest.mark.parametrize("service", list(SERVICES))
def test_every_event_type_renders_from_memory_the_bytes_the_store_renders(tmp_path, service: str) -> None:
    app_class, events = SERVICES[service]
    with stored_applications(tmp_path, service, app_class) as (engine, application):
        app = application()
        outbox_metadata.create_all(engine)
        assert Outbox(service.upper(), LogReader(service, app), EventSigner(os.urandom(32).hex())).install(app)
        decoded: list[Any] = []
        decode = app.mapper.to_domain_event

        def counted(stored: Any) -> Any:  # a spy: the decodes of the saves' stored events
            decoded.append(stored)
            return decode(stored)

        app.mapper.to_domain_event = counted
        saved = 0
        for save in _saves(events, lambda subject, value: app.sealer.seal(str(subject), value)):
            app.save(*save)
            saved += len(save)
        assert decoded == []  # every message of every save was rendered from memory
        with engine.connect() as conn:
            prepared = conn.execute(select(relay_outbox).order_by(relay_outbox.c.position)).all()
        assert len(prepared) == saved
        # The store's rendering, by another replica of the service (nothing cached from the saves).
        from_store = LogReader(service, application()).read(0, saved + 1)
        assert [e.sequence for e in from_store] == [row.position for row in prepared]
        for row, stored in zip(prepared, from_store, strict=True):
            chained, body = stored.chained_json(row.previous)
            assert body == bytes(row.body), stored.type
            assert body == chained.to_json() and chained.chainhash == row.chainhash
        assert {Envelope.from_json(bytes(r.body)).name for r in prepared} >= {c.__name__ for c in events}
        # The bound a save measures by before rendering (cloudevents.stored_size_bound) holds for every
        # event type without its margin: the stored state's length plus the envelope's attributes.
        states = {n.id: n.state for n in app.recorder.select_notifications(start=1, limit=saved + 1)}
        for row in prepared:
            assert len(bytes(row.body)) <= len(states[row.position]) + ENVELOPE_ATTRIBUTES_BOUND, row.type


def test_a_value_not_proven_to_round_trip_is_rendered_from_the_store(tmp_path) -> None:
    """A dict the store's decoder reads as a tagged value (its data is a UUID's hex, and comes back a
    UUID) and a dict with a non-str key are decoded from the store, where their message is made."""
    with stored_applications(tmp_path, "intake", IntakeApplication) as (engine, application):
        app = application()
        outbox_metadata.create_all(engine)
        assert Outbox("INTAKE", LogReader("intake", app), None).install(app)

        def seal(subject: Any, value: Any) -> Any:
            return app.sealer.seal(str(subject), value)

        tagged = _event(intake.CaseOpened, uuid4(), 1, True, seal)
        tagged.__dict__["personal_details"] = {"_type_": "uuid_hex", "_data_": uuid4().hex}
        keyed = _event(intake.CaseOpened, uuid4(), 1, True, seal)
        keyed.__dict__["personal_details"] = {True: "はい", 1.5: None}
        app.save(tagged)
        app.save(keyed)
        with engine.connect() as conn:
            prepared = conn.execute(select(relay_outbox).order_by(relay_outbox.c.position)).all()
        from_store = LogReader("intake", application()).read(0, 10)
        assert [s.chained_json(r.previous)[1] for r, s in zip(prepared, from_store, strict=True)] == \
            [bytes(r.body) for r in prepared]
        assert Envelope.from_json(bytes(prepared[0].body)).data["personal_details"] == str(UUID(
            tagged.personal_details["_data_"]))
        assert Envelope.from_json(bytes(prepared[1].body)).data["personal_details"] == {"true": "はい", "1.5": None}
