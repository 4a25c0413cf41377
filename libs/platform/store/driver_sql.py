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
from operator import itemgetter
from typing import Any

from sqlalchemy import Select
from sqlalchemy.engine import Connection, Dialect
from sqlalchemy.orm import Session
from sqlalchemy.sql.compiler import SQLCompiler

Values = Callable[[dict[str, Any]], tuple[Any, ...]]
_compiled: dict[Hashable, tuple[str, Values]] = {}


def sqlite_select(dialect: Dialect, key: Hashable, build: Callable[[], Select[Any]]) -> tuple[str, Values] | None:
    """SQLite's SQL of the select `build()` makes (compiled once per `key`) and a function of its
    parameters to the driver's values (`driver_values`). None on another dialect. No expanding
    parameters (an IN list)."""
    if dialect.name != "sqlite":
        return None
    driver = _compiled.get(key)
    if driver is None:
        compiled = build().compile(dialect=dialect)
        if compiled.literal_execute_params or compiled.post_compile_params:
            raise ValueError(f"{key}: expanding or literal-execute parameters are not compiled once")
        driver = _compiled[key] = (compiled.string, driver_values(compiled, dialect))
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


def driver_values(compiled: SQLCompiler, dialect: Dialect) -> Values:
    """A function of a statement's parameters (a row of an INSERT) to the driver's values in the
    compiled statement's order, each through its type's bind processor (what SQLAlchemy does per
    execution); a parameter the statement carries a value of (a LIMIT) is filled in when not given.
    The values taken by one itemgetter, not a generator per row (issue 15: an import's 1,000 rows)."""
    names = tuple(compiled.positiontup or ())
    processors = tuple((k, p) for k, name in enumerate(names)
                       if (p := compiled.binds[name].type.dialect_impl(dialect).bind_processor(dialect)) is not None)
    given = {name: value for name in names if (value := compiled.params.get(name)) is not None}
    values = _values_of(names, processors)
    return values if not given else (lambda params: values({**given, **params}))


def _values_of(names: tuple[str, ...], processors: tuple[tuple[int, Any], ...]) -> Values:
    if len(names) == 1:
        only = names[0]
        return lambda row: (row[only],) if not processors else (processors[0][1](row[only]),)
    get = itemgetter(*names)
    if not processors:
        return get  # a tuple of the values, in order

    def values(row: dict[str, Any]) -> tuple[Any, ...]:
        got = list(get(row))
        for k, process in processors:
            got[k] = process(got[k])
        return tuple(got)

    return values
