"""The round trips of a save on PostgreSQL (issue 15): no ping at its checkout, and its BEGIN sent
with its first statement. A save whose pooled connection had died runs its first statement again
on a new connection and its events are stored once (store/core_inserts.CoreInserts._first_statement);
a save that fails after its first statement stores nothing, and a connection goes back to the pool out of
the driver's autocommit (store/db.begin_rides). Its COMMIT goes with its last statement
(store/db.commit_rides), and a save whose last statement fails stores nothing."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any
from uuid import uuid4

import pytest
from eventsourcing.persistence import IntegrityError, PersistenceError, Tracking
from sqlalchemy import Engine, event, text

from libs.platform.store.creations import LedgerRow
from services.intake.application import IntakeApplication
from services.intake.domain.case import Case
from tests.harness import backend, stored_applications, terminate_backend
from tests.statements import sent_statements

pytestmark = pytest.mark.skipif(backend() != "postgresql", reason="a ping is a round trip on PostgreSQL")

WHEN = datetime(2016, 5, 1, 10, tzinfo=UTC)


def _case() -> Case:
    return Case.open(id=uuid4(), tenant="130001", centre_id=uuid4(), client_kind="person", age_group="adult",
                     personal_details=None)


def _consulted(case: Case) -> Case:
    case.record_consultation(consultation_id=uuid4(), channel="phone", consulted_by="person", occurred_at=WHEN,
                             summary=None)
    return case


def _pings(engine: Engine) -> list[int]:
    """Counts the pings the engine's dialect sends (instrumented, not replaced: each still runs)."""
    pings: list[int] = []
    do_ping = engine.dialect.do_ping

    def counted(dbapi_connection: Any) -> bool:
        pings.append(1)
        return do_ping(dbapi_connection)

    engine.dialect.do_ping = counted  # type: ignore[method-assign]
    return pings


def _pooled_pids(engine: Engine) -> list[int]:
    """The backend of each connection idle in the engine's pool (checked out and in again)."""
    with engine.connect() as conn:
        return [conn.execute(text("SELECT pg_backend_pid()")).scalar_one()]


def test_a_save_takes_no_ping(tmp_path) -> None:
    with stored_applications(tmp_path, "intake", IntakeApplication) as (_engine, application):
        app = application()
        case = _case()
        app.save(case)  # the pool's connection is made (a new one is not pinged either)
        pings = _pings(app.recorder.datastore.engine)
        app.save(_consulted(case))
        assert pings == []
        assert app.repository.get(case.id).version == 2


def test_a_save_whose_pooled_connection_died_is_stored_once_on_a_new_one(tmp_path) -> None:
    with stored_applications(tmp_path, "intake", IntakeApplication) as (_engine, application):
        app = application()
        engine = app.recorder.datastore.engine
        case = _case()
        app.save(case)
        before = app.recorder.max_notification_id()
        [pid] = _pooled_pids(engine)
        terminate_backend(pid)
        app.save(_consulted(case))  # no error: its first statement ran again on a new connection
        assert _pooled_pids(engine) != [pid]
        stored = app.recorder.select_notifications(start=before + 1, limit=10)
        assert [(n.originator_id, n.originator_version) for n in stored] == [(case.id, 2)]
        assert app.repository.get(case.id).version == 2


def test_a_save_sends_its_begin_with_its_first_statement_and_leaves_no_autocommit_behind(tmp_path) -> None:
    with stored_applications(tmp_path, "intake", IntakeApplication) as (_engine, application):
        app = application()
        engine = app.recorder.datastore.engine
        case = _case()
        app.save(case)
        sent: list[str] = []

        def execute(conn: Any, _cursor: Any, statement: str, *_: Any) -> None:
            dbapi = conn.connection.dbapi_connection
            if not dbapi.autocommit and int(dbapi.info.transaction_status) == 0:
                sent.append("BEGIN")  # what psycopg sends on its own before the statement
            sent.append(statement.split()[0])

        event.listen(engine, "before_cursor_execute", execute)
        try:
            app.save(_consulted(case))
        finally:
            event.remove(engine, "before_cursor_execute", execute)
        assert sent[0] == "BEGIN;" and "BEGIN" not in sent  # one simple query: BEGIN; ... LOCK ...
        with engine.connect() as conn:
            assert conn.connection.dbapi_connection.autocommit is False


def test_a_save_that_fails_after_its_first_statement_stores_nothing(tmp_path) -> None:
    with stored_applications(tmp_path, "intake", IntakeApplication) as (_engine, application):
        app = application()
        engine = app.recorder.datastore.engine
        case = _case()
        app.save(case)
        before = app.recorder.max_notification_id()

        def fail_after_the_insert(_conn: Any, _cursor: Any, statement: str, *_: Any) -> None:
            if "INSERT" in statement:  # the events are inserted (with the LOCK): the save fails now
                raise RuntimeError("cut after the events' insert")

        event.listen(engine, "after_cursor_execute", fail_after_the_insert)
        try:
            with pytest.raises((RuntimeError, PersistenceError)):
                app.save(_consulted(case))
        finally:
            event.remove(engine, "after_cursor_execute", fail_after_the_insert)
        assert app.recorder.max_notification_id() == before
        assert [e.originator_version for e in app.recorder.select_events(case.id)] == [1]
        with engine.connect() as conn:
            assert conn.connection.dbapi_connection.autocommit is False


