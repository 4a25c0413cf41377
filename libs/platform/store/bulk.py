"""Inserting many rows in one statement that does not grow with them (issue 15: bulk imports).

SQLAlchemy sends an INSERT of many rows to PostgreSQL as one statement of many VALUES (db.py:
`no_pipelines` says why not a pipeline). With 500 rows of 11 columns that is a statement of 5,500
placeholders, which psycopg 3 parses in Python on every execution (its cache keeps only short
queries) and the server parses again: on PostgreSQL it was a quarter of a 500-consultation
import's time. Here each column is sent as one array and the rows are made by `unnest`: the
statement is the same whatever the number of rows, parsed once. Still one statement, so the
same locks, the same errors (a unique violation is an IntegrityError as before) and the same
atomicity. Few rows (an ordinary command's save) keep the ordinary statement.
"""

from __future__ import annotations

import copy
import json
from collections.abc import Callable, Sequence
from typing import Any

from sqlalchemy import ColumnElement, Integer, Select, String, Table, any_, bindparam, func, literal_column, select
from sqlalchemy.dialects import postgresql
from sqlalchemy.engine import Connection, Dialect
from sqlalchemy.orm import Session
from sqlalchemy.types import TypeEngine

from libs.platform.store.driver_sql import driver_values

# From this many rows on, PostgreSQL gets the arrays; below, the ordinary statement.
BULK_ROWS = 16
_statements: dict[tuple[str, tuple[str, ...], str], str] = {}
_together: dict[tuple[tuple[str, tuple[str, ...], int], ...], str] = {}


def bulk(conn: Connection | Session, rows: Sequence[dict[str, Any]]) -> bool:
    """Whether these rows go as arrays (PostgreSQL through psycopg 3, whose binary placeholders
    the statement uses, and many rows)."""
    bind = conn.get_bind() if isinstance(conn, Session) else conn
    return len(rows) >= BULK_ROWS and bind.dialect.name == "postgresql" and bind.dialect.driver == "psycopg"


def insert_rows(conn: Connection | Session, table: Table, rows: Sequence[dict[str, Any]],
                returning: str | None = None) -> list[Any]:
    """INSERT the rows (dicts with the same keys) in one statement; with `returning`, that
    column of each row inserted, in the order of `rows` (a serial: see `_statement`)."""
    if not rows:
        return []
    if not bulk(conn, rows) or _defaults_left_out(table, tuple(rows[0])):
        statement = table.insert()
        if returning is None:
            connection = conn.connection() if isinstance(conn, Session) else conn
            driver = sqlite_insert(connection.dialect, table, tuple(rows[0]))
            if driver is None:
                conn.execute(statement, list(rows))
            else:
                sql, values = driver
                # One row: the driver's execute (a save's ledger row, its prepared message), else executemany.
                connection.exec_driver_sql(sql, values(rows[0]) if len(rows) == 1 else [values(row) for row in rows])
            return []
        connection = conn.connection() if isinstance(conn, Session) else conn
        if (ids := _sqlite_rowids(connection, table, rows, returning)) is not None:
            return ids
        result = conn.execute(statement.returning(table.c[returning], sort_by_parameter_order=True), list(rows))
        return list(result.scalars())
    columns = tuple(rows[0])
    params = {f"c{k}": [row[c] for row in rows] for k, c in enumerate(columns)}
    connection = conn.connection() if isinstance(conn, Session) else conn
    # The driver's own statement (errors still mapped by SQLAlchemy: a unique violation is its
    # IntegrityError), for its binary placeholders: psycopg dumps a list in text format in Python,
    # escaping each element (500 message bodies: a second under load), in binary format at once.
    result = connection.exec_driver_sql(_statement(table, columns, returning), params)
    return sorted(result.scalars()) if returning is not None else []


def _defaults_left_out(table: Table, keys: tuple[str, ...]) -> bool:
    """Whether a column the rows leave out has a Python-side default, which only SQLAlchemy's own
    statement fills in (the arrays and the driver's executemany name only the columns given)."""
    key = (table.fullname, keys)
    left_out = _left_out.get(key)
    if left_out is None:
        left_out = _left_out[key] = any(c.default is not None and c.key not in keys for c in table.columns)
    return left_out


_left_out: dict[tuple[str, tuple[str, ...]], bool] = {}


