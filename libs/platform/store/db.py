"""Database engines: SQLite file by default, PostgreSQL when DATABASE_URL says so.

On PostgreSQL every service keeps all its tables in its own schema (`Settings.db_schema`),
through the connections' search_path.

With replicas, every connection of a service (its engine and its event store's) ends a transaction
left idle for longer than a lease (`idle_in_transaction_session_timeout`): a replica paused by
SIGSTOP, or frozen, inside a save holds the event table's lock (every insert takes it) and would
stop every other replica's writes until it woke; now PostgreSQL ends its session after a lease's
length, as the fence does for a role's transactions (lease.py), and the others write on.

That timeout does not cover a backend inside a pipeline: between the statements of one (psycopg 3
sends an executemany as a pipeline, its Sync last) the backend is `active`, waiting for the rest,
and keeps its locks however long the sender is stopped (seen: a replica stopped while recording
its relay position kept its share lock on the lease row, and no standby took the relay over until
it woke). So an INSERT of many rows is sent as one statement of many VALUES (`no_pipelines`).
"""

from __future__ import annotations

import select
import threading
from collections.abc import Callable
from typing import Any, TypeVar

from eventsourcing_sqlalchemy.datastore import transactions
from sqlalchemy import Engine, create_engine, event, exc, make_url, text
from sqlalchemy.engine import Connection
from sqlalchemy.exc import DBAPIError
from sqlalchemy.orm import Session

from libs.platform.settings import Settings
from libs.platform.store.sqlite_begin import begin_where_said

R = TypeVar("R")
PINGED = "tsunagu_pinged"  # a connection just made: its checkout needs no ping
RIDES = "tsunagu_begin_rides"  # in the driver's autocommit until checkin: its BEGIN went with a statement
_unpinged = threading.local()  # set while read_unpinged checks a connection out


def make_engine(settings: Settings) -> Engine:
    if settings.is_postgres:
        _create_schema(settings.database_url, settings.db_schema)
        return quiet_errors(ping_writes_only(no_pipelines(create_engine(
            settings.database_url,
            connect_args={"options": session_options(settings)},
            pool_pre_ping=True,
            pool_size=5,
            max_overflow=5,
        ))))
    return sqlite_engine(settings.database_url)


def quiet_errors(engine: Engine) -> Engine:
    """An error of the engine says which statement failed and why, never with what values: a loop
    logs its failures and shows them in /readyz, and a statement's values (a subject's sealed
    details, a name) or the row PostgreSQL quotes back (`DETAIL: Key (k)=(…) already exists`,
    `Failing row contains (…)`) must reach neither. The parameters are hidden (SQLAlchemy's
    hide_parameters) and a driver's message keeps its first line; the detail stays on the driver's
    exception (`e.orig.diag`) for code that needs it."""
    engine.hide_parameters = True
    if not event.contains(engine, "handle_error", _terse):
        event.listen(engine, "handle_error", _terse)
    return engine


def _terse(context: Any) -> None:
    wrapped, orig = context.sqlalchemy_exception, context.original_exception
    text_ = str(orig)
    if wrapped is None or "\n" not in text_:
        return
    first = text_.split("\n", 1)[0]
    orig.args = (first,)
    wrapped.args = (f"({type(orig).__module__}.{type(orig).__name__}) {first}",)


def ping_writes_only(engine: Engine) -> Engine:
    """pool_pre_ping for every checkout but those of `read_unpinged` (PostgreSQL; SQLite's ping
    costs no round trip and stays). The ping is a round trip at each checkout: two of a command's
    (its load and its save) were pings (issue 15). And only for a connection whose socket heard
    something while it sat in the pool (`_quiet`): a backend ended by a restart, a failover's
    fencing or pg_terminate_backend tells its client so (an error, then EOF), which a poll of the
    socket sees without a round trip. What it cannot see, a peer gone without a word (a host lost,
    a cut network), a ping would not have caught in time either: it waits as long as any statement."""
    if engine.dialect.name != "postgresql":
        engine.pool._pre_ping = True
        return engine
    engine.pool._pre_ping = False
    dialect = engine.dialect
    if dialect.driver == "psycopg":
        begin_rides_back(engine)

    @event.listens_for(engine, "connect")
    def _connected(_dbapi_conn: Any, record: Any) -> None:
        record.info[PINGED] = True  # fresh: pool_pre_ping does not ping these either

    @event.listens_for(engine, "checkout")
    def _checked_out(dbapi_conn: Any, record: Any, _proxy: Any) -> None:
        if record.info.pop(PINGED, False):
            return
        if getattr(_unpinged, "on", False):
            _unpinged.skipped = True
            return
        if _quiet(dbapi_conn):
            return
        if not dialect._do_ping_w_event(dbapi_conn):  # as pool_pre_ping: a disconnect → False
            raise exc.InvalidatePoolError()

    return engine


