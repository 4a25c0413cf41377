"""Group commit: saves that wait on one another go to the database as one transaction (issue 15).

Every save locks the events table (`LOCK TABLE ... IN EXCLUSIVE MODE`, store/core_inserts.py) until its
COMMIT, and a COMMIT waits for the WAL's flush to disk (4-5 ms here, against 0.1-0.3 ms for a
round trip): concurrent saves of one service flushed one after the other, each holding the lock
through its own flush. Measured with 8 clients: the lock's holder spent 7-11 ms a save from its
INSERT to its COMMIT, and the sum of those spans was 55-80% of the run's wall time. The plain
FastAPI endpoint, holding no such lock, has PostgreSQL flush several commits at once.

A SQLite file has one writer at a time (`BEGIN IMMEDIATE`, store/sqlite_begin.py; in a process the
library's write semaphore queues the saves before it): concurrent saves ran one after the other
anyway, each paying its own BEGIN, session, chain head read, COMMIT and WAL sync. Grouped (h-http3,
8 clients, the intake service alone): CPU a command 7.2 → 4.2-4.7 ms, ~160 groups in 900 saves.

So a save that finds another one under way in this process queues, and the next save to run takes
every queued one with it: one transaction, one LOCK, one flush for all (`GroupCommit.insert`). Its
events, ledger rows and prepared messages are those of the saves one after the other (the relay's
chain runs through them in order), and the sealed keys of all are checked under the lock together
(SubjectKeys merged as ServiceApplication.save merges two: every subject, the earliest position;
a subject erased after any of the looks fails the group).

A failure of the group must not fail the others: when it failed before its COMMIT was sent (a lost
race on an aggregate's version or an Idempotency-Key, an erased subject, an event too large, a
refused row: every such failure rolls back), each save of it runs again alone, and gets what it
would have got alone. A failure that may have committed (the connection lost during the query that
carries the COMMIT) is given to every save of the group, as it is to a save alone: none is run again.

A save joins a group only when nothing else is special about it: no tracking position (a process
application's save commits its position with its events), no bulk import's rendering by the relay,
outside any transaction of the caller's, on PostgreSQL through psycopg 3 or on a SQLite file
(store/creations.LedgerRecorder). A save alone (one client) runs as before: nothing waits.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Sequence
from typing import Any

from eventsourcing.persistence import IntegrityError, StoredEvent

from libs.domain.errors import DomainError
from libs.platform.privacy.sealed_values import SubjectKeys
from libs.platform.store.core import in_transaction

# The save's kwargs a group knows how to join (store/creations.py names them).
JOINABLE = frozenset({"creations", "in_memory_events", "sealed_with"})
MAX_EVENTS = 256  # a group's events: a bulk import's save (hundreds) runs alone
# Failures that prove the group's transaction rolled back and that a save alone may not hit.
ROLLED_BACK = (IntegrityError, DomainError)


class _Pending:
    def __init__(self, stored_events: Sequence[StoredEvent], kwargs: dict[str, Any]) -> None:
        self.stored_events = stored_events
        self.kwargs = kwargs
        self.ids: Sequence[int] | None = None
        self.error: BaseException | None = None
        self.finished = False  # its group ran (ids or error set)
        self.leads = False  # it runs the next group (the queue's first)
        self.wake = threading.Event()  # set after `finished` or `leads` is


class GroupCommit:
    """Runs `insert(stored_events, kwargs)` (one transaction: the recorder's own insert) for a save
    alone, or once for the events and merged kwargs of several queued saves; see the module."""

    def __init__(self, insert: Callable[[Sequence[StoredEvent], dict[str, Any]], Sequence[int]]) -> None:
        self._insert = insert
        self._lock = threading.Lock()
        self._queue: list[_Pending] = []
        self._running = False  # a group (or a save alone) is under way
        self.groups = 0  # groups of more than one save run (for tests and benches)

    @staticmethod
    def joins(stored_events: Sequence[StoredEvent], kwargs: dict[str, Any]) -> bool:
        return 0 < len(stored_events) <= MAX_EVENTS and kwargs.get("tracking") is None \
            and set(kwargs) - {"tracking"} <= JOINABLE and not in_transaction()

    def insert(self, stored_events: Sequence[StoredEvent], kwargs: dict[str, Any]) -> Sequence[int]:
        pending = _Pending(stored_events, kwargs)
        with self._lock:
            self._queue.append(pending)
            if not self._running:  # the queue was empty: this save runs at once
                self._running = pending.leads = True
        while True:
            if pending.leads:
                pending.leads = False
                self._lead()
            if pending.finished:
                break
            pending.wake.wait()
            pending.wake.clear()
        if pending.error is not None:
            raise pending.error
        assert pending.ids is not None
        return pending.ids

    def _lead(self) -> None:
        """Run the queued saves (this thread's the first of them) as one group, then hand the lead
        to the first save queued meanwhile (its own thread runs the next group: none waits for
        another's), or end the run."""
        with self._lock:
            group, self._queue = self._take(self._queue)
        try:
            self._run(group)
        finally:
            for p in group:
                p.finished = True
                p.wake.set()
            with self._lock:
                if self._queue:
                    self._queue[0].leads = True
                    self._queue[0].wake.set()
                else:
                    self._running = False

    @staticmethod
    def _take(queue: list[_Pending]) -> tuple[list[_Pending], list[_Pending]]:
        taken, events = 0, 0
        for p in queue:
            if taken and events + len(p.stored_events) > MAX_EVENTS:
                break
            taken, events = taken + 1, events + len(p.stored_events)
        return queue[:taken], queue[taken:]

    def _run(self, group: list[_Pending]) -> None:
        if len(group) > 1:
            try:
                ids = self._insert([e for p in group for e in p.stored_events], _joined(group))
            except ROLLED_BACK:
                pass  # each runs again alone below, and gets its own outcome
            except BaseException as e:  # noqa: BLE001 - may have committed: as a save alone, not run again
                for p in group:
                    p.error = e
                return
            else:
                self.groups += 1
                start = 0
                for p in group:
                    p.ids, start = ids[start:start + len(p.stored_events)], start + len(p.stored_events)
                return
        for p in group:
            try:
                p.ids = self._insert(p.stored_events, p.kwargs)
            except BaseException as e:  # noqa: BLE001 - this save's own failure, raised in its thread
                p.error = e


def _joined(group: list[_Pending]) -> dict[str, Any]:
    """The kwargs of one save of the group's events: the ledger rows of all, their domain events
    (when every save passed them), and their sealed keys merged."""
    kwargs: dict[str, Any] = {}
    creations = [row for p in group for row in p.kwargs.get("creations") or ()]
    if creations:
        kwargs["creations"] = creations
    if all(len(p.kwargs.get("in_memory_events") or ()) == len(p.stored_events) for p in group):
        kwargs["in_memory_events"] = [e for p in group for e in p.kwargs["in_memory_events"]]
    keys = [k for p in group if (k := p.kwargs.get("sealed_with")) is not None]
    if keys:
        kwargs["sealed_with"] = SubjectKeys({s: key for k in keys for s, key in k.keys.items() if key is not None},
                                            min(k.valid_to for k in keys))
    return kwargs
