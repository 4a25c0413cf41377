"""Creating resources once per Idempotency-Key (the creations ledger: store/creations.py): the
commands of every service's application that create, ServiceApplication's `Creating` part."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, Generic, Protocol, TypeVar
from uuid import UUID

from eventsourcing.application import EventStore
from eventsourcing.domain import MutableOrImmutableAggregate
from eventsourcing.persistence import IntegrityError, Recording

from libs.domain.contracts import ClientKey
from libs.domain.errors import DomainError
from libs.platform.privacy.sealed_values import SubjectForgotten
from libs.platform.store.cache import CachingRepository
from libs.platform.store.creations import SAVE_KWARG, Creation, Ledger, LedgerRow

A = TypeVar("A", bound=MutableOrImmutableAggregate[Any])
R = TypeVar("R")
# How many events before the version a ledger row names are read to find the resource's event: a
# save writes a few (a referral: a disclosure, then the referral); a longer one is found by a scan.
SAVE_WINDOW = 8


@dataclass(frozen=True)
class Created(Generic[A]):
    """What a creation inside an aggregate answers: the aggregate holding the resource, the
    resource's id, and whether it was created now (False: a retry with the same Idempotency-Key)."""

    aggregate: A
    resource_id: UUID
    created: bool


class Service(Protocol):
    """What the creating commands use of ServiceApplication (store/application.py)."""

    name: str
    ledger: Ledger
    repository: CachingRepository
    events: EventStore[UUID]

    def client_key(self, idempotency_key: str | None) -> ClientKey | None: ...

    def existing(self, kind: type, aggregate_id: UUID) -> Any: ...

    def save(self, *objs: Any, **kwargs: Any) -> list[Recording]: ...

    def save_new(self, *aggregates: Any, creation: Creation | None = None) -> Any: ...

    def change(self, aggregate: A, command: Callable[[A], R], *, expected_version: int | None = None,
               also: Sequence[Any] = (), reload: Callable[[], A] | None = None,
               creations: Callable[[A], Sequence[LedgerRow]] | None = None) -> R: ...


