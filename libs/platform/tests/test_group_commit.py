"""Group commit on PostgreSQL and on a SQLite file (store/group_commit.py): saves that queue behind
one under way are stored by the next one in one transaction, each answered with its own positions; a
save of the group that fails (a lost race on its aggregate's version) fails alone, the others are
stored."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

from eventsourcing.persistence import IntegrityError
from sqlalchemy import event

from libs.platform.store.creations import LedgerRow
from libs.platform.tests.test_save_round_trips import _case, _consulted
from services.intake.application import IntakeApplication
from tests.harness import stored_applications


def _wait_for(condition: Callable[[], bool], what: str) -> None:
    deadline = time.monotonic() + 30
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"not seen within 30 s: {what}")
        time.sleep(0.01)


@contextmanager
def _first_save_held(app: Any) -> Iterator[threading.Event]:
    """The next save waits at its first statement (PostgreSQL: its LOCK; SQLite: its events' INSERT,
    the write lock taken by its BEGIN IMMEDIATE) until the yielded event is set (the saves started
    meanwhile queue behind it)."""
    engine = app.recorder.datastore.engine
    gate, held = threading.Event(), threading.Event()
    first = "LOCK TABLE" if engine.dialect.name == "postgresql" else f"INSERT INTO {app.recorder.events_table_name} "

    def hold(_conn: Any, _cursor: Any, statement: str, *_: Any) -> None:
        if first in statement and not held.is_set():
            held.set()
            gate.wait(30)

    event.listen(engine, "before_cursor_execute", hold)
    try:
        yield gate
    finally:
        gate.set()
        event.remove(engine, "before_cursor_execute", hold)


def _save_in_threads(app: Any, batches: list[tuple[Any, ...]], outcomes: dict[int, Any],
                     first: int = 0) -> list[threading.Thread]:
    """Each batch (an aggregate, then its ledger rows) saved in a thread of its own; its outcome (the
    recordings, or the error) at outcomes[first + its index]."""
    def save(k: int, objs: tuple[Any, ...]) -> None:
        try:
            outcomes[k] = app.save(*objs[:1], creations=list(objs[1:]))
        except Exception as e:  # noqa: BLE001 - the test looks at each save's outcome
            outcomes[k] = e

    threads = [threading.Thread(target=save, args=(first + k, objs)) for k, objs in enumerate(batches)]
    for t in threads:
        t.start()
    return threads


def test_saves_queued_behind_one_under_way_are_stored_in_one_transaction_each_with_its_own_positions(
        tmp_path) -> None:
    with stored_applications(tmp_path, "intake", IntakeApplication) as (_engine, application):
        app = application()
        cases = [_case() for _ in range(6)]
        app.save(*cases)
        group = app.recorder.group
        outcomes: dict[int, Any] = {}
        with _first_save_held(app) as gate:
            first = _save_in_threads(app, [(_consulted(cases[0]),)], outcomes)
            _wait_for(lambda: group._running, "the first save under way")
            rest = _save_in_threads(app, [(_consulted(c), LedgerRow(str(c.id), "case", str(c.id), 2, None, None))
                                          for c in cases[1:]], outcomes, 1)
            _wait_for(lambda: len(group._queue) == 5, "five saves queued")
            gate.set()
            for t in first + rest:
                t.join(30)
        assert group.groups == 1
        stored = {(n.originator_id, n.originator_version): n.id
                  for n in app.recorder.select_notifications(start=None, limit=100)}
        for k, case in enumerate(cases):
            [recording] = outcomes[k]
            assert stored[(case.id, 2)] == recording.notification.id
            assert [e.originator_version for e in app.recorder.select_events(case.id)] == [1, 2]
        for case in cases[1:]:
            assert app.ledger.of_resource(case.id, case.id) is not None


def test_a_save_of_a_group_that_lost_its_race_fails_alone_and_the_others_are_stored(tmp_path) -> None:
    with stored_applications(tmp_path, "intake", IntakeApplication) as (_engine, application):
        app = application()
        cases = [_case() for _ in range(3)]
        app.save(*cases)
        stale = app.repository.get(cases[1].id)  # a second copy at version 1: its consultation races
        group = app.recorder.group
        outcomes: dict[int, Any] = {}
        with _first_save_held(app) as gate:
            first = _save_in_threads(app, [(_consulted(cases[0]),)], outcomes)
            _wait_for(lambda: group._running, "the first save under way")
            rest = _save_in_threads(app, [(_consulted(cases[1]),), (_consulted(stale),), (_consulted(cases[2]),)],
                                    outcomes, 1)
            _wait_for(lambda: len(group._queue) == 3, "three saves queued")
            gate.set()
            for t in first + rest:
                t.join(30)
        assert isinstance(outcomes[1], list) != isinstance(outcomes[2], list)  # one of the racing two won
        assert isinstance(outcomes[1] if not isinstance(outcomes[1], list) else outcomes[2], IntegrityError)
        assert isinstance(outcomes[0], list) and isinstance(outcomes[3], list)
        for case in cases:
            assert [e.originator_version for e in app.recorder.select_events(case.id)] == [1, 2]
        assert group.groups == 0  # the group failed and each ran alone
