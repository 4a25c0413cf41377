"""A sealing command's save checks the erasure log under its own lock (privacy/sealed_values.py):
an erasure committed by another replica while the save waits for the events' lock refuses it
(410), and on PostgreSQL an erasure that comes after the check waits for the save to end.

The interleavings are driven, not timed: a test connection holds the lock the save waits for
(seen waiting in pg_stat_activity, or about to write on SQLite) while the erasure commits, and a
hook holds the save inside its transaction, right after its check, while an erasure is tried."""

from __future__ import annotations

import sqlite3
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from typing import Any
from uuid import UUID, uuid4

import pytest
from sqlalchemy import event, text

from libs.domain.errors import InvalidInput
from libs.platform.privacy.sealed_values import ERASED, INLINE_SUBJECTS, SubjectForgotten
from libs.platform.store.sqlite_begin import event_store_writes
from libs.platform.web.auth import Principal
from services.intake.application import IntakeApplication
from services.intake.application.imports import ImportItem
from services.intake.domain.case import Case
from services.intake.tests.test_concurrent_consultations import _open_case
from tests.harness import backend, eventually, stored_applications

WHEN = datetime(2016, 5, 1, 10, tzinfo=UTC)


def _visit(app: IntakeApplication, actor: Principal, case_id: UUID, summary: str) -> Any:
    """A sealing command (its key from the replica's cache, checked by its save)."""
    return app.record_outreach_visit(actor, case_id, expected_version=None, staff_role="outreach_worker",
                                     occurred_at=WHEN, summary=summary)


class Running:
    """A call in a thread of its own: its result or its error once it ended."""

    def __init__(self, call: Callable[[], Any], name: str | None = None) -> None:
        self.result: Any = None
        self.error: BaseException | None = None
        self.done = threading.Event()
        self.thread = threading.Thread(target=self._run, args=(call,), daemon=True, name=name)
        self.thread.start()

    def _run(self, call: Callable[[], Any]) -> None:
        try:
            self.result = call()
        except BaseException as e:  # noqa: BLE001 — handed to the test, which asserts on it
            self.error = e
        finally:
            self.done.set()

    def join(self) -> Any:
        assert self.done.wait(60), "the call did not end"
        return self.result


def _waiting_for_a_lock(engine: Any, table: str) -> bool:
    """A backend runs `LOCK TABLE table` and waits for that lock (PostgreSQL): the table of this
    test's schema (the engine's search path), not a namesake of another test's running beside it."""
    with engine.connect() as conn:
        return bool(conn.execute(text(
            "SELECT count(*) FROM pg_locks l JOIN pg_stat_activity a ON a.pid = l.pid WHERE NOT l.granted "
            "AND l.relation = to_regclass(:table) AND a.query LIKE :q"),
            {"table": table, "q": f"%LOCK TABLE {table}%"}).scalar())


@contextmanager
def _write_begun_by(engine: Any, thread: str, begun: threading.Event) -> Iterator[None]:
    """`begun` set when the thread of that name begins a write transaction on the engine (SQLite:
    right before its BEGIN IMMEDIATE, which then waits for the write lock)."""
    def begin(conn: Any) -> None:
        if threading.current_thread().name == thread and event_store_writes(conn):
            begun.set()

    event.listen(engine, "begin", begin)
    try:
        yield
    finally:
        event.remove(engine, "begin", begin)


def _cases(app: IntakeApplication, n: int) -> tuple[list[UUID], Principal]:
    centre = uuid4()
    cases = [Case.open(id=uuid4(), tenant="130001", centre_id=centre, client_kind="person", age_group="adult",
                       personal_details=None) for _ in range(n)]
    app.save(*cases)
    return [c.id for c in cases], Principal(sub="staff", org=str(centre), roles=frozenset({"centre_staff"}))


def _one_visit(app: IntakeApplication) -> tuple[UUID, Callable[[], Any]]:
    """A command of one subject, its key cached: the check inline in the save's LOCK round trip."""
    case_id, actor = _open_case(app)
    _visit(app, actor, case_id, "訪問")
    return case_id, lambda: _visit(app, actor, case_id, "消去の後")


def _an_import(app: IntakeApplication) -> tuple[UUID, Callable[[], Any]]:
    """An import of more subjects than the inline check names: checked with parameters after its
    insert; refused whole (422 naming the erased case) once run again after the keys' look."""
    case_ids, actor = _cases(app, INLINE_SUBJECTS + 10)
    app.sealer.keys(str(i) for i in case_ids)  # made before: the import's first write is its save's
    items = [ImportItem(case_id=i, channel="phone", consulted_by="person", occurred_at=WHEN, summary="一括")
             for i in case_ids]
    return case_ids[-1], lambda: app.import_consultations(actor, items, None)


