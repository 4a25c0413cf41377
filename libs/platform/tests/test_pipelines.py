"""A replica stopped (SIGSTOP) in the middle of a transaction must not keep its locks for longer
than a lease (store/db.py). PostgreSQL's idle_in_transaction_session_timeout ends a session that
waits for its next statement, but not one inside a pipeline (psycopg 3's executemany): that backend
is `active`, waiting for the rest, and keeps its locks for as long as the sender is stopped. So our
engines send an INSERT of many rows as one statement."""

from __future__ import annotations

import time
import uuid

import psycopg
import pytest
from sqlalchemy import Column, Integer, MetaData, Table, create_engine, event, make_url, text

from libs.platform.store.db import no_pipelines
from tests.harness import POSTGRES_URL, backend

postgres = pytest.mark.skipif(backend() != "postgresql", reason="a PostgreSQL fact")


def _libpq(url: str) -> str:
    u = make_url(url)
    return f"host={u.host} port={u.port or 5432} user={u.username} dbname={u.database}"


@postgres
def test_a_backend_inside_a_pipeline_keeps_its_locks_past_the_idle_transaction_timeout():
    """Why: the fact the engines work around (a lock of a stopped sender is never let go)."""
    table = f"t_pipe_{uuid.uuid4().hex[:8]}"
    other = psycopg.connect(_libpq(POSTGRES_URL), autocommit=True)
    other.execute(f"CREATE TABLE {table} (id int PRIMARY KEY)")
    other.execute(f"INSERT INTO {table} VALUES (1)")
    stopped = psycopg.connect(_libpq(POSTGRES_URL), autocommit=True,
                              options="-cidle_in_transaction_session_timeout=500")
    try:
        pg = stopped.pgconn  # a pipeline sent up to its middle: no Sync yet, as a stopped sender leaves it
        pg.enter_pipeline_mode()
        pg.send_query_params(b"BEGIN", None)
        pg.send_query_params(f"SELECT 1 FROM {table} WHERE id = 1 FOR SHARE".encode(), None)
        pg.send_flush_request()
        pg.flush()
        time.sleep(1.5)  # three times the timeout
        other.execute("SET lock_timeout = '1s'")
        with pytest.raises(psycopg.errors.LockNotAvailable):
            other.execute(f"UPDATE {table} SET id = 1 WHERE id = 1")
    finally:
        other.execute("SELECT pg_terminate_backend(%s)", (stopped.pgconn.backend_pid,))
        other.execute(f"DROP TABLE {table}")
        other.close()


@postgres
def test_an_insert_of_many_rows_is_one_statement_on_our_engines():
    engine = no_pipelines(create_engine(POSTGRES_URL))
    table = Table(f"t_rows_{uuid.uuid4().hex[:8]}", MetaData(), Column("id", Integer, primary_key=True))
    table.create(engine)
    sent: list[str] = []  # how each reached the driver
    event.listen(engine, "do_execute", lambda cursor, statement, parameters, context: sent.append("execute"))
    event.listen(engine, "do_executemany", lambda cursor, statement, parameters, context: sent.append("executemany"))
    try:
        with engine.begin() as conn:
            conn.execute(table.insert(), [{"id": i} for i in range(50)])
        assert sent == ["execute"]  # one statement, not psycopg's pipeline of fifty
        with engine.connect() as conn:
            assert conn.execute(text(f"SELECT count(*) FROM {table.name}")).scalar() == 50
    finally:
        table.drop(engine)
        engine.dispose()
