"""The base of every service's eventsourcing Application."""

from __future__ import annotations

import os
import threading
from datetime import date
from typing import Any
from uuid import UUID

from eventsourcing.application import (
    AggregateNotFoundError,
    Application,
    ProcessingEvent,
)
from eventsourcing.domain import BaseAggregate, MutableOrImmutableAggregate
from eventsourcing.persistence import (
    JSONTranscoder,
    ProcessRecorder,
    Recording,
    Tracking,
    Transcoding,
)
from eventsourcing.popo import POPOFactory

from libs.domain.audit import NATIONAL
from libs.domain.contracts import ClientKey
from libs.domain.errors import InvalidInput
from libs.platform import tracing
from libs.platform.limits import max_event_bytes
from libs.platform.lru import Lru
from libs.platform.messaging.cloudevents import envelope_of
from libs.platform.privacy.sealed_values import SubjectKeys, is_sealed
from libs.platform.privacy.sealing import Sealer
from libs.platform.store.cache import CACHE_SIZE, CachingRepository
from libs.platform.store.commits import CommitSignal
from libs.platform.store.commuting import Commuting
from libs.platform.store.core import CoreSnapshotRecorder
from libs.platform.store.creating import Creating
from libs.platform.store.creations import (
    DOMAIN_KWARG,
    SEALED_KWARG,
    Ledger,
    LedgerRecorder,
    MemoryLedgerRecorder,
)
from libs.platform.store.db import no_pipelines, ping_writes_only, quiet_errors
from libs.platform.store.erasure import Erasure
from libs.platform.store.event_sizes import EventSizes
from libs.platform.store.sealed import SealedCommand
from libs.platform.store.sqlite_begin import event_store_begins
from libs.platform.store.transcoder import TopLevelTranscoding

RENDERED_SIZE = 1_000  # a few follower rounds of commands at any rate measured (~15 events a round at 32 clients)

# The name under which eventsourcing_env passes <SERVICE>_IDEMPOTENCY_KEY to the application.
IDEMPOTENCY_KEY_ENV = "TSUNAGU_IDEMPOTENCY_KEY"



class DateAsISO(Transcoding):
    type = date
    name = "date_iso"

    def encode(self, obj: date) -> str:
        return obj.isoformat()

    def decode(self, data: str) -> date:
        return date.fromisoformat(data)


class Collected(ProcessingEvent[UUID]):
    """The library's ProcessingEvent, whose collect_events asks of every object saved whether it is
    a DomainEventProtocol, then a CollectEventsProtocol: runtime Protocol checks, which Python 3.11
    makes by looking at every member (4% of a bulk import's time for its 50 cases, issue 15). An
    aggregate of the library's (BaseAggregate, an ordinary class) is collected here as the library
    collects it (its pending events, in order, and the aggregate by id); anything else is left to
    the library's method, in the same order."""

    def collect_events(self, *objs: Any, **kwargs: Any) -> None:
        for obj in objs:
            if isinstance(obj, BaseAggregate):
                self.events.extend(obj.collect_events())
                self.aggregates[obj.id] = obj
            else:
                super().collect_events(obj)
        self.saved_kwargs.update(kwargs)