@pytest.mark.parametrize(("prepare", "refusal"), [(_one_visit, SubjectForgotten), (_an_import, InvalidInput)],
                         ids=["command", "import"])
def test_a_save_waiting_for_the_events_lock_while_another_replica_erases_its_subject_is_refused(
        tmp_path, prepare: Callable[[IntakeApplication], tuple[UUID, Callable[[], Any]]], refusal: type) -> None:
    """The erasure commits while the save waits for its lock, recorded without touching the
    aggregate (no version conflict catches it): the save's check must see it."""
    with stored_applications(tmp_path, "intake", IntakeApplication) as (engine, application):
        first, second = application(), application()  # two replicas of one service
        case_id, run = prepare(first)  # the subject's key made (and cached) in `first`
        version = first.repository.get(case_id).version
        count = _stored(first)
        store = first.factory.datastore.engine
        table = first.recorder.events_table_name
        if backend() == "postgresql":
            with engine.connect() as holder:
                holder.execute(text(f"LOCK TABLE {table} IN EXCLUSIVE MODE"))
                save = Running(run)
                eventually(lambda: save.done.is_set() or _waiting_for_a_lock(engine, table))
                assert not save.done.is_set(), save.error
                second.sealer.forget(str(case_id))  # another replica's erasure commits meanwhile
                holder.rollback()  # the lock released
        else:
            # SQLite: the erasure is the writer the save waits for (its BEGIN IMMEDIATE, which
            # takes the database's write lock first: store/sqlite_begin.py, waits on it).
            writing = threading.Event()
            holder = sqlite3.connect(store.url.database, isolation_level=None)
            try:
                holder.execute("BEGIN IMMEDIATE")
                with _write_begun_by(store, "the save", writing):
                    save = Running(run, name="the save")
                    eventually(lambda: save.done.is_set() or writing.is_set())
                    assert not save.done.is_set(), save.error
                    holder.execute("INSERT INTO subject_key_erasures (subject) VALUES (?)", (str(case_id),))
                    holder.execute("UPDATE subject_keys SET wrapped_key = NULL, forgotten_at = ? WHERE subject = ?",
                                   (datetime.now(UTC).isoformat(), str(case_id)))
                    holder.execute("COMMIT")
                    save.done.wait(60)
            finally:
                holder.close()
        save.join()
        assert isinstance(save.error, refusal), save.error  # run again after a look, which refuses it
        assert second.repository.get(case_id).version == version  # nothing stored
        assert application().repository.get(case_id).version == version
        assert _stored(first) == count


def _stored(app: IntakeApplication) -> int:
    return app.recorder.max_notification_id() or 0


@pytest.mark.skipif(backend() != "postgresql", reason="SQLite's writers are one at a time: no erasure comes "
                                                      "between a save's check and its commit")
def test_an_erasure_tried_after_a_saves_check_waits_until_that_save_committed(tmp_path) -> None:
    with stored_applications(tmp_path, "intake", IntakeApplication) as (engine, application):
        first, second = application(), application()
        case_id, actor = _open_case(first)
        _visit(first, actor, case_id, "訪問")
        version = first.repository.get(case_id).version
        store = first.factory.datastore.engine
        checked, go_on = threading.Event(), threading.Event()
        save_thread: list[threading.Thread] = []

        def after(_conn: Any, _cursor: Any, statement: str, *_: Any) -> None:
            if save_thread and threading.current_thread() is save_thread[0] and "subject_key_erasures" in statement:
                checked.set()
                assert go_on.wait(60)  # the save held in its transaction, its check done

        event.listen(store, "after_cursor_execute", after)
        try:
            def visit() -> Any:
                save_thread.append(threading.current_thread())
                return _visit(first, actor, case_id, "消去の前")

            save = Running(visit)
            eventually(lambda: save.done.is_set() or checked.is_set())
            assert not save.done.is_set(), save.error
            forget = Running(lambda: second.sealer.forget(str(case_id)))
            eventually(lambda: forget.done.is_set() or
                       _waiting_for_a_lock(engine, "subject_key_erasures"))
            assert not forget.done.is_set(), "the erasure committed between the save's check and its commit"
            go_on.set()
            save.join()
            assert save.error is None, save.error
            forget.join()
            assert forget.error is None, forget.error
        finally:
            go_on.set()
            event.remove(store, "after_cursor_execute", after)
        other = application()
        assert other.repository.get(case_id).version == version + 1  # stored before the erasure ...
        assert other.sealer.open(list(other.events.get(case_id))[-1].summary) == ERASED  # ... which shredded it
