"""Attack (h-attack6) on the locked attempts of commuting commands (store/commuting.py): the last
re-runs of an import hold the database's write lock from loading their cases to saving them. An
operator's view of what can happen to the holder meanwhile:
- it is killed (kill -9) inside the lock: the other replica's writes go on at once (the OS frees
  SQLite's file lock; PostgreSQL ends the backend of a closed socket), nothing of it is stored;
- it is paused (SIGSTOP) inside the lock, with replicas: PostgreSQL ends its session after a lease
  (idle_in_transaction_session_timeout, store/db.py), the others write on, and when it wakes its
  import fails as the database being away (503; it was a 500: psycopg says InternalError, see
  store/connection_lost.py), nothing of it stored;
- its backend is terminated (pg_terminate_backend, a failover): the import fails as the database
  being away (503), nothing stored, the aggregate cache still the store's, the next import whole."""

from __future__ import annotations

import os
import signal
import textwrap
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any
from uuid import UUID, uuid4

import pytest
from eventsourcing.persistence import OperationalError
from sqlalchemy import create_engine, text

from libs.platform.privacy.sealing import Sealer
from libs.platform.store.db import eventsourcing_env, make_engine
from libs.platform.web.auth import Principal
from services.intake.application import IntakeApplication
from services.intake.domain.case import Case
from services.intake.tests.test_concurrent_consultations import _record
from services.intake.tests.test_import_against_single_commands import ITEMS, _items
from services.intake.tests.test_import_locked_attempts import _locked_runs
from tests.fault.test_attack_import_two_processes import PRELUDE, ready
from tests.harness import POSTGRES_URL, Database, backend, stored_applications, terminate_backend

pytestmark = pytest.mark.fault
HANG = 120  # seconds: a write still waiting after this never got the lock back

# Another replica whose import loses its first attempt and then sits inside its locked attempt
# (after the lock was taken, before its save): it says "locked" and waits there for a line of input,
# then saves.
HOLDER = PRELUDE + textwrap.dedent("""
    from eventsourcing.persistence import IntegrityError
    from libs.platform.store.commuting import COMMUTING_RETRIES
    from services.intake.tests.test_import_against_single_commands import _items
    (cases,) = rest
    cases = [UUID(c) for c in cases]
    app.locked_attempts = COMMUTING_RETRIES
    save, attempts = app.save, []
    def held(*objs, **kwargs):
        attempts.append(1)
        if len(attempts) == 1:
            raise IntegrityError("lost to another replica")
        print("locked", flush=True)
        sys.stdin.readline()
        return save(*objs, **kwargs)
    app.save = held
    print("ready", flush=True)
    try:
        app.import_consultations(actor, _items(cases, 1), None)
    except Exception as e:  # what the web answers it with (web/problems.py: 503 when the connection is lost)
        from libs.platform.store.connection_lost import connection_lost
        print("failed", type(e).__name__, "lost" if connection_lost(e) else "not lost", flush=True)
""")


@contextmanager
def _service_and_holder(tmp_path, **overrides: Any) -> Iterator[tuple[IntakeApplication, Principal, list[UUID], Any]]:
    """An intake application on a fresh database with three cases, and another process on the same
    database inside its locked import attempt on them."""
    database = Database(tmp_path)
    settings = database.settings("intake", "nats://127.0.0.1:1", **overrides)
    engine = make_engine(settings)
    app = IntakeApplication(eventsourcing_env(settings), Sealer(engine, bytes.fromhex(settings.master_key_hex)))
    holder = None
    try:
        first, actor = _open(app)
        cases = [first, *(_open(app, actor)[0] for _ in range(2))]
        holder = ready(HOLDER, settings, actor.org, [str(c) for c in cases])
        assert holder.stdout is not None and holder.stdout.readline().strip() == "locked"
        yield app, actor, cases, holder
    finally:
        if holder is not None and holder.poll() is None:
            holder.kill()
            holder.wait()
        app.close()
        engine.dispose()
        database.drop()


def _recording(app: IntakeApplication, actor: Principal, case_id: UUID) -> tuple[threading.Thread, list[Any]]:
    """A single consultation recorded in a thread of its own (it waits for the lock)."""
    done: list[Any] = []
    thread = threading.Thread(target=lambda: done.append(_record(app, actor, case_id)))
    thread.start()
    return thread, done


def _counts(app: IntakeApplication, cases: list[UUID]) -> list[int]:
    return [app.repository.get(c).consultation_count for c in cases]


