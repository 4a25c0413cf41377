"""Reading a service's own event log (the eventsourcing notification log) as CloudEvents."""

from __future__ import annotations

import threading
import time
from bisect import bisect_right
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, replace
from typing import Any

from eventsourcing.persistence import MapperDeserialisationError, Notification, find_id_convertor
from eventsourcing.utils import resolve_topic
from sqlalchemy import Select, bindparam, select

from libs.platform.audit.leaves import leaf_of, record_of
from libs.platform.lru import Lru
from libs.platform.messaging.cloudevents import Envelope, NotRoundTripped, envelope_of
from libs.platform.store.db import read_unpinged

TENANT_CACHE_SIZE = 2_000  # aggregates whose tenant a reader keeps (as many as the subject keys of sealing.py, and why)
# How long a shared read serves the readers that come after it when no commit rang meanwhile: the
# followers woken by one commit read within milliseconds of each other. Writes of another process
# ring nothing here, so this is also what such a write may wait for, on top of the poll.
SHARED_READ_SECONDS = 0.05


def _stored(n: Notification) -> tuple[Any, ...]:
    """What a stored event's envelope is made of, to tell the row a save rendered from another at its
    position (SQLite may give a rolled-back save's rowid to the next), and the versions its class has
    now: decoded after an upgrade gave its type a new version, it renders upcast, under the new type
    (test_version_bump), not as the save rendered it."""
    cls = resolve_topic(n.topic)
    return (str(n.originator_id), n.originator_version, n.topic, bytes(n.state),
            getattr(cls, "class_version", 1), getattr(cls, "SCHEMA_VERSION", None))


class LogReader:
    """Turns stored notifications into (unchained) envelopes, with each aggregate's tenant and the
    hash of the event's Merkle leaf (`leafhash`), so a witness can rebuild the tree from the bus."""

    def __init__(self, service: str, application: Any, *, shared: bool = False) -> None:
        self.service = service
        self.app = application
        # `shared`: several loops (a service's log followers) read through this reader, and one
        # read of the log serves them all (`read(..., shared=True)`, SharedRead).
        self._shared = SharedRead(getattr(application, "commits", None)) if shared else None
        self._query: Select | None = None
        # The tenant of each aggregate seen lately (most events name none): bounded, a miss reads
        # the aggregate's created event again. Unbounded, it held every case for as long as the
        # service ran (three readers per service: relay, audit, followers).
        self._tenants: Lru[str, str] = Lru(TENANT_CACHE_SIZE)
        # The envelopes the application's saves rendered lately, by position (ServiceApplication's
        # `rendered`, shared by its readers; None: every event decoded).
        self._rendered: Lru[int, tuple[tuple[Any, ...], Envelope]] | None = getattr(application, "rendered", None)

    def max_position(self) -> int:
        return self.app.recorder.max_notification_id() or 0

    def read(self, after: int, limit: int, *, shared: bool = False) -> list[Envelope]:
        """The envelopes of the events after `after`, at most `limit`. `shared` (a follower's
        round): what another loop read through this reader a moment ago, when that read still
        tells everything after `after` (SharedRead); a read-your-writes caller asks afresh."""
        if self._shared is None:
            return self.envelopes(self._select(after, limit))
        with self._shared.lock:  # loops woken together take turns: the second is served by the first
            if shared and (kept := self._shared.get(after, limit)) is not None:
                return kept
            rings = self._shared.rings()  # before the query: a commit from now on makes it stale
            envelopes = self.envelopes(self._select(after, limit))
            self._shared.keep(after, envelopes, complete=len(envelopes) < limit, rings=rings)
            return envelopes

    def envelopes(self, notifications: Iterable[Notification],
                  created: Callable[[Any], Any] | None = None,
                  in_memory: Sequence[Any] | None = None) -> list[Envelope]:
        """The envelopes of these stored events; `created` finds an aggregate's created event when
        its tenant is not known yet (by default read from the store in a transaction of its own).
        `in_memory`: the domain events a save is storing as these notifications, in their order;
        each is rendered from memory where that is proven to give the bytes its stored copy gives
        (cloudevents.as_stored; issue 15: decoding was the largest part of an import's save), else
        decoded from the store as always."""
        if created is None and in_memory is None:  # a reader's own read (relay, followers): decoded
            return self._decoded(list(notifications))
        envelopes = []
        for k, n in enumerate(notifications):
            envelope = self._rendering(n, created, in_memory[k] if in_memory is not None else None)
            envelopes.append(envelope)
            if self._rendered is not None:
                self._rendered.put(n.id, (_stored(n), envelope))
        return envelopes

    def _rendering(self, n: Notification, created: Callable[[Any], Any] | None, domain_event: Any) -> Envelope:
        leafhash = leaf_of(record_of(n)).hex()
        if domain_event is not None:
            try:
                return envelope_of(self.service, domain_event, tenant=self._tenant_of(domain_event, created),
                                   sequence=n.id, leafhash=leafhash, in_memory=True)
            except NotRoundTripped:
                pass
        decoded = self.app.mapper.to_domain_event(n)
        return envelope_of(self.service, decoded, tenant=self._tenant_of(decoded, created), sequence=n.id,
                           leafhash=leafhash)

    def _decoded(self, notifications: list[Notification]) -> list[Envelope]:
        """Each event decoded, but one that a save of this application rendered lately (issue 15:
        every command's event was decoded again by the followers' read, ~55 µs): taken as the save
        rendered it when the row read is the row it stored (position, aggregate, version, topic and
        state bytes alike), which decoding renders into the same envelope."""
        known: dict[int, Envelope] = {}
        if self._rendered is not None:
            for n in notifications:
                hit = self._rendered.get(n.id)
                if hit is not None and hit[0] == _stored(n):
                    known[n.id] = hit[1]
                    self._tenants.put(hit[1].subject, hit[1].tenant)
        rest = [self.app.mapper.to_domain_event(n) for n in notifications if n.id not in known]
        self._learn_tenants(rest)
        decoded = iter(rest)
        envelopes = []
        for n in notifications:
            envelope = known.get(n.id)
            if envelope is None:
                e = next(decoded)
                envelope = envelope_of(self.service, e, tenant=self._tenant_of(e), sequence=n.id,
                                       leafhash=leaf_of(record_of(n)).hex())
            envelopes.append(envelope)
        return envelopes

    def _select(self, after: int, limit: int) -> list[Notification]:
        """The notifications after `after`, read with SQLAlchemy Core on the store's own engine: the
        library's ORM query spent more on loading and expiring its objects than on the query."""
        recorder = self.app.recorder
        datastore = getattr(recorder, "datastore", None)
        if datastore is None or getattr(datastore, "access_lock", None) is not None:  # e.g. in-memory SQLite
            return list(recorder.select_notifications(start=after, limit=limit, inclusive_of_start=False))
        if self._query is None:  # built once: building it (and its cache key) cost more than running it
            t = recorder.events_record_cls.__table__
            self._query = select(t.c.id, t.c.originator_id, t.c.originator_version, t.c.topic, t.c.state).where(
                t.c.id > bindparam("after")).order_by(t.c.id).limit(bindparam("limit"))
        query, params = self._query, {"after": after, "limit": limit}
        # One statement in autocommit on a connection not pinged first (store/db.read_unpinged): on
        # PostgreSQL a round's read was four round trips (ping, BEGIN, SELECT, ROLLBACK), in every
        # follower's round and every relay round (issue 15).
        return read_unpinged(datastore.engine, lambda conn: [
            Notification(id=r.id, originator_id=r.originator_id, originator_version=r.originator_version,
                         topic=r.topic, state=bytes(r.state) if isinstance(r.state, memoryview) else r.state)
            for r in conn.execute(query, params)])

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

    def _learn_tenants(self, domain_events: Sequence[Any]) -> None:
        """The tenants of these events' aggregates that this reader does not know, from their created
        events read in one statement (issue 15: the relay rendering an import of 500 consultations
        of 50 cases whose created events it never decoded read them one query each)."""
        missing: dict[str, Any] = {}
        for e in domain_events:
            key = str(e.originator_id)
            if (tenant := getattr(e, "tenant", None)) is not None:
                self._tenants.put(key, tenant)
                missing.pop(key, None)
            elif key not in missing and self._tenants.get(key) is None:
                missing[key] = e.originator_id
        core = getattr(self.app.recorder, "core", None)
        if len(missing) < 2 or core is None or not core.usable():  # one at a time, as _tenant_of reads it
            return
        for stored in core.select_created(list(missing.values())):
            if (tenant := getattr(self.app.mapper.to_domain_event(stored), "tenant", None)) is not None:
                self._tenants.put(str(stored.originator_id), tenant)

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