def _quiet(dbapi_conn: Any) -> bool:
    """Nothing arrived on an idle connection's socket (psycopg 3; anything else: not known)."""
    try:
        fd = dbapi_conn.pgconn.socket
    except Exception:  # noqa: BLE001 — another driver, or closed: not known to be quiet, so pinged
        return False
    poll = select.poll()
    poll.register(fd, select.POLLIN | select.POLLERR | select.POLLHUP)
    return not poll.poll(0)


def read_unpinged(engine: Engine, read: Callable[[Connection], R], *, autocommit: bool = True) -> R:
    """`read(connection)` on a connection not pinged at checkout (`ping_writes_only`), in autocommit
    on PostgreSQL; when the connection turns out dead (a disconnect, which makes SQLAlchemy drop
    every pooled connection older than it), run once more on a new, pinged one. Only for reads: a
    read that failed changed nothing, so running it again is the same as having pinged first."""
    for attempt in (1, 2):
        _unpinged.on = attempt == 1
        try:
            with engine.connect() as conn:
                _unpinged.on = False
                if autocommit and conn.dialect.name == "postgresql":
                    conn = conn.execution_options(isolation_level="AUTOCOMMIT")
                return read(conn)
        except DBAPIError as e:
            if attempt == 2 or not e.connection_invalidated:
                raise
        finally:
            _unpinged.on = False
    raise AssertionError("unreachable")


def checkout_unpinged(connect: Callable[[], R]) -> tuple[R, bool]:
    """`connect()` (what checks out a connection of a `ping_writes_only` engine: `engine.connect`,
    `session.connection`) without the checkout's ping; and whether a pooled connection was handed
    out unpinged (False: none was checked out, or a new one). For a write that runs its first
    statement on it at once and, when that statement finds the connection dead (a disconnect: it
    died in the pool), rolls back and runs again on another: a transaction whose first statement
    failed on a dead connection committed nothing (store/core_inserts.py, the save's LOCK)."""
    _unpinged.on, _unpinged.skipped = True, False
    try:
        return connect(), _unpinged.skipped
    finally:
        _unpinged.on = _unpinged.skipped = False


def begin_rides(connection: Connection) -> bool:
    """Whether the transaction of this connection (psycopg 3) can open with the caller's next
    statement ("BEGIN; ...", one simple query), as nothing of it was sent yet: psycopg otherwise
    sends BEGIN as a round trip of its own before the first statement (issue 15). The connection is
    then in the driver's autocommit, so psycopg adds no BEGIN; the server's transaction block opened
    by that BEGIN lasts past the query, and psycopg's commit and rollback end it (they go by the
    server's transaction status, not by autocommit). Back to autocommit off at checkin
    (`begin_rides_back`), so no later user of the connection runs outside a transaction."""
    fairy = connection.connection
    dbapi: Any = fairy.dbapi_connection
    if dbapi is None or dbapi.autocommit or int(dbapi.info.transaction_status) != 0:  # 0: IDLE
        return False
    dbapi.autocommit = True
    fairy.info[RIDES] = True
    return True


def commit_rides(session: Session) -> bool:
    """Whether a save's last statement may carry its COMMIT (store/bulk.insert_all): the session's
    transaction is eventsourcing-sqlalchemy's own, outermost, committed as soon as the recorder's
    insert returns, and the session holds no ORM object its commit would flush after that statement
    (a tracked save's tracking row: the library adds it to the session before the events and it is
    written at the commit's flush). psycopg's commit() then finds the server idle and sends nothing
    (it goes by the transaction status, as its rollback and the pool's reset at checkin do): one
    round trip less, and the events table's lock let go one round trip sooner (issue 15: 8 clients
    queued on it)."""
    try:
        transaction = transactions.get()
    except LookupError:
        return False
    return transaction.commit and transaction.nested_level == 1 and not transaction.is_scoped_session \
        and transaction.session is session and not (session.new or session.dirty or session.deleted)