class Creating:
    """The commands that create, once per Idempotency-Key (a mixin of ServiceApplication)."""

    def creation(self: Service, kind: str, scope: UUID | str, idempotency_key: str | None, /,
                 **request: Any) -> Creation:
        """A creation of `kind` in `scope` (where its keys deduplicate: an org, a case) with the
        request's fields, digested under this service's secret."""
        return Creation.of(self.name, kind, scope, self.client_key(idempotency_key), request)

    def creations(self: Service, kind: str, scope: UUID | str, idempotency_key: str | None, count: int, /,
                  **request: Any) -> list[Creation]:
        """The creations of one request's `count` items, under its one key: each item's own, and
        one batch's ledger rows together in the ledger's indexes (Creation.of_batch)."""
        return Creation.of_batch(self.name, kind, scope, self.client_key(idempotency_key), request, count)

    def create_once(self: Service, kind: type, aggregate_id: UUID, make: Callable[[], Any],
                    creation: Creation | None = None) -> tuple[Any, bool]:
        """The aggregate with this id if it exists (a retry with the same Idempotency-Key), else
        the one `make` builds, saved; returns it and whether it was created now. With `creation`,
        the key's ledger row is written with it, and a key used before for another request is
        refused (422) instead of answering the first aggregate."""
        if creation is not None and (row := self.ledger.of_key(creation)) is not None:
            return self.repository.get(UUID(row.aggregate_id)), False
        for known in (aggregate_id, creation.legacy_id if creation is not None else None):
            existing = self.existing(kind, known) if known is not None else None
            if existing is not None:  # a retry; or (the legacy id) made before the ledger kept its key
                return existing, False
        return self.save_new(make(), creation=creation), True

    def save_new(self: Service, *aggregates: Any, creation: Creation | None = None) -> Any:
        """Save newly created aggregates; if the same Idempotency-Key won a race, return its result."""
        first = aggregates[0]
        rows = {SAVE_KWARG: [creation.row(first.id, first.id, first.version)]} if creation else {}
        try:
            self.save(*aggregates, **rows)
        except IntegrityError:
            if creation is not None:
                self.ledger.of_key(creation)  # the race was won with another request: 422
            return self.repository.get(first.id)
        return first

    def created_event(self: Service, aggregate_id: UUID, resource_id: UUID, event_cls: type,
                      id_field: str) -> Any | None:
        """The event that created a resource inside an aggregate (its `id_field` = `resource_id`):
        read at the version the ledger names, or, for one created before the ledger, found in the
        aggregate's log. None when the aggregate holds no such resource."""
        def of_it(events: Any) -> Any | None:
            return next((e for e in events if isinstance(e, event_cls) and getattr(e, id_field) == resource_id), None)

        row = self.ledger.of_resource(resource_id, aggregate_id)
        if row is not None:  # among the events of the save that created it (not always its last)
            found = of_it(self.events.get(aggregate_id, gt=max(row.version - SAVE_WINDOW, 0), lte=row.version))
            if found is not None:
                return found
        return of_it(self.events.get(aggregate_id))

    def create_inside(self: Service, creation: Creation, load: Callable[[], A], command: Callable[[A, UUID], Any], *,
                      legacy: Callable[[A], UUID | None] | None = None, expected_version: int | None = None,
                      commuting: bool = False, resource_id: UUID | None = None,
                      also: Sequence[Any] = (), unique: Callable[[A], Sequence[LedgerRow]] | None = None,
                      ) -> Created[A]:
        """The one way to create something inside an aggregate (a consultation in a case): once per
        Idempotency-Key. A retry with the key and the same request finds the first resource in the
        ledger and changes nothing; with another request it is refused (422). `load` loads the
        aggregate and checks the caller's access; `command(aggregate, resource_id)` creates; `legacy`
        finds what a key created before the ledger kept keys. `commuting`, `also`: see change().
        `resource_id`: the id the request names for the resource (a completion is its trainee's),
        instead of one derived from the key. `unique`: ledger rows of what else the command
        allocated (a 修了番号), saved with the resource's: a second allocation fails the save.

        A commuting creation without If-Match runs first on the cached aggregate, not read again
        (store/cache.py, trusted loads; issue 15: that read was a round trip of every command):
        outdated by another replica's write, its save fails on the unique index and change() re-runs
        it on the aggregate read again, as after any lost race. A refusal (a domain error: the
        access check, a rule) may be the outdated aggregate's, so it is asked again of the store."""
        args = (creation, command, legacy, expected_version, commuting, resource_id, also, unique)
        if commuting and expected_version is None and not also:
            cached = [False]

            def first_load() -> A:
                aggregate, cached[0] = self.repository.trusted(load)
                return aggregate

            try:
                return _create_inside(self, first_load, load, *args)
            except SubjectForgotten:
                raise  # the save's key check, not the aggregate's state (store/sealed.py runs it again)
            except DomainError:
                if not cached[0]:
                    raise
        return _create_inside(self, load, load, *args)


def _create_inside(self: Service, first_load: Callable[[], A], load: Callable[[], A], creation: Creation,
                   command: Callable[[A, UUID], Any], legacy: Callable[[A], UUID | None] | None,
                   expected_version: int | None, commuting: bool, resource_id: UUID | None, also: Sequence[Any],
                   unique: Callable[[A], Sequence[LedgerRow]] | None) -> Created[A]:
    aggregate = first_load()
    # The key looked up after the load: a request with it that commits before the load is found
    # here (answered from the aggregate loaded again, which holds its resource), one that commits
    # after it makes this save fail. Looked up first, a command that refuses to create twice (a
    # completion) refused a retry that lost that race (422) instead of answering the first.
    if (row := self.ledger.of_key(creation)) is not None:
        return Created(load(), UUID(row.resource_id), False)
    if legacy is not None and creation.key is not None and (done := legacy(aggregate)) is not None:
        return Created(aggregate, done, False)
    resource_id = resource_id or creation.new_id()
    made: list[bool] = []  # whether each run created (a re-run may find the key's row)

    def run(a: A) -> Created[A]:
        rerun = bool(made)
        made.clear()
        if rerun and (row := self.ledger.of_key(creation)) is not None:  # the same key won the race
            made.append(False)
            return Created(a, UUID(row.resource_id), False)
        command(a, resource_id)
        made.append(True)
        return Created(a, resource_id, True)

    try:
        return self.change(aggregate, run, expected_version=expected_version, also=also,
                           reload=load if commuting else None,
                           creations=lambda a: [creation.row(resource_id, a.id, a.version),
                                                *(unique(a) if unique else ())] if made[-1] else [])
    except IntegrityError:
        if (row := self.ledger.of_key(creation)) is not None:
            return Created(load(), UUID(row.resource_id), False)
        raise
