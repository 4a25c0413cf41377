"""Reads take no ping at checkout; a read whose connection was cut is run again on a new one
(store/db.read_unpinged, issue 15). Other checkouts ping only a connection whose socket heard
something while it sat in the pool (a backend ended tells its client so): a quiet one goes out
unpinged, a cut one is pinged and replaced (store/db.ping_writes_only)."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import pytest
from sqlalchemy import Engine, text

from libs.platform.store.db import make_engine, read_unpinged
from tests.harness import Database, backend, terminate_backend

pytestmark = pytest.mark.skipif(backend() != "postgresql", reason="a ping is a round trip on PostgreSQL")

PID = text("SELECT pg_backend_pid()")


@contextmanager
def _engine(tmp_path: Any) -> Iterator[Engine]:
    database = Database(tmp_path)
    engine = make_engine(database.settings("reads", "nats://127.0.0.1:1"))
    try:
        yield engine
    finally:
        engine.dispose()
        database.drop()


def _pings(engine: Engine) -> list[int]:
    """Counts the pings the engine's dialect sends (instrumented, not replaced: each still runs)."""
    pings: list[int] = []
    do_ping = engine.dialect.do_ping

    def counted(dbapi_connection: Any) -> bool:
        pings.append(1)
        return do_ping(dbapi_connection)

    engine.dialect.do_ping = counted  # type: ignore[method-assign]
    return pings


def test_a_read_takes_no_ping_nor_a_write_on_a_quiet_connection(tmp_path) -> None:
    with _engine(tmp_path) as engine:
        with engine.connect() as conn:  # a pooled connection, made (and so not pinged) here
            conn.execute(PID)
        pings = _pings(engine)
        read_unpinged(engine, lambda conn: conn.execute(PID).scalar())
        assert pings == []
        with engine.begin() as conn:
            conn.execute(PID)
        assert pings == []  # its socket heard nothing since: no round trip to ask


def test_a_write_checking_out_a_cut_connection_pings_it_and_gets_a_new_one(tmp_path) -> None:
    with _engine(tmp_path) as engine:
        with engine.connect() as conn:
            pid = conn.execute(PID).scalar_one()
        terminate_backend(pid)
        pings = _pings(engine)
        with engine.begin() as conn:  # no error: the ping found it dead, the pool made another
            assert conn.execute(PID).scalar_one() != pid
        assert pings == [1]


def test_a_read_whose_connection_was_cut_is_run_again_on_a_new_one(tmp_path) -> None:
    with _engine(tmp_path) as engine:
        pid = read_unpinged(engine, lambda conn: conn.execute(PID).scalar_one())
        terminate_backend(pid)
        assert read_unpinged(engine, lambda conn: conn.execute(PID).scalar()) != pid  # no error


def test_an_imports_key_lookup_and_ledger_read_are_their_statements_alone(tmp_path) -> None:
    """Sealer.keys (one look at the erasure log and the stored keys) and a ledger read by key are
    reads: in autocommit on a connection not pinged first, no ping, BEGIN or ROLLBACK around them
    (issue 15: four of a bulk import's round trips were pings, and each read had its BEGIN and
    ROLLBACK). Fails with either read in a pinged transaction of its own."""
    from uuid import uuid4

    from libs.domain.contracts import ClientKey
    from libs.platform.store.creations import Creation
    from services.intake.application import IntakeApplication
    from tests.harness import stored_applications
    from tests.statements import round_trips

    with stored_applications(tmp_path, "intake", IntakeApplication) as (engine, application):
        app = application()
        subjects = [str(uuid4()) for _ in range(3)]
        app.sealer.keys(subjects)  # made, and the pool holds a connection of each engine now
        creation = Creation.of("intake", "consultation", "scope", ClientKey("key", b"s" * 32), {"a": 1})
        app.ledger.of_key(creation)
        with round_trips(engine, app.recorder.datastore.engine) as trips:
            app.sealer.keys(subjects)  # looked up, none made
            assert app.ledger.of_key(creation) is None
        assert trips and set(trips) == {"SELECT"}, trips
