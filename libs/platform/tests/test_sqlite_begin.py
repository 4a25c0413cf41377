"""SQLite transactions whose reads are in them (store/sqlite_begin.py): pysqlite sent BEGIN only
before a transaction's first write, so what it read before could be changed by another connection's
commit before it wrote (the deferred-BEGIN class)."""

from __future__ import annotations

import gc
import os
import sqlite3
import threading
import time
import warnings
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any
from uuid import uuid4

import pytest
from eventsourcing.persistence import IntegrityError
from sqlalchemy import Column, Engine, Integer, MetaData, Table, event, select

from libs.platform.privacy.sealing import Sealer
from libs.platform.store.db import sqlite_engine
from libs.platform.store.sqlite_begin import WAIT, WriteWithinWrite
from services.intake.application import IntakeApplication
from services.intake.domain.centre import Centre
from tests.harness import backend, stored_applications

sqlite_only = pytest.mark.skipif(backend() == "postgresql", reason="SQLite's transactions")

metadata = MetaData()
counters = Table("counters", metadata, Column("id", Integer, primary_key=True), Column("value", Integer))


@pytest.fixture
def engine(tmp_path: Path) -> Iterator[Engine]:
    engine = sqlite_engine(f"sqlite:///{tmp_path / 'begin.db'}")
    metadata.create_all(engine)
    with engine.begin() as conn:
        conn.execute(counters.insert().values(id=1, value=0))
    yield engine
    engine.dispose()


def _centre(name: str) -> Centre:
    return Centre.register(id=uuid4(), tenant="130001", name=name, kind="adult", site="main")


def _meanwhile(work: Callable[[], Any]) -> threading.Thread:
    """`work` in another thread, given a second to finish (at once when nothing holds it off)."""
    thread = threading.Thread(target=work)
    thread.start()
    thread.join(1.0)
    return thread


def _add(engine: Engine, amount: int) -> None:
    with engine.begin() as conn:
        value = conn.execute(select(counters.c.value).where(counters.c.id == 1)).scalar_one()
        conn.execute(counters.update().where(counters.c.id == 1).values(value=value + amount))


@sqlite_only
def test_a_write_transaction_that_read_a_row_loses_no_update_committed_by_another_connection_before_its_write(
        engine: Engine) -> None:
    """Read, another connection adds 1 and commits, write what was read + 10: pysqlite's BEGIN came
    with the write, so the other commit landed in between and was overwritten (10, not 11)."""
    other: list[threading.Thread] = []
    with engine.begin() as conn:
        value = conn.execute(select(counters.c.value).where(counters.c.id == 1)).scalar_one()
        other.append(_meanwhile(lambda: _add(engine, 1)))
        conn.execute(counters.update().where(counters.c.id == 1).values(value=value + 10))
    other[0].join(30)
    assert not other[0].is_alive()
    with engine.connect() as conn:
        assert conn.execute(select(counters.c.value)).scalar_one() == 11


@sqlite_only
def test_a_read_waits_for_no_writer(engine: Engine) -> None:
    """Only a transaction begun to write takes the write lock first: a read (a connection's first
    statement begins it) goes on while a writer holds it."""
    read: list[int] = []

    def reader() -> None:
        with engine.connect() as conn:
            read.append(conn.execute(select(counters.c.value)).scalar_one())

    with engine.begin() as conn:
        conn.execute(counters.update().values(value=5))
        thread = threading.Thread(target=reader)
        thread.start()
        thread.join(15)  # a reader that waited for this writer would still be waiting
        assert read == [0]  # the snapshot before the uncommitted write
    thread.join(30)


def test_a_tracked_save_and_another_process_saving_the_same_position_never_both_apply(tmp_path: Path) -> None:
    """Two processes on one database (two applications: each its own engine and, on SQLite, the
    library's in-process write semaphore) save upstream position 2, the second while the first is
    inside its save. The library's tracked save read the recorded position, then wrote it: on
    SQLite pysqlite sent that read before its BEGIN, on PostgreSQL nothing locked the row between
    the two, so the other process's save committed in between and both were applied (two centres
    for one message). Now the position is written first (LedgerRecorder._insert_tracking), and a
    SQLite write transaction holds the write lock from its BEGIN (store/sqlite_begin.py)."""
    with stored_applications(tmp_path, "intake", IntakeApplication) as (_engine, application):
        first, second = application(), application()
        first.save_tracked(upstream="registry", position=1)  # the row there: both update it
        insert_tracking = first.recorder._insert_tracking
        others: list[threading.Thread] = []
        refused: list[BaseException] = []

        def other_process_saves() -> None:
            try:
                second.save_tracked(_centre("second"), upstream="registry", position=2)
            except IntegrityError as e:
                refused.append(e)

        def then_the_other_process(session: Any, tracking: Any) -> None:
            insert_tracking(session, tracking)  # the first save's position, inside its transaction
            if not others:
                others.append(_meanwhile(other_process_saves))

        first.recorder._insert_tracking = then_the_other_process
        try:
            first.save_tracked(_centre("first"), upstream="registry", position=2)
        except IntegrityError as e:
            refused.append(e)
        others[0].join(30)
        assert not others[0].is_alive()
        assert len(refused) == 1  # one of the two applied position 2, the other was refused
        assert first.recorder.max_notification_id() == 1