def test_a_replica_killed_inside_its_locked_attempt_lets_the_others_write_at_once(tmp_path) -> None:
    with _service_and_holder(tmp_path) as (app, actor, cases, holder):
        thread, done = _recording(app, actor, cases[1])
        os.kill(holder.pid, signal.SIGKILL)
        holder.wait()
        thread.join(HANG)
        assert done and done[0].created
        assert len(app.import_consultations(actor, _items(cases, 2), None).consultations) == ITEMS
        assert sum(_counts(app, cases)) == ITEMS + 1  # nothing of the killed replica's import


@pytest.mark.skipif(backend() != "postgresql", reason="replicas (and their idle timeout) need PostgreSQL")
def test_a_replica_paused_inside_its_locked_attempt_loses_its_session_after_a_lease(tmp_path) -> None:
    with _service_and_holder(tmp_path, replicas=2, lease_seconds=1.0) as (app, actor, cases, holder):
        os.kill(holder.pid, signal.SIGSTOP)
        thread, done = _recording(app, actor, cases[1])
        thread.join(HANG)  # PostgreSQL ended the paused replica's session after its lease
        assert done and done[0].created
        os.kill(holder.pid, signal.SIGCONT)  # it wakes inside its save: its session is gone
        out, err = holder.communicate("save\n", timeout=HANG)
        assert out.strip() == "failed InternalError lost", (out, err[-2000:])  # a 503, not a 500
        assert sum(_counts(app, cases)) == 1


@pytest.mark.skipif(backend() != "postgresql", reason="a PostgreSQL backend")
def test_a_locked_attempt_whose_backend_is_terminated_stores_nothing_and_leaves_the_cache_right(tmp_path) -> None:
    with stored_applications(tmp_path, "intake", IntakeApplication) as (engine, application):
        app, replica = application(), application()
        case_id, actor = _open(app)
        cases = [case_id, *(_open(app, actor)[0] for _ in range(2))]
        taken = _locked_runs(app)
        save, inside, attempts = app.save, threading.Event(), []
        with engine.connect() as conn:  # this test's schema: other tests' intake_events are locked too
            schema = conn.execute(text("SELECT current_schema()")).scalar_one()

        def held(*objs: Any, **kwargs: Any) -> Any:
            attempts.append(1)
            if len(attempts) == 1:  # the first attempt loses to the other replica
                _record(replica, actor, cases[0])
            elif len(attempts) == 2:  # the locked one: its backend is terminated here
                inside.set()
                _terminate_the_holder(schema)
            return save(*objs, **kwargs)

        app.save = held  # type: ignore[method-assign]
        with pytest.raises(OperationalError):  # 503 database-unavailable, Retry-After
            app.import_consultations(actor, _items(cases, 1), None)
        assert inside.is_set() and taken == [True]
        app.save = save  # type: ignore[method-assign]
        assert _counts(app, cases) == _counts(replica, cases) == [1, 0, 0]  # the replica's only
        version = app.repository.get(cases[0]).version
        assert _record(app, actor, cases[0], expected_version=version).created  # the cache is the store's
        assert len(app.import_consultations(actor, _items(cases, 2), None).consultations) == ITEMS
        assert sum(_counts(replica, cases)) == ITEMS + 2


def _open(app: IntakeApplication, actor: Principal | None = None) -> tuple[UUID, Principal]:
    centre = UUID(actor.org) if actor is not None else uuid4()
    case = Case.open(id=uuid4(), tenant="130001", centre_id=centre, client_kind="person", age_group="adult",
                     personal_details=None)
    app.save(case)
    return case.id, actor or Principal(sub="staff", org=str(centre), roles=frozenset({"centre_staff"}))


def _terminate_the_holder(schema: str) -> None:
    """The backend holding the EXCLUSIVE lock of `schema`'s events ended, as a failover would end it."""
    admin = create_engine(POSTGRES_URL)
    try:
        with admin.connect() as conn:
            pids = [r.pid for r in conn.execute(text(
                "SELECT l.pid FROM pg_locks l JOIN pg_class c ON c.oid = l.relation "
                "JOIN pg_namespace n ON n.oid = c.relnamespace WHERE l.mode = 'ExclusiveLock' AND l.granted "
                "AND c.relname = 'intake_events' AND n.nspname = :schema"), {"schema": schema})]
    finally:
        admin.dispose()
    assert len(pids) == 1, pids
    terminate_backend(pids[0])
