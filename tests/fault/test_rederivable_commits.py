"""The loops' commits do not wait for the disk, and losing them loses and doubles nothing
(store/rederivable.py, issue 15).

The relay's records and the log followers' batches commit without their WAL flush (PostgreSQL
`synchronous_commit = off`, SQLite `synchronous = NORMAL`); a save's commit still waits for it.
What a crash of the database server or host can then lose is those last commits, all of each or
nothing (one transaction each): the state a writer killed right before them leaves. That is made
here by putting the loops' tables back as they were before the last commands (a server crash
cannot be caused on a shared test database), and the service started again re-derives them: the
read models and the relay's chain as they were, the stream with every event once.
"""

from __future__ import annotations

import contextlib
import json
import sqlite3
from typing import Any

import pytest
from sqlalchemy import Engine, Table, event, select

from libs.platform.messaging.outbox import relay_chain, relay_positions
from libs.platform.store.db import make_engine
from libs.platform.store.rederivable import NO_FLUSH_WAIT, begin, rederivable
from tests.e2e.test_consultation_slice import _setup_case
from tests.harness import backend, eventually, stream_messages
from tests.statements import round_trips

WHEN = "2016-05-01T10:00:00+09:00"


class Commits:
    """Each transaction committed on the engines watched: the statements it sent and whether its
    commit waited for the disk (SQLite's synchronous level, PostgreSQL's synchronous_commit)."""

    def __init__(self, *engines: Engine) -> None:
        self.open: dict[int, list[str]] = {}
        self.done: list[tuple[Engine, list[str], bool]] = []
        self._listeners = [(e, name, fn) for e in engines for name, fn in
                           (("before_cursor_execute", self._sent), ("commit", self._commit),
                            ("rollback", self._rollback))]
        for target, name, fn in self._listeners:
            event.listen(target, name, fn)

    def close(self) -> None:
        for target, name, fn in self._listeners:
            event.remove(target, name, fn)

    def _sent(self, conn: Any, _cursor: Any, statement: str, *_: Any) -> None:
        self.open.setdefault(id(conn.connection.dbapi_connection), []).append(statement)

    def _rollback(self, conn: Any) -> None:
        self.open.pop(id(conn.connection.dbapi_connection), None)

    def _commit(self, conn: Any) -> None:
        dbapi = conn.connection.dbapi_connection
        statements = self.open.pop(id(dbapi), [])
        if isinstance(dbapi, sqlite3.Connection):
            waits = dbapi.execute("PRAGMA synchronous").fetchone()[0] >= 2  # FULL
        elif int(dbapi.info.transaction_status) != 0:  # still open: ask the server
            with dbapi.cursor() as cursor:
                cursor.execute("SHOW synchronous_commit")
                waits = cursor.fetchone()[0] != "off"
        else:  # its COMMIT went with its statements (the relay's one-query record)
            waits = not any(NO_FLUSH_WAIT in s for s in statements)
        self.done.append((conn.engine, statements, waits))

    def of(self, engine: Engine, table: str | None = None) -> list[bool]:
        return [waits for e, statements, waits in self.done
                if e is engine and (table is None or any(table in s for s in statements))]


def test_the_loops_commits_do_not_wait_for_the_disk_and_a_saves_does(nats_server, start_service):
    intake = start_service("intake", nats_server.url)
    runtime = intake.runtime
    store = runtime.application.recorder.datastore.engine
    commits = Commits(runtime.engine, store)
    try:
        centre, case = _setup_case(intake)
        with intake.client(role="centre_staff", org=centre) as staff:
            for _ in range(3):
                assert staff.post(f"/v1/cases/{case}/consultations",
                                  json={"channel": "phone", "occurred_at": WHEN}).status_code == 201
        end = runtime.application.recorder.max_notification_id()
        eventually(lambda: runtime.relay.position()[0] == end
                   and all(f.handler.position(f.stream) == end for f in runtime.followers), timeout=30)
    finally:
        commits.close()
    saves, followers, relay = commits.of(store), commits.of(runtime.engine, "projection_positions"), \
        commits.of(runtime.engine, "relay_positions")
    assert saves and all(saves)  # every save's commit waits for the disk
    assert followers and not any(followers)
    assert relay and not any(relay)
    others = [waits for e, statements, waits in commits.done if e is runtime.engine and not any(
        "projection_positions" in s or "relay_positions" in s for s in statements)]
    assert all(others)  # a subject's key, a lease: as before


