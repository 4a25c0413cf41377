"""SQLite's driver INSERTs (store/bulk.sqlite_insert: compiled once, each value through its type's
bind processor) store what SQLAlchemy's own INSERT stores, for awkward values (h-attack3): aware
datetimes in zones other than UTC, NULL wherever a column allows it, long texts, unicode beyond the
BMP, NUL characters, bytes of every value, big integers, nested JSON. Every table the services
write with it, in two files side by side: the stored bytes and SQLite's storage classes are equal,
and so is what SQLAlchemy reads back. Held on merge-s30: no fix."""

from __future__ import annotations

import enum
import uuid
from datetime import date, datetime, timedelta, timezone
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from sqlalchemy import Engine, Table, create_engine

from libs.platform.audit.log import metadata as audit
from libs.platform.messaging.deadletters import metadata as deadletters
from libs.platform.messaging.outbox import metadata as outbox
from libs.platform.privacy.keystore import metadata as keystore
from libs.platform.privacy.records import metadata as records
from libs.platform.readmodels.heartbeat import metadata as heartbeat
from libs.platform.store.bulk import insert_rows, sqlite_insert
from libs.platform.store.ledger_rows import creations_table
from services.dispatch.read_models import metadata as dispatch
from services.intake.read_models import metadata as intake
from services.registry.read_models import metadata as registry
from services.reporting.projections.tables import metadata as reporting
from tests.harness import backend

pytestmark = pytest.mark.skipif(backend() != "sqlite", reason="the driver INSERTs are SQLite's only")

TOKYO, NEW_YORK = timezone(timedelta(hours=9)), timezone(timedelta(hours=-5, minutes=-30))
TEXT = "相談の記録🎌\u200d\U0001f9d1\u0000\u2028é" * 700  # ~8,400 characters, a NUL and a line separator


def _tables() -> list[Table]:
    tables = [creations_table("intake")]
    for metadata in (audit, deadletters, outbox, keystore, records, heartbeat, dispatch, intake, registry, reporting):
        tables.extend(metadata.sorted_tables)
    # A projection adds its bookkeeping tables (projected_events ...) to its service's metadata when
    # it is built: after other tests in this process, several metadata hold one: each once.
    unique: dict[str, Table] = {}
    for table in tables:
        unique.setdefault(table.fullname, table)
    return list(unique.values())


def _value(column: sa.Column, k: int, row: int) -> Any:
    """An awkward value of the column's type; NULL in the second row wherever the column allows it."""
    if row == 1 and column.nullable and not column.primary_key:
        return None
    kind = column.type
    if isinstance(kind, sa.Enum) and kind.enum_class is not None and issubclass(kind.enum_class, enum.Enum):
        return list(kind.enum_class)[-1]
    if isinstance(kind, sa.Enum):
        return kind.enums[-1]
    if isinstance(kind, sa.DateTime):
        return datetime(2016, 7, 1, 10, 0, 0, 123456, tzinfo=TOKYO if k % 2 else NEW_YORK) + timedelta(days=row)
    if isinstance(kind, sa.Date):
        return date(2016, 12, 31) + timedelta(days=row)
    if isinstance(kind, sa.Boolean):
        return bool(row)
    if isinstance(kind, sa.Integer):
        return 2**62 + 7 * k + row
    if isinstance(kind, sa.Numeric):
        return Decimal("12345.678") + row
    if isinstance(kind, sa.Uuid):
        return uuid.UUID(int=2**127 + k * 2 + row)
    if isinstance(kind, sa.LargeBinary):
        return bytes(range(256)) * 40 + bytes([row])
    if isinstance(kind, sa.JSON):
        return {"名前": TEXT[:50], "n": None, "l": [1, 2.5, "🎌", {"x": [None]}], "row": row}
    if isinstance(kind, sa.String):
        return f"{k}-{row}-{TEXT}"
    raise AssertionError(f"no awkward value for {column.table.name}.{column.name}: {kind!r}")


def _stored(engine: Engine, table: Table) -> tuple[list[Any], list[Any]]:
    """The raw rows with each value's storage class, and what SQLAlchemy reads back."""
    names = ", ".join(f'"{c.name}", typeof("{c.name}")' for c in table.columns)
    with engine.connect() as conn:
        raw = list(conn.exec_driver_sql(f'SELECT {names} FROM "{table.name}" ORDER BY rowid'))
        read = [tuple(r) for r in conn.execute(sa.select(table).order_by(sa.text("rowid")))]
    return raw, read


def test_the_driver_inserts_store_what_sqlalchemys_insert_stores(tmp_path: Path) -> None:
    engines = [create_engine(f"sqlite:///{tmp_path / name}.db") for name in ("driver", "sqlalchemy")]
    tables = _tables()
    assert len(tables) > 40
    try:
        for table in tables:
            rows = [{c.key: _value(c, k, row) for k, c in enumerate(table.columns)} for row in (0, 1)]
            keys = tuple(rows[0])
            for engine in engines:
                table.create(engine)
            driver, sqlalchemy = engines
            with driver.begin() as conn:
                assert sqlite_insert(conn.dialect, table, keys) is not None, table.name
                insert_rows(conn, table, rows[:1])  # one row: the driver's execute
                insert_rows(conn, table, rows[1:])
            with sqlalchemy.begin() as conn:
                conn.execute(table.insert(), rows[:1])
                conn.execute(table.insert(), rows[1:])
            assert _stored(driver, table) == _stored(sqlalchemy, table), table.name
    finally:
        for engine in engines:
            engine.dispose()