def sqlite_insert(dialect: Dialect, table: Table, keys: tuple[str, ...],
                  returning: str | None = None) -> tuple[str, Callable[[dict[str, Any]], tuple[Any, ...]]] | None:
    """SQLite's INSERT of rows with these keys as the driver takes it: the statement compiled once
    per table, columns and `returning`, and a row's values each through its type's bind processor
    (what SQLAlchemy does, less its per-statement and per-row bookkeeping: a sixth of a catch-up's
    apply, and four statements of every save, issue 15). None where SQLAlchemy has more to do:
    another dialect, or a column left out that has a Python default."""
    if dialect.name != "sqlite":
        return None
    key = (table.fullname, keys, returning or "")
    driver = _sqlite_statements.get(key)
    if driver is None:
        if _defaults_left_out(table, keys) or any(k not in table.c for k in keys):
            return None
        statement = table.insert() if returning is None else table.insert().returning(table.c[returning])
        compiled = statement.compile(dialect=dialect, column_keys=list(keys))
        driver = _sqlite_statements[key] = (compiled.string, driver_values(compiled, dialect))
    return driver


_sqlite_statements: dict[tuple[str, tuple[str, ...], str], tuple[str, Callable[[dict[str, Any]], tuple[Any, ...]]]] = {}


def _sqlite_rowids(connection: Connection, table: Table, rows: Sequence[dict[str, Any]],
                   returning: str) -> list[int] | None:
    """SQLite: many rows by the driver's executemany (`sqlite_insert`), their new `returning` ids
    counted back from the last one (`last_insert_rowid()`). SQLAlchemy's INSERT ... RETURNING of
    many rows ran one statement per row there to keep their order (a bulk import's 500 events:
    500 statements). Counting back holds for a rowid column (an INTEGER PRIMARY KEY): a new row's
    rowid is one above the table's largest, and no other connection writes while this one holds
    the write lock (its transaction began by its first INSERT at the latest), so the rows take
    consecutive ids in their order. Past the largest rowid SQLite would pick random ones: refused.
    None where this does not apply (another dialect or column, a single row)."""
    column = table.c.get(returning)
    if len(rows) < 2 or column is None or list(table.primary_key.columns) != [column] or \
            type(column.type.dialect_impl(connection.dialect)) is not Integer:
        return None
    driver = sqlite_insert(connection.dialect, table, tuple(rows[0]))
    if driver is None or returning in rows[0]:
        return None
    sql, values = driver
    connection.exec_driver_sql(sql, [values(row) for row in rows])
    last = connection.exec_driver_sql("SELECT last_insert_rowid()").scalar_one()
    if last >= _LARGEST_ROWID:  # the next ones would be random, and might be now
        raise RuntimeError(f"{table.name}: rowids reached {last}")
    return list(range(last - len(rows) + 1, last + 1))


_LARGEST_ROWID = 2**63 - 1


def _statement(table: Table, columns: tuple[str, ...], returning: str | None) -> str:
    """INSERT ... SELECT FROM unnest(arrays) WITH ORDINALITY ORDER BY it: rows are inserted in the
    order given, so a serial `returning` column, sorted, is in that order (the events table is
    locked while a save inserts: SQLAlchemy's insertmanyvalues relies on the same for it)."""
    key = (table.fullname, columns, returning or "")
    statement = _statements.get(key)
    if statement is None:
        dialect = postgresql.dialect()
        quote = dialect.identifier_preparer.quote
        arrays = ", ".join(f"CAST(%(c{k})b AS {_unbounded(table.c[c].type).compile(dialect=dialect)}[])"
                           for k, c in enumerate(columns))
        names = ", ".join(quote(c) for c in columns)
        name = ".".join(quote(part) for part in table.fullname.split("."))
        sql = (f"INSERT INTO {name} ({names}) SELECT {names} FROM unnest({arrays}) WITH ORDINALITY "
               f"AS rows({names}, ordinal) ORDER BY ordinal")
        if returning is not None:
            sql += f" RETURNING {quote(returning)}"
        statement = _statements[key] = sql
    return statement


def _unbounded(column_type: TypeEngine[Any]) -> TypeEngine[Any]:
    """The column's type without its length: an explicit CAST to varchar(n) cuts a longer value
    silently, where the INSERT's own assignment to the column refuses it (value too long), as the
    ordinary statement does. So the arrays are cast to varchar[] and the column checks the length."""
    if getattr(column_type, "length", None) is None:
        return column_type
    unbounded = copy.copy(column_type)
    unbounded.length = None  # type: ignore[attr-defined]
    return unbounded


