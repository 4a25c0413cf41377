"""Attack (h-attack8) on the SQLite writers' lock (store/sqlite_begin.py `WritersLock`,
`WriteWithinWrite`) through a service's event store: a write that fails inside the write-locked
transaction of a commuting retry (store/commuting.py), then the next write on the same worker
thread; and the coroutine awaiting a worker thread cancelled (a client gone) while that thread holds
the lock. No lock left held, no `WriteWithinWrite` where nothing nests, no writer waiting out the
busy timeout. On PostgreSQL the same runs hold `LOCK TABLE … IN EXCLUSIVE MODE` instead.

Broken, and fixed: a write transaction dropped without close (a Connection left in its transaction:
it is in a reference cycle with it, so only the collector finalizes it) kept the lock, owned by its
thread, until the collector ran; that thread's next write raised WriteWithinWrite though nothing
nested. The thread now runs the collector once before it says so."""

from __future__ import annotations

import asyncio
import gc
import threading
import time
import warnings
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any
from uuid import uuid4

import pytest
from eventsourcing.persistence import IntegrityError
from sqlalchemy import Column, Integer, MetaData, Table, select

from libs.platform.store.db import sqlite_engine
from libs.platform.store.sqlite_begin import WAIT
from services.intake.application import IntakeApplication
from services.intake.domain.centre import Centre
from tests.harness import backend, stored_applications

pytestmark = pytest.mark.fault


def _centre(name: str, id: Any = None) -> Centre:
    return Centre.register(id=id or uuid4(), tenant="130001", name=name, kind="adult", site="main")


def _writers_locked(app: Any) -> bool:
    writers = getattr(app.factory.datastore.engine, "_tsunagu_writers", None)
    return writers is not None and writers.locked()


def test_writes_that_fail_inside_the_write_locked_transaction_leave_the_same_thread_free_to_write(
        tmp_path: Path) -> None:
    with stored_applications(tmp_path, "intake", IntakeApplication) as (_engine, application):
        app = application()
        same = uuid4()
        app.save(_centre("first", same))
        seen: list[str] = []

        def worker() -> None:
            with pytest.raises(RuntimeError), app.write_locked():
                app.save(_centre("rolled back"))
                raise RuntimeError("a rule broken after the save, inside the transaction")
            seen.append(f"locked after a raise: {_writers_locked(app)}")
            with pytest.raises(IntegrityError), app.write_locked():
                app.save(_centre("again", same))  # version 1 of `same` is stored: refused
            seen.append(f"locked after a refusal: {_writers_locked(app)}")
            started = time.monotonic()
            app.save(_centre("next"))
            with app.write_locked():
                app.save(_centre("inside"))
            seen.append(f"next writes waited {'little' if time.monotonic() - started < WAIT / 2 else 'long'}")

        thread = threading.Thread(target=worker)
        thread.start()
        thread.join(2 * WAIT)
        assert not thread.is_alive()
        assert seen == ["locked after a raise: False", "locked after a refusal: False", "next writes waited little"]
        stored = app.recorder.select_notifications(start=1, limit=10)
        assert sorted(app.repository.get(n.originator_id).name for n in stored) == ["first", "inside", "next"]


async def test_a_worker_thread_holding_the_write_lock_when_its_awaiting_coroutine_is_cancelled_frees_it(
        tmp_path: Path) -> None:
    with stored_applications(tmp_path, "intake", IntakeApplication) as (_engine, application):
        app = application()
        inside, release = threading.Event(), threading.Event()

        def held_write() -> None:
            with app.write_locked():
                app.save(_centre("held"))
                inside.set()
                release.wait(WAIT)

        loop = asyncio.get_running_loop()
        with ThreadPoolExecutor(max_workers=1) as one_thread:  # the next write on the very same thread
            request = asyncio.ensure_future(loop.run_in_executor(one_thread, held_write))
            assert await asyncio.to_thread(inside.wait, WAIT)
            request.cancel()  # the client went away; the thread goes on inside its transaction
            await asyncio.gather(request, return_exceptions=True)
            if backend() == "sqlite":
                assert _writers_locked(app)
            other = asyncio.to_thread(app.save, _centre("another thread"))  # queued behind the held one
            release.set()
            started = time.monotonic()
            await loop.run_in_executor(one_thread, lambda: app.save(_centre("same thread")))
            await other
            assert time.monotonic() - started < WAIT / 2
        assert not _writers_locked(app)
        assert app.recorder.max_notification_id() in (3, 4)  # PostgreSQL: a sequence value may be skipped
        assert len(app.recorder.select_notifications(start=1, limit=10)) == 3


@pytest.mark.skipif(backend() == "postgresql", reason="SQLite's writers' lock")
def test_a_write_transaction_dropped_without_close_does_not_make_its_threads_next_write_a_nested_one(
        tmp_path: Path) -> None:
    engine = sqlite_engine(f"sqlite:///{tmp_path / 'dropped.db'}")
    rows = Table("rows", MetaData(), Column("id", Integer, primary_key=True))
    rows.metadata.create_all(engine)
    writers = engine._tsunagu_writers  # type: ignore[attr-defined]

    def dropped() -> None:  # a programming error: a write begun and left, neither committed nor closed
        conn = engine.connect()
        conn.begin()
        conn.execute(rows.insert().values(id=1))

    collecting = gc.isenabled()
    gc.disable()  # the collector runs when this test allocates enough: not before the next write, here
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # SQLAlchemy warns of the connection the collector cleans up
            dropped()
            assert writers.locked()  # garbage holds it, owned by this thread
            with engine.begin() as conn:  # WriteWithinWrite before the fix
                conn.execute(rows.insert().values(id=2))
        with engine.connect() as conn:
            assert [r.id for r in conn.execute(select(rows.c.id))] == [2]  # the dropped write rolled back
        assert not writers.locked()
    finally:
        if collecting:
            gc.enable()
        engine.dispose()
