"""Attack (h-attack1 on merge-s29): the SQLite writers' lock (store/sqlite_begin.writers_lock) against
another process holding the file's write lock (an operator's sqlite3 shell, a backup, a `tsunagu`
command run beside the service) for longer than the busy timeout.

Before the lock each writer waited in SQLite's busy handler, all of them at once, and failed after
the busy timeout (30 s in the services): the request's 503. With the lock, the writers queued behind
the first one waited for the lock while it waited out the busy timeout, then the next one took the
lock and waited out a busy timeout of its own: found failing after twice the busy timeout (busy
timeout 2 s here: 4.2-4.5 s; main 2.2-2.4 s), i.e. a request hung 60 s in a service. Held when every
writer fails within its busy timeout (the test allows 1.5 times it: the machine is shared), and all
succeed once the other process commits in time."""

from __future__ import annotations

import sqlite3
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import Engine, event, text
from sqlalchemy.exc import OperationalError

from libs.platform.store import sqlite_begin
from libs.platform.store.db import sqlite_engine
from tests.harness import backend

pytestmark = [pytest.mark.fault, pytest.mark.skipif(backend() != "sqlite", reason="SQLite's file locks")]
BUSY = 3.0  # seconds: the engine's busy timeout here (the services': 30)
WRITERS = 4


@pytest.fixture
def engine(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Engine]:
    monkeypatch.setattr(sqlite_begin, "WAIT", BUSY)  # the lock's wait is the engines' busy timeout
    engine = sqlite_engine(f"sqlite:///{tmp_path / 'writers.db'}")

    @event.listens_for(engine, "connect")
    def _busy(dbapi_conn, _record) -> None:  # after sqlite_engine's own pragmas
        dbapi_conn.execute(f"PRAGMA busy_timeout = {int(BUSY * 1000)}")

    with engine.begin() as conn:
        conn.execute(text("CREATE TABLE t (x INTEGER)"))
    yield engine
    engine.dispose()


def _writers(engine: Engine, holder: sqlite3.Connection, release_after: float | None) -> list[tuple[str, float]]:
    """WRITERS threads each insert a row while `holder` (another process's connection: not under
    this process's lock) holds the write lock, released after `release_after` s (None: once every
    writer has ended). Returns each writer's outcome and how long it took."""
    outcomes: list[tuple[str, float]] = []

    def write(i: int) -> None:
        time.sleep(i * 0.05)  # queued one after the other
        started = time.monotonic()
        try:
            with engine.begin() as conn:
                conn.execute(text("INSERT INTO t VALUES (1)"))
            outcomes.append(("ok", time.monotonic() - started))
        except OperationalError as e:
            outcomes.append((str(e.orig), time.monotonic() - started))

    threads = [threading.Thread(target=write, args=(i,)) for i in range(WRITERS)]
    for t in threads:
        t.start()
    if release_after is not None:
        time.sleep(release_after)
        holder.execute("COMMIT")
    for t in threads:
        t.join(timeout=10 * BUSY)
    assert not any(t.is_alive() for t in threads), "a writer still waits after 10 busy timeouts"
    if release_after is None:
        holder.execute("COMMIT")
    return outcomes


def _holding(engine: Engine) -> sqlite3.Connection:
    holder = sqlite3.connect(str(engine.url.database), isolation_level=None)
    holder.execute("BEGIN IMMEDIATE")
    return holder


def test_writers_queued_behind_another_processes_write_lock_fail_within_the_busy_timeout(engine: Engine) -> None:
    holder = _holding(engine)
    try:
        outcomes = _writers(engine, holder, None)
    finally:
        holder.close()
    print("writers (outcome, seconds):", outcomes)
    assert [o for o, _ in outcomes] == ["database is locked"] * WRITERS
    assert max(s for _, s in outcomes) < 1.5 * BUSY, f"a writer waited past its busy timeout {BUSY} s: {outcomes}"


def test_writers_queued_behind_another_processes_write_lock_all_write_once_it_commits_in_time(engine: Engine) -> None:
    holder = _holding(engine)
    try:
        outcomes = _writers(engine, holder, BUSY / 3)
    finally:
        holder.close()
    assert [o for o, _ in outcomes] == ["ok"] * WRITERS
    with engine.connect() as conn:
        assert conn.execute(text("SELECT count(*) FROM t")).scalar_one() == WRITERS
