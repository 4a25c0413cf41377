"""A database that drops its connections (a restart, a failover, pg_terminate_backend) costs no
request a 500 (issue 13's open item): the pool pings a connection before using it and replaces a
dead one, and what still finds the database away is a 503 with Retry-After, nothing written. So is
a transaction the server ended for idling (a replica paused past its lease), whose error psycopg
classes as an InternalError (h-attack6: it answered 500)."""

from __future__ import annotations

import uuid

import pytest
import sqlalchemy.exc
from eventsourcing.persistence import InternalError
from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy import create_engine, text

from libs.platform.web.problems import install_problem_handlers
from tests.e2e.test_consultation_slice import _setup_case
from tests.harness import POSTGRES_URL, backend, eventually

pytestmark = pytest.mark.fault


def _terminate(application_name: str) -> int:
    engine = create_engine(POSTGRES_URL)
    try:
        with engine.begin() as conn:
            return len(conn.execute(text(
                "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE application_name = :name"),
                {"name": application_name}).all())
    finally:
        engine.dispose()


@pytest.mark.skipif(backend() != "postgresql", reason="connections are cut on PostgreSQL")
def test_commands_and_reads_after_every_connection_was_cut_succeed(nats_server, start_service):
    name = f"tsunagu-cut-{uuid.uuid4().hex[:8]}"
    intake = start_service("intake", nats_server.url, database_url=f"{POSTGRES_URL}?application_name={name}")
    centre_id, case_id = _setup_case(intake)
    with intake.client(role="centre_staff", org=centre_id) as staff:
        for round_ in range(3):
            assert eventually(lambda: _terminate(name)) > 0  # the service holds pooled connections
            for day in ("2016-05-01", "2016-06-01"):
                r = staff.post(f"/v1/cases/{case_id}/consultations", json={
                    "channel": "phone", "occurred_at": f"{day}T10:0{round_}:00+09:00"})
                assert r.status_code == 201, r.text
            r = staff.get(f"/v1/cases/{case_id}")
            assert r.status_code == 200 and r.json()["consultation_count"] == 2 * (round_ + 1), r.text


@pytest.mark.parametrize("error", ["sqlalchemy", "eventsourcing"])
def test_a_database_that_does_not_answer_is_a_503_problem_with_retry_after(error):
    import eventsourcing.persistence
    import sqlalchemy.exc

    app = FastAPI()
    install_problem_handlers(app)

    @app.get("/thing")
    def thing() -> None:
        cut = sqlalchemy.exc.OperationalError("SELECT 1", {}, Exception("server closed the connection"))
        if error == "sqlalchemy":
            raise cut
        raise eventsourcing.persistence.OperationalError(cut)

    r = TestClient(app).get("/thing")
    assert r.status_code == 503 and r.headers["retry-after"] == "2"
    assert r.headers["content-type"] == "application/problem+json"
    assert r.json()["type"] == "https://tsunagu.jp/problems/database-unavailable"


def ended_for_idling() -> sqlalchemy.exc.DBAPIError:
    """The error of a statement sent in a transaction PostgreSQL ended for idling longer than
    `idle_in_transaction_session_timeout` (store/db.py: a lease, with replicas), as a replica
    paused or starved inside one meets it when it goes on."""
    engine = create_engine(POSTGRES_URL, connect_args={"options": "-cidle_in_transaction_session_timeout=50"})
    admin = create_engine(POSTGRES_URL)

    def ended(pid: int) -> bool:
        with admin.connect() as conn:
            return not conn.execute(text("SELECT count(*) FROM pg_stat_activity WHERE pid = :pid"),
                                    {"pid": pid}).scalar()
    try:
        with engine.connect() as conn:
            pid = conn.execute(text("SELECT pg_backend_pid()")).scalar()  # and the transaction idles
            assert pid is not None
            eventually(lambda: ended(pid))
            with pytest.raises(sqlalchemy.exc.DBAPIError) as raised:
                conn.execute(text("SELECT 1"))
            return raised.value
    finally:
        engine.dispose()
        admin.dispose()


@pytest.mark.skipif(backend() != "postgresql", reason="a session PostgreSQL ended")
@pytest.mark.parametrize("error", ["sqlalchemy", "eventsourcing"])
def test_a_transaction_the_server_ended_for_idling_is_a_503_problem_not_a_500(error):
    ended = ended_for_idling()
    assert isinstance(ended, sqlalchemy.exc.InternalError)  # not operational: what it answered 500 for
    app = FastAPI()
    install_problem_handlers(app)

    @app.get("/thing")
    def thing() -> None:
        if error == "sqlalchemy":
            raise ended
        raise InternalError(ended) from ended  # as the event store's datastore wraps it

    r = TestClient(app, raise_server_exceptions=False).get("/thing")
    assert r.status_code == 503 and r.headers["retry-after"] == "2", r.text
    assert r.json()["type"] == "https://tsunagu.jp/problems/database-unavailable"


def test_other_database_errors_are_still_500_problems():
    app = FastAPI()
    install_problem_handlers(app)

    @app.get("/thing")
    def thing() -> None:
        raise sqlalchemy.exc.ProgrammingError("SELECT nope", {}, Exception("column nope does not exist"))

    r = TestClient(app, raise_server_exceptions=False).get("/thing")
    assert r.status_code == 500 and r.json()["type"] == "https://tsunagu.jp/problems/internal"