@sqlite_only
def test_an_event_store_that_is_the_first_to_open_its_sqlite_file_puts_it_in_wal_and_saves(tmp_path: Path) -> None:
    """The library sets WAL on its first transaction; begun by SQLAlchemy now, that transaction is
    inside a BEGIN, where SQLite refuses to change the journal mode."""
    url = f"sqlite:///{tmp_path / 'store.db'}?timeout=30"
    env = {"PERSISTENCE_MODULE": "eventsourcing_sqlalchemy", "SQLALCHEMY_URL": url, "CREATE_TABLE": "y"}
    keys = sqlite_engine(f"sqlite:///{tmp_path / 'keys.db'}")
    app = IntakeApplication(env, Sealer(keys, os.urandom(32)))
    try:
        app.save(_centre("first"))
        assert app.recorder.max_notification_id() == 1
        with sqlite3.connect(tmp_path / "store.db") as conn:
            assert conn.execute("PRAGMA journal_mode").fetchone() == ("wal",)
    finally:
        app.close()
        keys.dispose()


@sqlite_only
def test_a_writer_of_this_process_waits_for_another_in_the_process_not_in_sqlites_busy_handler(
        engine: Engine, tmp_path: Path) -> None:
    """Two engines of one file (a service's event store and its read models): while one holds a
    write transaction, the other's BEGIN IMMEDIATE is not sent before that one's COMMIT. Sent, it
    retried in SQLite's busy handler, which sleeps up to 100 ms between tries (store/sqlite_begin.py:
    the next writer started up to that long after the lock was freed)."""
    other = sqlite_engine(f"sqlite:///{tmp_path / 'begin.db'}")
    sent: list[tuple[str, str]] = []  # (thread, statement) in the order SQLite began to run them

    def traced(dbapi_conn: Any, _record: Any) -> None:
        dbapi_conn.set_trace_callback(lambda sql: sent.append((threading.current_thread().name, sql)))

    for e in (engine, other):
        event.listen(e, "connect", traced)
    engine.dispose()  # the fixture's connection was made before the trace
    waiting = threading.Event()

    def second_writer() -> None:
        waiting.set()
        _add(other, 1)

    try:
        with engine.begin() as conn:
            conn.execute(counters.update().values(value=5))
            thread = threading.Thread(target=second_writer, name="second")
            thread.start()
            waiting.wait(30)
            # Time for the second writer's BEGIN to reach SQLite, were it sent: it would be traced.
            deadline = time.monotonic() + 1.0
            while time.monotonic() < deadline and ("second", "BEGIN IMMEDIATE") not in sent:
                time.sleep(0.01)
        thread.join(30)
        assert not thread.is_alive()
        first_commit = sent.index((threading.current_thread().name, "COMMIT"))
        assert sent.index(("second", "BEGIN IMMEDIATE")) > first_commit, sent
        with engine.connect() as conn:
            assert conn.execute(select(counters.c.value)).scalar_one() == 6
    finally:
        other.dispose()


@sqlite_only
def test_a_write_transaction_dropped_without_close_frees_the_writers_lock_when_the_pool_takes_it_back(
        engine: Engine) -> None:
    """A Connection left in its write transaction and dropped (no commit, rollback or close): the
    pool rolls it back when the collector finalizes it; the process's writers' lock it took is freed
    then too, or every later writer of the file would wait out the busy timeout before its BEGIN."""
    writers = engine._tsunagu_writers  # type: ignore[attr-defined]

    def dropped() -> None:
        conn = engine.connect()
        conn.begin()
        conn.execute(counters.update().values(value=7))
        assert writers.locked()

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # SQLAlchemy warns of the connection the collector cleans up
        dropped()
        gc.collect()
    assert not writers.locked()
    _add(engine, 1)
    with engine.connect() as conn:
        assert conn.execute(select(counters.c.value)).scalar_one() == 1  # the dropped write rolled back


@sqlite_only
def test_a_write_transaction_begun_inside_one_of_the_same_thread_fails_at_once_not_after_the_busy_timeout(
        engine: Engine, tmp_path: Path) -> None:
    """Another engine of the same file (another store of the service) begun to write by the thread
    whose write transaction is open would wait for itself, the busy timeout long, then fail: it fails
    at once, named; other threads still queue on the lock, and the outer transaction commits."""
    other = sqlite_engine(f"sqlite:///{tmp_path / 'begin.db'}")
    try:
        with engine.begin() as outer:
            outer.execute(counters.update().values(value=1))
            started = time.monotonic()
            with pytest.raises(WriteWithinWrite), other.begin() as inner:
                inner.execute(counters.update().values(value=2))
            assert time.monotonic() - started < WAIT / 2
            queued = threading.Thread(target=_add, args=(other, 10))
            queued.start()  # another thread's writer waits for the outer transaction's end
        queued.join(WAIT)
        with other.connect() as conn:
            assert conn.execute(select(counters.c.value)).scalar_one() == 11
    finally:
        other.dispose()
