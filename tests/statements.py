"""The statements an engine sends, recorded for a test that counts statements or round trips."""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from typing import Any

from sqlalchemy import Engine, event
from sqlalchemy.engine.default import DefaultDialect
from sqlalchemy.engine.interfaces import DBAPIConnection


@contextmanager
def sent_statements(engine: Engine, keep: Callable[[str], bool] | None = None, *,
                    keep_sent: Callable[[str, Any], bool] | None = None) -> Iterator[list[str]]:
    """Every statement `engine` sends while inside (only those `keep` accepts, when given, or
    `keep_sent` given the statement and its parameters), in order."""
    sent: list[str] = []

    def execute(_conn: Any, _cursor: Any, statement: str, parameters: Any, *_: Any) -> None:
        if (keep is None or keep(statement)) and (keep_sent is None or keep_sent(statement, parameters)):
            sent.append(statement)

    with _listening([(engine, "before_cursor_execute", execute)]):
        yield sent


@contextmanager
def round_trips(*engines: Engine) -> Iterator[list[str]]:
    """Every round trip these engines make from this thread while inside, in order: each statement
    (its first word), psycopg's own BEGIN before it, COMMIT/ROLLBACK, pings. Only this thread's: a
    service's other threads (its lease keepers, its probes) use the same engines, and one of their
    ROLLBACKs once fell inside the window (CI, two workers a pass)."""
    trips: list[str] = []
    mine = threading.get_ident()

    def trip(what: str) -> None:
        if threading.get_ident() == mine:
            trips.append(what)

    with counted_round_trips(engines, trip, lambda statement: trip(statement.split()[0].upper())):
        yield trips


@contextmanager
def counted_round_trips(targets: Sequence[Any], trip: Callable[[str], None],
                        statement: Callable[[str], None]) -> Iterator[None]:
    """While inside, every round trip of `targets` (engines, or the Engine class: all of them), from
    any thread (the callbacks choose): `statement(sql)` for each statement sent, `trip(what)` for
    the BEGIN psycopg sends before the first statement of a transaction ("BEGIN"), a COMMIT or
    ROLLBACK that ends an open transaction, and a pool's ping at checkout ("ping": pool_pre_ping,
    store/db.ping_writes_only). One listener for the tests and bench.trips."""
    def execute(conn: Any, _cursor: Any, sql: str, *_: Any) -> None:
        dbapi = conn.connection.dbapi_connection
        info = getattr(dbapi, "info", None)  # psycopg 3: the connection's transaction status
        if info is not None and not dbapi.autocommit and int(info.transaction_status) == 0:
            trip("BEGIN")  # psycopg sends it before the statement, a round trip of its own
        statement(sql)

    def ended(what: str) -> Any:
        def add(conn: Any) -> None:
            info = getattr(conn.connection.dbapi_connection, "info", None)
            if info is None or int(info.transaction_status) != 0:
                trip(what)
        return add

    ping = DefaultDialect._do_ping_w_event

    def counted_ping(dialect: DefaultDialect, dbapi_connection: DBAPIConnection) -> bool:
        trip("ping")
        return ping(dialect, dbapi_connection)

    listeners = [(t, name, fn) for t in targets for name, fn in
                 (("before_cursor_execute", execute), ("commit", ended("COMMIT")), ("rollback", ended("ROLLBACK")))]
    DefaultDialect._do_ping_w_event = counted_ping  # type: ignore[method-assign,assignment]  # counted, still run
    try:
        with _listening(listeners):
            yield
    finally:
        DefaultDialect._do_ping_w_event = ping  # type: ignore[method-assign]


@contextmanager
def _listening(listeners: list[tuple[Any, str, Callable[..., None]]]) -> Iterator[None]:
    """The engine events listened to while inside, and no longer after."""
    for target, name, fn in listeners:
        event.listen(target, name, fn)
    try:
        yield
    finally:
        for target, name, fn in listeners:
            event.remove(target, name, fn)
