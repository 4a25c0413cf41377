"""A real database per test (a SQLite file, or a fresh PostgreSQL schema when TSUNAGU_TEST_DB is
postgresql, as for the e2e tests), the reporting projection on it, and callers of every role."""

from __future__ import annotations

import os
import uuid

import pytest
from sqlalchemy import create_engine, text

from libs.platform.store.db import sqlite_engine
from libs.platform.web.auth import Principal
from services.reporting.projections import ReportingProjection
from services.reporting.tests.feed import Feed

TOKYO, CHIYODA, CHUO, OSAKA, OSAKA_CITY = "130001", "131016", "131024", "270008", "271004"
POSTGRES_URL = os.environ.get("TSUNAGU_TEST_POSTGRES_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test")


def principal(role: str, org: str) -> Principal:
    return Principal(sub=f"{role}@{org}", org=org, roles=frozenset({role}))


MINISTRY = principal("ministry", "mhlw")


# The schema's tables, columns and indexes: a test that changed them (dropped a column, made a table)
# leaves the session's schema to be made anew.
SHAPE = text("""SELECT md5(coalesce(string_agg(entry, ',' ORDER BY entry), '')) FROM (
  SELECT c.relname || '.' || a.attname || ':' || format_type(a.atttypid, a.atttypmod) || a.attnotnull AS entry
  FROM pg_attribute a JOIN pg_class c ON c.oid = a.attrelid JOIN pg_namespace n ON n.oid = c.relnamespace
  WHERE n.nspname = :schema AND a.attnum > 0 AND NOT a.attisdropped
  UNION ALL SELECT indexdef FROM pg_indexes WHERE schemaname = :schema) shape""")


class ReportingSchema:
    """One PostgreSQL schema of the reporting tables for a whole test session, emptied between its
    tests (rows deleted: no table has a sequence): a schema made and projected anew cost each test
    ~1.2 s of setup at load 8 (CREATE SCHEMA, the projection's 54 tables, DROP), against ~0.4 s."""

    def __init__(self) -> None:
        self.admin = create_engine(POSTGRES_URL)
        self.name = ""
        self.shape: str | None = None  # the shape the reporting projection makes

    def fresh(self) -> str:
        """The schema, as the projection made it and empty."""
        with self.admin.begin() as conn:
            if self.name and conn.execute(SHAPE, {"schema": self.name}).scalar() == self.shape:
                tables = conn.execute(text("SELECT tablename FROM pg_tables WHERE schemaname = :schema"),
                                      {"schema": self.name}).scalars().all()
                conn.exec_driver_sql("; ".join(f'DELETE FROM "{self.name}"."{t}"' for t in tables))
                return self.name
            self._drop(conn)
            self.name = f"t_{uuid.uuid4().hex[:10]}_reporting"
            conn.execute(text(f'CREATE SCHEMA "{self.name}"'))
        engine = create_engine(POSTGRES_URL, connect_args={"options": f"-csearch_path={self.name}"})
        try:
            ReportingProjection(engine)
        finally:
            engine.dispose()
        with self.admin.connect() as conn:
            self.shape = conn.execute(SHAPE, {"schema": self.name}).scalar()
        return self.name

    def _drop(self, conn) -> None:
        if self.name:
            conn.execute(text(f'DROP SCHEMA "{self.name}" CASCADE'))

    def close(self) -> None:
        with self.admin.begin() as conn:
            self._drop(conn)
        self.admin.dispose()


@pytest.fixture(scope="session")
def reporting_schema():
    schema = ReportingSchema()
    yield schema
    schema.close()


@pytest.fixture
def engine(tmp_path, request):
    """The test's database: empty, or with the reporting tables (empty) when the test takes the
    projection."""
    if os.environ.get("TSUNAGU_TEST_DB", "sqlite") != "postgresql":
        engine = sqlite_engine(f"sqlite:///{tmp_path / 'reporting.db'}")  # as the service makes it (db.py)
        yield engine
        engine.dispose()
        return
    if "projection" in request.fixturenames:
        schema = request.getfixturevalue("reporting_schema").fresh()
        engine = create_engine(POSTGRES_URL, connect_args={"options": f"-csearch_path={schema}"})
        yield engine
        engine.dispose()
        return
    schema = f"t_{uuid.uuid4().hex[:10]}_reporting"
    admin = create_engine(POSTGRES_URL)
    with admin.begin() as conn:
        conn.execute(text(f'CREATE SCHEMA "{schema}"'))
    engine = create_engine(POSTGRES_URL, connect_args={"options": f"-csearch_path={schema}"})
    yield engine
    engine.dispose()
    with admin.begin() as conn:
        conn.execute(text(f'DROP SCHEMA "{schema}" CASCADE'))
    admin.dispose()


@pytest.fixture
def projection(engine) -> ReportingProjection:
    return ReportingProjection(engine)


@pytest.fixture
def feed(projection) -> Feed:
    return Feed(projection)