class ServiceApplication(Commuting, Creating, EventSizes, Erasure, TopLevelTranscoding, Application):
    """An Application with our transcodings, the service's sealer and shared command helpers."""

    recorder: ProcessRecorder  # construct_recorder() below makes a process recorder
    repository: CachingRepository  # construct_repository() below

    def __init__(self, env: dict[str, str], sealer: Sealer) -> None:
        # Rung after every save has committed: the relay and log followers wake on it (commits.py).
        self.commits = CommitSignal()
        super().__init__(env=env)
        self.sealer = sealer
        # The command running in each thread that seals with cached keys (store/sealed.py).
        self.sealed = SealedCommand(sealer)
        # The envelopes its saves rendered for the outbox, by position: the followers' read takes
        # them instead of decoding the same rows again (store/log.py, LogReader._decoded).
        self.rendered: Lru[int, Any] = Lru(RENDERED_SIZE)
        # eventsourcing-sqlalchemy makes its own engine without pool_pre_ping: a connection the
        # database dropped (a restart, a failover, pg_terminate_backend) failed the next command
        # with a 500. Checked out, each connection is pinged first and replaced when dead; but for
        # a read, which is run again instead when its connection was dead (store/db.py).
        engine = getattr(getattr(self.factory, "datastore", None), "engine", None)
        if engine is not None and hasattr(engine, "pool"):
            quiet_errors(engine)  # its errors' text (logs, /readyz) never holds a statement's values
            ping_writes_only(engine)
            no_pipelines(engine)  # a save of several events: one statement (store/db.py says why)
            event_store_begins(self.factory.datastore)  # type: ignore[attr-defined]  # SQLite: sqlite_begin.py
        self.max_event_bytes = max_event_bytes(self.env)
        # The secret that keys the digests of clients' Idempotency-Keys (contracts.idempotency_digest):
        # from settings (eventsourcing_env); an application made by hand (a unit test) gets its own.
        configured = self.env.get(IDEMPOTENCY_KEY_ENV)
        self.idempotency_secret = bytes.fromhex(configured) if configured else os.urandom(32)
        self._retry_locks = tuple(threading.Lock() for _ in range(64))  # striped by aggregate id
        self.ledger = Ledger(self.recorder)  # type: ignore[arg-type]  # construct_recorder() made it
        if isinstance(self.recorder, LedgerRecorder):  # sizes checked in the save's transaction (_record)
            self.recorder.check_sizes = self._check_stored_sizes

    def client_key(self, idempotency_key: str | None) -> ClientKey | None:
        """The client's Idempotency-Key with this service's secret, as the aggregates digest it."""
        return ClientKey(idempotency_key, self.idempotency_secret) if idempotency_key else None

    def close(self) -> None:
        """Also release the event store's connections: eventsourcing-sqlalchemy keeps its own engine
        and its factory's close() leaves the pool open (on PostgreSQL, one idle connection per
        pooled slot per application, which adds up when services start and stop)."""
        super().close()
        engine = getattr(getattr(self.factory, "datastore", None), "engine", None)
        if engine is not None and hasattr(engine, "dispose"):
            engine.dispose()

    def register_transcodings(self, transcoder: JSONTranscoder) -> None:
        super().register_transcodings(transcoder)
        transcoder.register(DateAsISO())

    def construct_recorder(self) -> ProcessRecorder:
        # A process recorder: the same events table plus <name>_tracking, so that events caused
        # by another stream's message are stored atomically with that message's position.
        # ... which also writes the creations ledger in the events' transaction (creations.py).
        if isinstance(self.factory, POPOFactory):
            return MemoryLedgerRecorder()
        self.factory.process_recorder_class = LedgerRecorder  # type: ignore[attr-defined]
        self.factory.aggregate_recorder_class = CoreSnapshotRecorder  # type: ignore[attr-defined]  # snapshots
        return self.factory.process_recorder()

    def construct_repository(self) -> CachingRepository:
        """The aggregate cache (store/cache.py): a load reads only the events after the cached
        version. `AGGREGATE_CACHE_MAXSIZE` sizes it (0 or less: unbounded; unset: CACHE_SIZE)."""
        size = self.env.get(self.AGGREGATE_CACHE_MAXSIZE)
        return CachingRepository(event_store=self.events, snapshot_store=self.snapshots,
                                 cache_maxsize=int(size) if size else CACHE_SIZE)

    def _record(self, processing: ProcessingEvent) -> list[Recording]:
        """Every save (save, save_tracked) passes here: refuse the whole save, nothing stored, when
        one new event would be larger on the bus than the limit. Stored, the relay could never
        publish it, and the stream would stop behind it for every tenant (issue 13). Measured in the
        save's transaction, on the message the relay's outbox renders there (or on the stored events
        when it renders none), so each event is rendered once (issue 15); rolled back, nothing is
        stored. Traced, the
        store write is a span and each new event keeps its context (libs/platform/tracing.py).
        Committed, the saved aggregates are cached; failed, evicted (store/cache.py)."""
        with tracing.span("store write", {"tsunagu.service": self.name, "tsunagu.events": len(processing.events)}):
            tracing.stamp(processing.events)
            if not isinstance(self.recorder, LedgerRecorder):  # else in the save, on the relay's rendering
                self._check_sizes(processing.events)
            if (keys := processing.saved_kwargs.get(SEALED_KWARG)) is not None and \
                    not isinstance(self.recorder, LedgerRecorder):  # in memory: no transaction to check in
                self.sealer.check(keys)
            if isinstance(self.recorder, LedgerRecorder):  # the outbox renders them from memory (creations.py)
                processing.saved_kwargs[DOMAIN_KWARG] = processing.events
            try:
                recordings = super()._record(processing)
            except BaseException:
                # A lost race (IntegrityError) or any failure: the next load reads the store again.
                for aggregate_id in processing.aggregates:
                    self.repository.evict(aggregate_id)
                raise
            # Only an aggregate whose current version this save stored (a caller saving an object
            # again after a refused save must not have a version the store never had cached).
            stored = {e.originator_id: e.originator_version for e in processing.events}
            self.repository.saved(a for a in processing.aggregates.values() if stored.get(a.id) == a.version)
            return recordings

    def save(self, *objs: Any, **kwargs: Any) -> list[Recording]:
        """Inside a sealing command (store/sealed.py), the save carries the keys it sealed with,
        which the save's transaction checks (SubjectKeys.check)."""
        scope = self.sealed.scope
        if scope is not None and (keys := scope.subject_keys()) is not None:
            if (given := kwargs.get(SEALED_KWARG)) is not None:  # both checked: the earliest position
                keys = SubjectKeys({**given.keys, **keys.keys}, min(given.valid_to, keys.valid_to))
            kwargs[SEALED_KWARG] = keys
        with tracing.span("save", {"tsunagu.service": self.name}):
            # The library's Application.save, with a ProcessingEvent that collects faster (Collected).
            processing = Collected()
            processing.collect_events(*objs, **kwargs)
            recordings = self._record(processing)
            self._take_snapshots(processing)
            self._notify(recordings)
            self.notify(processing.events)  # the library's (deprecated) hook
        if scope is not None:
            scope.saved = True
        return recordings

    def _notify(self, recordings: list[Recording]) -> None:
        super()._notify(recordings)
        if recordings:
            self.commits.ring()

    def tracked_position(self, upstream: str) -> int:
        return self.recorder.max_tracking_id(upstream) or 0

    def save_tracked(self, *aggregates: Any, upstream: str, position: int) -> None:
        """Save the aggregates' new events and the upstream position in one transaction.
        A position at or below the recorded one raises IntegrityError and writes nothing."""
        processing = Collected(tracking=Tracking(notification_id=position, application_name=upstream))
        processing.collect_events(*aggregates)
        recordings = self._record(processing)
        self._take_snapshots(processing)
        self._notify(recordings)

    def existing(self, kind: type, aggregate_id: UUID) -> Any:
        """The aggregate of that type with that id, or None."""
        try:
            aggregate: MutableOrImmutableAggregate[UUID] = self.repository.get(aggregate_id)
        except AggregateNotFoundError:
            return None
        return aggregate if isinstance(aggregate, kind) else None

    def seal(self, subject: UUID | str, value: Any) -> dict | None:
        """A value sealed under the data subject's key; nothing to seal gives None. Inside a
        sealing command (store/sealed.py), with the key this replica holds in its cache, checked by
        the command's save; else after a look at the erasure log."""
        if not value:
            return None
        if (scope := self.sealed.scope) is not None:
            return scope.seal(str(subject), value)
        return self.sealer.seal(str(subject), value)

    def seal_required(self, subject: UUID | str, value: Any, what: str) -> dict:
        """A value that must be there, sealed; an empty one is refused (422) before any key is made.
        A sealed field holds a sealed value or null, never `{}`: `seal(...) or {}` published events
        the AsyncAPI schema refuses (issue 14: `subject_details: {}`)."""
        sealed = self.seal(subject, value)
        if sealed is None:
            raise InvalidInput(f"{what} is empty: send at least one item", field=what)
        return sealed

    def history(self, aggregate_id: UUID, *, opened: bool = False) -> list[dict[str, Any]]:
        """Every event of one aggregate as CloudEvents (sequence = its version), sealed fields left
        sealed unless `opened`. The tenant is the one its created event names."""
        stored = list(self.events.get(aggregate_id))
        tenant = getattr(stored[0], "tenant", NATIONAL) if stored else NATIONAL
        out = []
        for e in stored:
            envelope = envelope_of(self.name, e, tenant=tenant, sequence=e.originator_version).to_dict()
            if opened:
                envelope["data"] = {k: self.sealer.open(v) if is_sealed(v) else v for k, v in envelope["data"].items()}
            out.append(envelope)
        return out