def insert_all(conn: Connection | Session, inserts: Sequence[tuple[Table, Sequence[dict[str, Any]]]],
               *, commit: bool = False) -> bool:
    """INSERT the rows of each table (a save's ledger rows and prepared messages) in that order; on
    PostgreSQL through psycopg 3, few rows of several tables go as one statement (the first ones
    as data-modifying WITH clauses, which PostgreSQL runs whatever the main statement does): one
    round trip, not one per table, with the same errors and the same atomicity (issue 15).

    `commit`: nothing else runs in the transaction after these rows (store/db.commit_rides), so
    their statement carries the COMMIT: `<inserts>; COMMIT`, one simple query whose values the
    driver renders as literals (its own quoting, as it would bind them). An INSERT that fails stops
    the query there, and the transaction is rolled back as before. Returns whether it committed."""
    inserts = [(table, rows) for table, rows in inserts if rows]
    bind = conn.get_bind() if isinstance(conn, Session) else conn
    rides = commit and bool(inserts) and not any(_defaults_left_out(t, tuple(rows[0])) for t, rows in inserts)
    if len(inserts) < (1 if rides else 2) or bind.dialect.name != "postgresql" or bind.dialect.driver != "psycopg" \
            or any(bulk(conn, rows) for _, rows in inserts):
        for table, rows in inserts:
            insert_rows(conn, table, rows)
        return False
    statement, params = _together_of(inserts)
    connection = conn.connection() if isinstance(conn, Session) else conn
    if not rides:
        connection.exec_driver_sql(statement, params)
        return False
    literal = _literal(connection, statement, params)
    connection.exec_driver_sql(f"{literal}; COMMIT", execution_options={"no_parameters": True}).close()
    return True


def literal_insert(connection: Connection, table: Table, rows: Sequence[dict[str, Any]],
                   returning: Sequence[str]) -> str:
    """An INSERT of these rows (PostgreSQL, psycopg 3) as one statement of literals, quoted by the
    driver as it would bind them, `RETURNING` those columns: to travel in a simple query of several
    statements (the save's events with its LOCK: store/core_inserts.CoreInserts.insert_rows)."""
    statement, params = _together_of([(table, rows)])
    quote = connection.dialect.identifier_preparer.quote
    return f"{_literal(connection, statement, params)} RETURNING {', '.join(quote(c) for c in returning)}"


def _together_of(inserts: Sequence[tuple[Table, Sequence[dict[str, Any]]]]) -> tuple[str, dict[str, Any]]:
    shape = tuple((table.fullname, tuple(rows[0]), len(rows)) for table, rows in inserts)
    params = {f"p{t}_{r}_{c}": row[column] for t, (_, rows) in enumerate(inserts)
              for r, row in enumerate(rows) for c, column in enumerate(shape[t][1])}
    statement = _together.get(shape)
    if statement is None:
        statement = _together[shape] = _together_statement(shape)
    return statement, params


def _literal(connection: Connection, statement: str, params: dict[str, Any]) -> str:
    import psycopg  # only psycopg 3 gets here

    dbapi: Any = connection.connection.dbapi_connection
    return psycopg.ClientCursor(dbapi).mogrify(statement, params)


def _together_statement(shape: tuple[tuple[str, tuple[str, ...], int], ...]) -> str:
    quote = postgresql.dialect().identifier_preparer.quote
    parts = []
    for t, (fullname, columns, count) in enumerate(shape):
        name = ".".join(quote(part) for part in fullname.split("."))
        values = ", ".join("(" + ", ".join(f"%(p{t}_{r}_{c})s" for c in range(len(columns))) + ")"
                           for r in range(count))
        parts.append(f"INSERT INTO {name} ({', '.join(quote(c) for c in columns)}) VALUES {values}")
    if len(parts) == 1:
        return parts[0]
    return "WITH " + ", ".join(f"w{t} AS ({part})" for t, part in enumerate(parts[:-1])) + " " + parts[-1]


def one_of(column: ColumnElement[str], name: str, dialect: Dialect) -> ColumnElement[bool]:
    """`column` is one of the strings bound as `name` (`strings(values, dialect)`): one parameter
    whatever their number, where an expanding IN renders one placeholder per value: a statement
    that grows with them, which psycopg 3 parses again in Python every time (a catch-up's batch of
    500 event ids) and SQLAlchemy's compiled forms cannot be reused for."""
    if dialect.name == "postgresql":
        return column == any_(bindparam(name, type_=postgresql.ARRAY(String)))
    values: Select[tuple[str]] = select(literal_column("value", String)).select_from(
        func.json_each(bindparam(name, type_=String)))
    return column.in_(values.scalar_subquery())


def strings(values: Sequence[str], dialect: Dialect) -> object:
    """The parameter of `one_of`: an array on PostgreSQL, a JSON array (json_each) on SQLite."""
    return list(values) if dialect.name == "postgresql" else json.dumps(list(values))