@dataclass
class _Kept:
    after: int
    envelopes: list[Envelope]
    sequences: list[int]
    complete: bool  # the read was short of its limit: it reached the log's end then
    rings: int  # the commit signal's count when the read began
    at: float


class SharedRead:
    """The last read of the log, kept for the loops that read the same part of it next.

    Sound because of how positions are given: on PostgreSQL every insert locks the events table, so
    ids commit in order, and SQLite has one writer; so a read that came back short of its limit held
    every event committed after `after` when it began, and events committed later have larger ids.
    Such a read serves a later one while no commit of this process has rung since it began (the
    application rings after every save, store/commits.py) and for at most SHARED_READ_SECONDS
    (another process's writes ring nothing here). A full read serves what it holds in any case:
    those events do not change."""

    def __init__(self, commits: Any) -> None:
        self.lock = threading.Lock()
        self.commits = commits
        self._kept: _Kept | None = None

    def rings(self) -> int:
        return self.commits.rings if self.commits is not None else -1

    def keep(self, after: int, envelopes: list[Envelope], *, complete: bool, rings: int) -> None:
        self._kept = _Kept(after, envelopes, [e.sequence for e in envelopes], complete, rings, time.monotonic())

    def get(self, after: int, limit: int) -> list[Envelope] | None:
        kept = self._kept
        if kept is None or after < kept.after:
            return None
        start = bisect_right(kept.sequences, after)
        if len(kept.envelopes) - start >= limit:
            return kept.envelopes[start:start + limit]
        fresh = kept.rings >= 0 and kept.rings == self.rings() and time.monotonic() - kept.at < SHARED_READ_SECONDS
        end = kept.sequences[-1] if kept.sequences else kept.after
        if kept.complete and fresh and after <= end:
            return kept.envelopes[start:]
        return None


def end_of(reader: LogReader, read: list[Envelope], after: int, batch_size: int) -> int:
    """The log's end as a read of it after `after` shows: a read short of a full batch reached it;
    only after a full batch is the end asked for (one query less on every idle poll)."""
    if len(read) < batch_size:
        return read[-1].sequence if read else after
    return reader.max_position()
