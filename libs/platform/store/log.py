"""Reading a service's own event log (the eventsourcing notification log) as CloudEvents."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import replace
from typing import Any

from eventsourcing.persistence import MapperDeserialisationError, Notification, find_id_convertor
from eventsourcing.utils import resolve_topic
from sqlalchemy import select

from libs.platform.audit.leaves import leaf_of, record_of
from libs.platform.lru import Lru
from libs.platform.messaging.cloudevents import Envelope, envelope_of

TENANT_CACHE_SIZE = 10_000  # aggregates whose tenant a reader keeps (as many as the subject keys of sealing.py)


class LogReader:
    """Turns stored notifications into (unchained) envelopes, with each aggregate's tenant and the
    hash of the event's Merkle leaf (`leafhash`), so a witness can rebuild the tree from the bus."""

    def __init__(self, service: str, application: Any) -> None:
        self.service = service
        self.app = application
        # The tenant of each aggregate seen lately (most events name none): bounded, a miss reads
        # the aggregate's created event again. Unbounded, it held every case for as long as the
        # service ran (three readers per service: relay, audit, followers).
        self._tenants: Lru[str, str] = Lru(TENANT_CACHE_SIZE)

    def max_position(self) -> int:
        return self.app.recorder.max_notification_id() or 0

    def read(self, after: int, limit: int) -> list[Envelope]:
        return self.envelopes(self._select(after, limit))

    def envelopes(self, notifications: Iterable[Notification],
                  created: Callable[[Any], Any] | None = None) -> list[Envelope]:
        """The envelopes of these stored events; `created` finds an aggregate's created event when
        its tenant is not known yet (by default read from the store in a transaction of its own)."""
        envelopes = []
        for n in notifications:
            domain_event = self.app.mapper.to_domain_event(n)
            envelopes.append(envelope_of(
                self.service, domain_event, tenant=self._tenant_of(domain_event, created), sequence=n.id,
                leafhash=leaf_of(record_of(n)).hex(),
            ))
        return envelopes

    def _select(self, after: int, limit: int) -> list[Notification]:
        """The notifications after `after`, read with SQLAlchemy Core on the store's own engine: the
        library's ORM query spent more on loading and expiring its objects than on the query."""
        recorder = self.app.recorder
        datastore = getattr(recorder, "datastore", None)
        if datastore is None or getattr(datastore, "access_lock", None) is not None:  # e.g. in-memory SQLite
            return list(recorder.select_notifications(start=after, limit=limit, inclusive_of_start=False))
        t = recorder.events_record_cls.__table__
        query = select(t.c.id, t.c.originator_id, t.c.originator_version, t.c.topic, t.c.state).where(
            t.c.id > after).order_by(t.c.id).limit(limit)
        with datastore.engine.connect() as conn:
            return [Notification(id=r.id, originator_id=r.originator_id, originator_version=r.originator_version,
                                 topic=r.topic, state=bytes(r.state) if isinstance(r.state, memoryview) else r.state)
                    for r in conn.execute(query)]

    def read_at(self, sequence: int, version: int | None) -> Envelope:
        """The event at `sequence` rendered at an older version of its type, as it was published
        before an upgrade bumped the version: decoded like the mapper does, but upcast only up to
        `version` (None: its stored version, not upcast at all)."""
        n = next(iter(self.app.recorder.select_notifications(start=sequence, limit=1)))
        mapper, cls = self.app.mapper, resolve_topic(n.topic)
        try:
            state = n.state
            if mapper.cipher:
                state = mapper.cipher.decrypt(state)
            if mapper.compressor:
                state = mapper.compressor.decompress(state)
            state = mapper.transcoder.decode(state)
        except Exception as e:
            raise MapperDeserialisationError(f"cannot decode stored event {sequence}: {e}") from e
        # A class is hashable, but mypy does not take type[Any] for the Hashable that lru_cache asks.
        convert = find_id_convertor(cls, type(n.originator_id))  # type: ignore[arg-type]
        state["originator_id"] = convert(n.originator_id)
        state["originator_version"] = n.originator_version
        at = state.pop("class_version", 1)
        version = at if version is None else version
        while at < version:
            getattr(cls, f"upcast_v{at}_v{at + 1}")(state)
            at += 1
        domain_event = object.__new__(cls)
        object.__setattr__(domain_event, "__dict__", state)
        envelope = envelope_of(self.service, domain_event, tenant=self._tenant_of(domain_event), sequence=n.id,
                               leafhash=leaf_of(record_of(n)).hex())
        return replace(envelope, type=f"{envelope.type.rsplit('.v', 1)[0]}.v{at}")

    def _tenant_of(self, domain_event: Any, created: Callable[[Any], Any] | None = None) -> str:
        key = str(domain_event.originator_id)
        tenant = getattr(domain_event, "tenant", None) or self._tenants.get(key)
        if tenant is None:  # created before this reader started (or forgotten since): read the created event
            if created is None:
                tenant = next(iter(self.app.events.get(domain_event.originator_id, lte=1))).tenant
            else:
                tenant = created(domain_event.originator_id).tenant
        self._tenants.put(key, tenant)
        return tenant


def end_of(reader: LogReader, read: list[Envelope], after: int, batch_size: int) -> int:
    """The log's end as a read of it after `after` shows: a read short of a full batch reached it;
    only after a full batch is the end asked for (one query less on every idle poll)."""
    if len(read) < batch_size:
        return read[-1].sequence if read else after
    return reader.max_position()
