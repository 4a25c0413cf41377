"""Many rows in one statement that does not grow with them (store/bulk.py): on PostgreSQL each
column goes as one array, and what is stored, the ids returned and the errors are as with the
ordinary statement."""

from __future__ import annotations

from datetime import UTC, date, datetime
from typing import Any

import pytest
from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    Column,
    Date,
    DateTime,
    Integer,
    LargeBinary,
    MetaData,
    String,
    Table,
    event,
    select,
)
from sqlalchemy.exc import IntegrityError

from libs.platform.store.bulk import BULK_ROWS, insert_rows
from libs.platform.store.db import make_engine
from tests.harness import Database, backend

metadata = MetaData()
things = Table("bulk_things", metadata,
               Column("id", BigInteger().with_variant(Integer(), "sqlite"), primary_key=True, autoincrement=True),
               Column("name", String(40), nullable=False, unique=True),
               Column("body", LargeBinary, nullable=False),
               Column("note", String(20)))


@pytest.fixture
def engine(tmp_path) -> Any:
    database = Database(tmp_path)
    engine = make_engine(database.settings("bulk", "nats://127.0.0.1:1"))
    metadata.create_all(engine)
    yield engine
    engine.dispose()
    database.drop()


def _rows(prefix: str, n: int) -> list[dict[str, Any]]:
    return [{"name": f"{prefix}{k}", "body": bytes([k % 256]) * 3, "note": None if k % 3 else "三"} for k in range(n)]


def test_many_rows_are_stored_with_their_ids_in_order_by_a_statement_that_does_not_grow(engine) -> None:
    statements: list[str] = []
    event.listen(engine, "before_cursor_execute", lambda _c, _cur, sql, *_: statements.append(sql))
    with engine.begin() as conn:
        few = insert_rows(conn, things, _rows("few", 2), returning="id")
        many = insert_rows(conn, things, _rows("many", 300), returning="id")
        insert_rows(conn, things, _rows("more", BULK_ROWS))
    with engine.connect() as conn:
        stored = conn.execute(select(things.c.id, things.c.name, things.c.body, things.c.note)
                              .order_by(things.c.id)).all()
    assert [(n, b, note) for _, n, b, note in stored] == [
        (r["name"], r["body"], r["note"]) for r in [*_rows("few", 2), *_rows("many", 300), *_rows("more", BULK_ROWS)]]
    assert [i for i, *_ in stored][:302] == few + many  # each row's id, in the order given
    inserts = [s for s in statements if s.lstrip().upper().startswith("INSERT")]
    assert len(inserts) == 3  # on SQLite too: the driver's executemany, ids counted back (not one INSERT per row)
    if backend() == "postgresql":
        assert all(len(s) < 400 for s in inserts[1:])  # not one placeholder per value


def test_a_unique_violation_among_many_rows_stores_none_of_them(engine) -> None:
    with engine.begin() as conn:
        insert_rows(conn, things, _rows("x", 1))
    with pytest.raises(IntegrityError), engine.begin() as conn:
        insert_rows(conn, things, _rows("x", 40))
    with engine.connect() as conn:
        assert conn.execute(select(things.c.name)).scalars().all() == ["x0"]


typed = Table("bulk_typed", metadata,
              Column("name", String(40), primary_key=True),
              Column("at", DateTime(timezone=True), nullable=False),
              Column("on", Date),
              Column("flag", Boolean, nullable=False, default=False),
              Column("doc", JSON))


def test_many_rows_on_sqlite_go_to_the_driver_at_once_and_are_stored_as_sqlalchemy_stores_them(engine) -> None:
    if backend() != "sqlite":
        pytest.skip("SQLite's path")
    at = datetime(2016, 5, 1, 1, 2, 3, 456, tzinfo=UTC)
    values = [{"at": at, "on": date(2016, 5, k + 1), "flag": bool(k % 2), "doc": {"k": [k, "三"]}} for k in range(3)]
    statements: list[tuple[bool, bool]] = []  # (executemany, the driver's SQL: no SQLAlchemy compiled form)

    def count(conn, cursor, statement, parameters, context, executemany) -> None:
        statements.append((executemany, context.compiled is None))

    event.listen(engine, "before_cursor_execute", count)
    with engine.begin() as conn:
        insert_rows(conn, typed, [{"name": f"ours{k}", **v} for k, v in enumerate(values)])  # the driver's
        conn.execute(typed.insert(), [{"name": f"sqla{k}", **v} for k, v in enumerate(values)])  # to compare with
        insert_rows(conn, typed, [{"name": f"default{k}", "at": at} for k in range(2)])  # flag left out
    event.remove(engine, "before_cursor_execute", count)
    assert statements == [(True, True), (True, False), (True, False)]
    with engine.connect() as conn:
        raw = {r[0]: r[1:] for r in conn.exec_driver_sql('SELECT name, at, "on", flag, doc FROM bulk_typed')}
        read = {r.name: r for r in conn.execute(select(typed))}
    assert [raw[f"ours{k}"] for k in range(3)] == [raw[f"sqla{k}"] for k in range(3)]
    assert [read[f"ours{k}"].doc for k in range(3)] == [{"k": [k, "三"]} for k in range(3)]
    assert read["ours1"].flag is True and read["ours1"].on == date(2016, 5, 2)
    assert read["default0"].flag is False and read["default1"].flag is False  # SQLAlchemy's path: its default
