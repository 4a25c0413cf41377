"""A save's reads on SQLite as the driver's SQL, compiled once (issue 15).

Inside every save on SQLite two reads ran through the ORM session (`Session.execute` of a Core
select): the outbox's chain head and the sealed keys' erasure check. Each paid the session's
execution path and a cache key built anew by walking the statement (the chain head's has two
scalar subqueries): together an eighth of the request thread's CPU for a command (py-spy, 3,000
commands). Here the statement is compiled once for the dialect and sent by
`Connection.exec_driver_sql` on the save's own connection: the same SQL, in the same transaction,
at the same point; errors still mapped by SQLAlchemy (`store/bulk.sqlite_insert` does the same
for a save's INSERTs).
"""

from __future__ import annotations

from collections.abc import Callable, Hashable
from typing import Any

from sqlalchemy import Select
from sqlalchemy.engine import Connection, Dialect
from sqlalchemy.orm import Session

Values = Callable[[dict[str, Any]], tuple[Any, ...]]
_compiled: dict[Hashable, tuple[str, Values]] = {}


def sqlite_select(dialect: Dialect, key: Hashable, build: Callable[[], Select[Any]]) -> tuple[str, Values] | None:
    """SQLite's SQL of the select `build()` makes (compiled once per `key`) and a function of its
    parameters to the driver's values, each through its type's bind processor, the statement's own
    literals (a LIMIT) filled in. None on another dialect. No expanding parameters (an IN list)."""
    if dialect.name != "sqlite":
        return None
    driver = _compiled.get(key)
    if driver is None:
        compiled = build().compile(dialect=dialect)
        if compiled.literal_execute_params or compiled.post_compile_params:
            raise ValueError(f"{key}: expanding or literal-execute parameters are not compiled once")
        binds = [(name, compiled.binds[name].type.dialect_impl(dialect).bind_processor(dialect),
                  compiled.params.get(name)) for name in compiled.positiontup or ()]

        def values(params: dict[str, Any]) -> tuple[Any, ...]:
            out = []
            for name, process, default in binds:
                value = params.get(name, default)
                out.append(value if process is None or value is None else process(value))
            return tuple(out)

        driver = _compiled[key] = (compiled.string, values)
    return driver


def run_select(conn: Connection | Session, key: Hashable, build: Callable[[], Select[Any]],
               params: dict[str, Any]) -> list[Any]:
    """The rows of `build()` with `params`, on `conn` (a session: its transaction's connection):
    on SQLite as the driver's SQL (`sqlite_select`), elsewhere as the statement."""
    connection = conn.connection() if isinstance(conn, Session) else conn
    driver = sqlite_select(connection.dialect, key, build)
    if driver is None:
        return list(connection.execute(build(), params).all())
    sql, values = driver
    return list(connection.exec_driver_sql(sql, values(params)).all())