def test_a_save_sends_its_commit_with_its_last_statement(tmp_path) -> None:
    """The ledger row's INSERT carries the COMMIT (store/bulk.insert_all): when the library commits,
    the server is idle already and psycopg sends nothing; everything of the save is stored."""
    with stored_applications(tmp_path, "intake", IntakeApplication) as (_engine, application):
        app = application()
        engine = app.recorder.datastore.engine
        case = _case()
        app.save(case)
        statuses: list[int] = []  # the server's transaction status when the library commits (0: idle)
        do_commit = engine.dialect.do_commit

        def commit(dbapi_connection: Any) -> None:
            statuses.append(int(dbapi_connection.driver_connection.info.transaction_status))
            do_commit(dbapi_connection)

        engine.dialect.do_commit = commit
        try:
            with sent_statements(engine) as sent:
                consulted = _consulted(case)
                app.save(consulted, creations=[_ledger_row(consulted)])
        finally:
            engine.dialect.do_commit = do_commit
        assert sent[-1].startswith("INSERT INTO intake_creations") and sent[-1].endswith("; COMMIT")
        assert statuses == [0]
        assert app.ledger.of_resource(consulted.id, consulted.id) == _ledger_row(consulted)
        assert [e.originator_version for e in app.recorder.select_events(case.id)] == [1, 2]
        with engine.connect() as conn:
            assert conn.connection.dbapi_connection.autocommit is False


def test_a_save_whose_last_statement_fails_stores_nothing(tmp_path) -> None:
    """A ledger row that breaks its unique key fails the INSERT that carries the COMMIT: the query
    stops there, and neither the events nor the row are stored."""
    with stored_applications(tmp_path, "intake", IntakeApplication) as (_engine, application):
        app = application()
        case = _case()
        app.save(case)
        consulted = _consulted(case)
        app.save(consulted, creations=[_ledger_row(consulted)])
        before = app.recorder.max_notification_id()
        again = _consulted(app.repository.get(case.id))
        with pytest.raises(IntegrityError):  # the same resource's row again
            app.save(again, creations=[_ledger_row(consulted)])
        assert app.recorder.max_notification_id() == before
        assert [e.originator_version for e in app.recorder.select_events(case.id)] == [1, 2]
        app.save(_consulted(app.repository.get(case.id)))  # the pool's connection is sound
        assert app.repository.get(case.id).version == 3


def _ledger_row(case: Case) -> LedgerRow:
    return LedgerRow(str(case.id), "case", str(case.id), case.version, None, None)


def test_a_tracked_save_commits_its_tracking_row_with_its_events(tmp_path) -> None:
    """The library added a tracked save's tracking row to the session and wrote it at the commit's
    flush: a COMMIT carried by the save's last INSERT would have left the row to a transaction of
    its own after the events. The row is written first now (LedgerRecorder._insert_tracking), so
    nothing of the save comes after a COMMIT the last INSERT carries."""
    with stored_applications(tmp_path, "intake", IntakeApplication) as (_engine, application):
        app = application()
        engine = app.recorder.datastore.engine
        case = _case()
        app.save(case)
        consulted = _consulted(case)
        stored = app.mapper.to_stored_event(consulted.collect_events()[0])
        with sent_statements(engine) as sent:
            app.recorder.insert_events([stored], tracking=Tracking("upstream", 7), creations=[_ledger_row(consulted)])
        tracking = app.recorder.tracking_table.name
        committed = [k for k, s in enumerate(sent) if s.endswith("; COMMIT")]
        assert all(tracking not in s for s in sent[committed[0]:]) if committed else True
        assert any(tracking in s for s in sent)
        assert app.recorder.max_tracking_id("upstream") == 7
        assert app.ledger.of_resource(consulted.id, consulted.id) == _ledger_row(consulted)


def test_a_save_sends_its_events_with_its_lock_in_one_round_trip_and_its_ledger_row_with_its_commit(
        tmp_path) -> None:
    """The events' INSERT travels in the LOCK's simple query (store/core_inserts.CoreInserts.insert_rows), so
    a save of a consultation and its ledger row is two round trips; the ids it answers are the
    stored ones."""
    with stored_applications(tmp_path, "intake", IntakeApplication) as (_engine, application):
        app = application()
        case = _case()
        app.save(case)
        with sent_statements(app.recorder.datastore.engine) as sent:
            consulted = _consulted(case)
            [recording] = app.save(consulted, creations=[_ledger_row(consulted)])
        assert len(sent) == 2
        assert "LOCK TABLE" in sent[0] and "INSERT INTO" in sent[0] and sent[1].endswith("; COMMIT")
        [stored] = [n for n in app.recorder.select_notifications(start=None, limit=10) if n.originator_version == 2]
        assert recording.notification.id == stored.id
        assert [e.originator_version for e in app.recorder.select_events(case.id)] == [1, 2]