def begin_rides_back(engine: Engine) -> Engine:
    """Autocommit off again on a connection that `begin_rides` turned on, when it goes back to the
    pool (after its commit or rollback); one that cannot (broken) is closed, never reused so."""
    import psycopg  # only psycopg 3 connections ride (core.CoreEvents installs this for them)

    if rides_back(engine):
        return engine
    engine._tsunagu_rides_back = True  # type: ignore[attr-defined]

    @event.listens_for(engine, "checkin")
    def _checked_in(dbapi_conn: Any, record: Any) -> None:
        if record.info.pop(RIDES, False) and dbapi_conn is not None:
            try:
                dbapi_conn.autocommit = False
            except psycopg.Error as e:  # refused while a transaction is open, or closed: unsound
                record.invalidate(e)

    return engine


def rides_back(engine: Engine) -> bool:
    """Whether `begin_rides_back` was installed on this engine (a connection of it may ride)."""
    return getattr(engine, "_tsunagu_rides_back", False)


def no_pipelines(engine: Engine) -> Engine:
    """An INSERT of many rows as one statement (SQLAlchemy's "insertmanyvalues", what it does for
    psycopg2 by default), never psycopg 3's pipeline of one statement per row."""
    if engine.dialect.name == "postgresql":
        engine.dialect.use_insertmanyvalues_wo_returning = True
    return engine


def sqlite_engine(url: str) -> Engine:
    """A SQLite file's engine: WAL, a busy timeout, and transactions whose reads are in them
    (store/sqlite_begin.py: BEGIN IMMEDIATE for a write transaction, BEGIN for a read)."""
    engine = quiet_errors(begin_where_said(create_engine(url)))

    @event.listens_for(engine, "connect")
    def _sqlite_pragmas(dbapi_conn, _record) -> None:
        cur = dbapi_conn.cursor()
        cur.execute("PRAGMA journal_mode=WAL")
        cur.execute("PRAGMA busy_timeout=30000")
        # What a write frees is overwritten with zeros, not left in the file: an erased subject's
        # key row leaves no copy in free space (the WAL is truncated after an erasure: sealing.py).
        cur.execute("PRAGMA secure_delete=ON")
        cur.close()

    return engine


def _create_schema(url: str, schema: str | None) -> None:
    if not schema:
        return
    engine = create_engine(url)
    try:
        with engine.begin() as conn:
            conn.execute(text(f'CREATE SCHEMA IF NOT EXISTS "{schema}"'))
    finally:
        engine.dispose()


def eventsourcing_env(settings: Settings) -> dict[str, str]:
    """The environment an eventsourcing Application reads its persistence settings from.

    On PostgreSQL the schema goes into the connection's search_path, not SQLALCHEMY_SCHEMA:
    eventsourcing-sqlalchemy 1.0.1's tracking recorder drops schema_name before it reaches the
    events table of a process recorder, which then lands in `public` (seen, and tested).
    """
    url = settings.database_url
    if settings.is_postgres and (options := session_options(settings)):
        with_path = make_url(url).update_query_dict({"options": options})
        url = with_path.render_as_string(hide_password=False)
    env = {"PERSISTENCE_MODULE": "eventsourcing_sqlalchemy", "SQLALCHEMY_URL": url, "CREATE_TABLE": "y"}
    if settings.idempotency_key_hex:
        env["TSUNAGU_IDEMPOTENCY_KEY"] = settings.idempotency_key_hex  # store.application.IDEMPOTENCY_KEY_ENV
    return env


def session_options(settings: Settings) -> str:
    """libpq `options` of every PostgreSQL connection of the service: its schema, and with replicas
    the longest a transaction may stay idle (a lease)."""
    options = [f"-csearch_path={settings.db_schema}"] if settings.db_schema else []
    if settings.replicas > 1:
        options.append(f"-cidle_in_transaction_session_timeout={int(settings.lease_seconds * 1000)}")
    return " ".join(options)


def ping(engine: Engine) -> None:
    with engine.connect() as conn:
        conn.execute(text("SELECT 1"))