def _rows(engine: Engine, tables: list[Table]) -> dict[str, list[dict[str, Any]]]:
    with engine.connect() as conn:
        return {t.name: sorted((dict(r._mapping) for r in conn.execute(select(t))), key=repr) for t in tables}


def _put_back(engine: Engine, tables: list[Table], rows: dict[str, list[dict[str, Any]]]) -> None:
    with engine.begin() as conn:
        for table in tables:
            conn.execute(table.delete())
            if rows[table.name]:
                conn.execute(table.insert(), rows[table.name])


def test_the_loops_last_commits_lost_are_re_derived_once(nats_server, start_service):
    intake = start_service("intake", nats_server.url)
    runtime = intake.runtime
    read_models = {t.name: t for f in runtime.followers for t in f.handler.metadata.sorted_tables}
    tables = [*sorted(read_models.values(), key=lambda t: t.name), relay_positions, relay_chain]
    centre, case = _setup_case(intake)

    def caught_up() -> bool:
        end = runtime.application.recorder.max_notification_id()
        return runtime.relay.position()[0] == end and all(f.handler.position(f.stream) == end
                                                          for f in runtime.followers)

    def record(n: int) -> None:
        with intake.client(role="centre_staff", org=centre) as staff:
            for _ in range(n):
                assert staff.post(f"/v1/cases/{case}/consultations",
                                  json={"channel": "phone", "occurred_at": WHEN}).status_code == 201
        eventually(caught_up, timeout=30)

    record(2)
    before = _rows(runtime.engine, tables)  # as the loops' commits had left them before the last commands
    record(3)
    whole = _rows(runtime.engine, tables)
    assert whole != before
    intake.stop()
    _put_back(runtime.engine, tables, before)  # the loops' commits since were lost, the saves' were not
    intake.start()
    runtime = intake.runtime
    eventually(caught_up, timeout=30)
    again = _rows(runtime.engine, tables)
    for rows in (again, whole):
        for row in rows[relay_positions.name]:
            del row["updated_at"]  # when it was recorded
    assert again == whole  # the same read models, positions and chain: nothing lost, nothing twice
    with intake.client(role="centre_staff", org=centre) as staff:
        assert staff.get(f"/v1/cases/{case}/consultations").json()["count"] == 5
    ids = [json.loads(m.data)["id"] for m in stream_messages(nats_server.url, runtime.relay.spec.name)]
    events = runtime.application.recorder.select_notifications(start=1, limit=1000)
    assert len(ids) == len(set(ids)) == len(events)  # every event once on the stream


@pytest.mark.skipif(backend() != "postgresql", reason="psycopg's BEGIN is a round trip there")
def test_a_rederivable_transaction_makes_no_round_trip_more_on_postgresql(database):
    engine = make_engine(database.settings("rederivable", "nats://127.0.0.1:1"))
    try:
        for relaxed, setting in ((False, "on"), (True, "off")):
            with round_trips(engine) as trips, contextlib.ExitStack() as stack:
                if relaxed:
                    stack.enter_context(rederivable())
                with begin(engine) as conn:
                    assert conn.exec_driver_sql("SHOW synchronous_commit").scalar() == setting
            assert len(trips) == 3, trips  # BEGIN (with the SET when relaxed), the statement, COMMIT
        with engine.connect() as conn:
            assert conn.connection.dbapi_connection.autocommit is False  # back at checkin
    finally:
        engine.dispose()
