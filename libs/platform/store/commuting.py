"""Commands that commute (appending a consultation, an activity report, an import of many), re-run
by the server when their save loses a race, so a client without If-Match never sees 409 (issue 15):
ServiceApplication's `Commuting` part.

An attempt is optimistic: it loads its aggregates, runs the command and saves, and the save fails
(IntegrityError) when another save stored a version of one of them meanwhile; it is then re-run on
the aggregates loaded again. That alone can lose every time: an import loads its cases and builds
hundreds of events before its save, and a single command on one of those cases lands in between
every time (h-attack: 2-3 of 18 imports of a mixed run lost COMMUTING_RETRIES attempts and answered
409). So the last LOCKED_ATTEMPTS attempts hold the database's write lock from their load to their
save (`write_locked`): nobody can store a version in between, and the attempt cannot lose a race.
Only the last ones: the lock serialises every writer of the service (and of every replica) for the
attempt's duration, so a plain command or import, which wins at once, never takes it.
"""

from __future__ import annotations

import random
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import AbstractContextManager, contextmanager, nullcontext
from typing import TYPE_CHECKING, Any, TypeVar

from eventsourcing.domain import MutableOrImmutableAggregate
from eventsourcing.persistence import IntegrityError, Recording

from libs.domain.errors import VersionMismatch
from libs.platform import tracing
from libs.platform.store.cache import CachingRepository
from libs.platform.store.commits import CommitSignal
from libs.platform.store.core import in_transaction
from libs.platform.store.creations import SAVE_KWARG, LedgerRecorder, LedgerRow

A = TypeVar("A", bound=MutableOrImmutableAggregate[Any])
R = TypeVar("R")
# Re-runs of a commuting command whose save lost a race (ServiceApplication.change); each loses
# only to a save that succeeded, so the service as a whole always progresses.
COMMUTING_RETRIES = 16
# The last of those attempts, which hold the write lock from their load to their save.
LOCKED_ATTEMPTS = 2


class Commuting:
    """Re-running commuting commands (a mixin of ServiceApplication)."""

    name: str
    recorder: Any
    repository: CachingRepository
    commits: CommitSignal
    locked_attempts = LOCKED_ATTEMPTS  # an instance may lock more (a test of the locked attempts)

    _retry_locks: tuple[threading.Lock, ...]  # striped by aggregate id (ServiceApplication makes them)

    if TYPE_CHECKING:
        def save(self, *objs: Any, **kwargs: Any) -> list[Recording]: ...

    def locks(self, attempt: int) -> bool:
        """Whether this re-run (0: the first after the command's own try) holds the write lock."""
        return attempt >= COMMUTING_RETRIES - self.locked_attempts

    def write_locked(self, locked: bool = True) -> AbstractContextManager[None]:
        """While inside (when `locked`), this thread holds the database's write lock, in the
        transaction that the saves inside then write in and that commits at the end: on SQLite its
        BEGIN IMMEDIATE (and this process's writers' lock: store/sqlite_begin.py), on PostgreSQL
        `LOCK TABLE <app>_events IN EXCLUSIVE MODE`, which every save takes first. Loads inside read
        in it too (the library's reads join an open transaction), so they see every save committed
        and none can come between them and the save. The aggregate cache takes the saved
        aggregates when it commits (CachingRepository.holding). Nothing inside may write with
        another connection of this database (make a subject's key: Sealer.keys): on SQLite it would
        wait for this very lock, and fails at once instead (sqlite_begin.WriteWithinWrite).
        Without a store of pooled connections (in memory): no lock."""
        recorder = self.recorder
        if not locked or not isinstance(recorder, LedgerRecorder) or not recorder.core.usable() or in_transaction():
            return nullcontext()
        return self._write_locked(recorder)

    @contextmanager
    def _write_locked(self, recorder: LedgerRecorder) -> Iterator[None]:
        with tracing.span("write locked", {"tsunagu.service": self.name}), self.repository.holding(), \
                recorder.datastore.transaction(commit=True) as session:
            connection = session.connection()  # SQLite: BEGIN IMMEDIATE, the lock taken here
            if recorder.core.dialect == "postgresql":
                connection.exec_driver_sql(f"LOCK TABLE {recorder.core.name} IN EXCLUSIVE MODE")
            yield
        self.commits.ring()  # the saves inside rang before their commit: the log's readers look again

    def change(self, aggregate: A, command: Callable[[A], R], *, expected_version: int | None = None,
               also: Sequence[Any] = (), reload: Callable[[], A] | None = None,
               creations: Callable[[A], Sequence[LedgerRow]] | None = None) -> R:
        """The one way a use case changes an aggregate it has loaded and checked access to: refuse
        when If-Match named another version, run the aggregate `command`, save it (with `also`,
        in the same transaction) and return what the command returned.

        `reload` marks a command that commutes with concurrent ones (appending a consultation, an
        activity report): when its save loses a race to another request and the caller named no
        version (no If-Match), the aggregate is loaded again with `reload` (which checks access
        again) and the command re-run on it, up to COMMUTING_RETRIES times, the last ones holding the
        write lock (see the module), so the caller sees 409 only when it asked for a version. The
        command must then be safe to re-run: it seals again (with the keys of its earlier runs:
        store/sealed.py) and returns what a re-run returns (e.g. the aggregate it ran on).

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
        with self._retry_lock(aggregate.id) if commuting else nullcontext():
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
                try:
                    with self.write_locked(self.locks(attempt)):
                        aggregate = reload()
                        result = command(aggregate)
                        save(aggregate)
                    return result
                except IntegrityError:
                    if attempt == COMMUTING_RETRIES - 1:
                        raise
                    time.sleep(random.uniform(0, 0.002))
        raise AssertionError("unreachable")  # the last attempt returns or raises

    def _retry_lock(self, aggregate_id: Any) -> threading.Lock:
        return self._retry_locks[hash(aggregate_id) % len(self._retry_locks)]
