"""The base of every service's eventsourcing Application."""

from __future__ import annotations

import os
import random
import threading
import time
from collections.abc import Callable, Sequence
from contextlib import nullcontext
from datetime import date
from typing import Any, TypeVar
from uuid import UUID

from eventsourcing.application import (
    AggregateNotFoundError,
    Application,
    ProcessingEvent,
)
from eventsourcing.domain import MutableOrImmutableAggregate
from eventsourcing.persistence import (
    IntegrityError,
    JSONTranscoder,
    ProcessRecorder,
    Recording,
    Tracking,
    Transcoding,
)
from eventsourcing.popo import POPOFactory

from libs.domain.audit import NATIONAL
from libs.domain.contracts import ClientKey
from libs.domain.errors import InvalidInput, VersionMismatch
from libs.platform import tracing
from libs.platform.limits import max_event_bytes
from libs.platform.messaging.cloudevents import envelope_of
from libs.platform.privacy.sealed_values import SubjectKeys, is_sealed
from libs.platform.privacy.sealing import Sealer
from libs.platform.store.cache import CACHE_SIZE, CachingRepository
from libs.platform.store.commits import CommitSignal
from libs.platform.store.core import CoreSnapshotRecorder
from libs.platform.store.creating import Creating
from libs.platform.store.creations import (
    DOMAIN_KWARG,
    SAVE_KWARG,
    SEALED_KWARG,
    Ledger,
    LedgerRecorder,
    LedgerRow,
    MemoryLedgerRecorder,
)
from libs.platform.store.db import no_pipelines, ping_writes_only
from libs.platform.store.erasure import Erasure
from libs.platform.store.event_sizes import EventSizes
from libs.platform.store.sealed import SealedCommand
from libs.platform.store.sqlite_begin import event_store_begins
from libs.platform.store.transcoder import TopLevelTranscoding

# The name under which eventsourcing_env passes <SERVICE>_IDEMPOTENCY_KEY to the application.
IDEMPOTENCY_KEY_ENV = "TSUNAGU_IDEMPOTENCY_KEY"

A = TypeVar("A", bound=MutableOrImmutableAggregate[Any])
R = TypeVar("R")
# Re-runs of a commuting command whose save lost a race (ServiceApplication.change); each loses
# only to a save that succeeded, so the service as a whole always progresses.
COMMUTING_RETRIES = 16


class DateAsISO(Transcoding):
    type = date
    name = "date_iso"

    def encode(self, obj: date) -> str:
        return obj.isoformat()

    def decode(self, data: str) -> date:
        return date.fromisoformat(data)


class ServiceApplication(Creating, EventSizes, Erasure, TopLevelTranscoding, Application):
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
        # eventsourcing-sqlalchemy makes its own engine without pool_pre_ping: a connection the
        # database dropped (a restart, a failover, pg_terminate_backend) failed the next command
        # with a 500. Checked out, each connection is pinged first and replaced when dead; but for
        # a read, which is run again instead when its connection was dead (store/db.py).
        engine = getattr(getattr(self.factory, "datastore", None), "engine", None)
        if engine is not None and hasattr(engine, "pool"):
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
            recordings = super().save(*objs, **kwargs)
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
        processing: ProcessingEvent[UUID] = ProcessingEvent(
            tracking=Tracking(notification_id=position, application_name=upstream))
        processing.collect_events(*aggregates)
        recordings = self._record(processing)
        self._take_snapshots(processing)
        self._notify(recordings)

    def change(self, aggregate: A, command: Callable[[A], R], *, expected_version: int | None = None,
               also: Sequence[Any] = (), reload: Callable[[], A] | None = None,
               creations: Callable[[A], Sequence[LedgerRow]] | None = None) -> R:
        """The one way a use case changes an aggregate it has loaded and checked access to: refuse
        when If-Match named another version, run the aggregate `command`, save it (with `also`,
        in the same transaction) and return what the command returned.

        `reload` marks a command that commutes with concurrent ones (appending a consultation, an
        activity report): when its save loses a race to another request and the caller named no
        version (no If-Match), the aggregate is loaded again with `reload` (which checks access
        again) and the command re-run on it, up to COMMUTING_RETRIES times, so the caller sees 409
        only when it asked for a version. The command must then be safe to re-run: it seals again
        and returns what a re-run returns (e.g. the aggregate it ran on).

        `creations` gives the ledger rows of what the command created (creations.py), saved in the
        events' transaction."""

        def save(changed: A) -> None:
            kwargs: dict[str, Any] = {SAVE_KWARG: creations(changed)} if creations else {}
            self.save(changed, *also, **kwargs)

        if expected_version is not None and expected_version != aggregate.version:
            kind = type(aggregate).__name__.lower()
            raise VersionMismatch(f"the {kind} is at version {aggregate.version}, not {expected_version}")
        commuting = reload is not None and expected_version is None and not also
        # Commuting changes of one aggregate in this process go one at a time (they would wait for
        # each other at the database anyway): a request that lost a race re-runs on the aggregate
        # reloaded under the same lock, so only other replicas' requests can race it again. (Only
        # the re-runs took the lock before: under load, 8 threads' first attempts kept winning over
        # a re-run until it ran out of retries.)
        with self._retry_locks[hash(aggregate.id) % len(self._retry_locks)] if commuting else nullcontext():
            try:
                with tracing.span(f"change {type(aggregate).__name__}", {"tsunagu.service": self.name}):
                    result = command(aggregate)
                    save(aggregate)
                return result
            except IntegrityError:
                if not commuting:
                    raise
            assert reload is not None
            for attempt in range(COMMUTING_RETRIES):
                aggregate = reload()
                result = command(aggregate)
                try:
                    save(aggregate)
                    return result
                except IntegrityError:
                    if attempt == COMMUTING_RETRIES - 1:
                        raise
                    time.sleep(random.uniform(0, 0.002))
        raise AssertionError("unreachable")  # the last attempt returns or raises

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
