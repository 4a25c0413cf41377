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


@pytest.fixture
def engine(tmp_path):
    if os.environ.get("TSUNAGU_TEST_DB", "sqlite") != "postgresql":
        engine = sqlite_engine(f"sqlite:///{tmp_path / 'reporting.db'}")  # as the service makes it (db.py)
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
