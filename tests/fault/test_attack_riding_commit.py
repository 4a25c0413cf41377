"""Attack (h-attack on merge-s27): the save's COMMIT rides with its last INSERT on PostgreSQL
(store/db.commit_rides, store/bulk.insert_all: `<inserts>; COMMIT`, one simple query). A killer
terminates (pg_terminate_backend) intake's backends caught executing that very statement, again and
again (pg_stat_activity shows the statement's first 1,024 bytes: the ledger's INSERT, where the
COMMIT is at its end), while clients post consultations, each with its own Idempotency-Key, and send a request that
failed again with the same key until it is answered. Held when no request is answered 500, each key
made exactly one consultation (none lost after a 201, none doubled by a retry after an error whose
COMMIT had in fact landed), and every answer for one key names the same consultation."""

from __future__ import annotations

import threading
import uuid

import pytest
from sqlalchemy import create_engine, text

from tests.e2e.test_consultation_slice import _setup_case
from tests.harness import POSTGRES_URL, backend

pytestmark = [pytest.mark.fault,
              pytest.mark.skipif(backend() != "postgresql", reason="the COMMIT rides on PostgreSQL only")]
CLIENTS, PER_CLIENT = 4, 25
RIDING = text("SELECT pid, pg_terminate_backend(pid) FROM pg_stat_activity WHERE application_name = :name "
              "AND state = 'active' AND query LIKE 'WITH w0 AS (INSERT INTO intake_creations%'")


def _killer(name: str, stop: threading.Event, kills: list[int]) -> None:
    engine = create_engine(POSTGRES_URL, isolation_level="AUTOCOMMIT")
    try:
        with engine.connect() as conn:
            while not stop.is_set():
                killed = conn.execute(RIDING, {"name": name}).all()
                kills += [pid for pid, _ in killed]
    finally:
        engine.dispose()


def test_backends_killed_in_the_riding_commit_lose_and_double_nothing(nats_server, start_service):
    name = f"tsunagu-ride-{uuid.uuid4().hex[:8]}"
    intake = start_service("intake", nats_server.url, database_url=f"{POSTGRES_URL}?application_name={name}")
    centre_id, case_id = _setup_case(intake)
    answered: dict[str, set[str]] = {}
    statuses: list[int] = []
    stop, kills = threading.Event(), list[int]()

    def client(c: int) -> None:
        with intake.client(role="centre_staff", org=centre_id) as staff:
            for k in range(PER_CLIENT):
                key = f"ride {c}.{k}"
                for _ in range(30):
                    r = staff.post(f"/v1/cases/{case_id}/consultations", headers={"Idempotency-Key": key},
                                   json={"channel": "phone", "occurred_at": "2016-07-01T10:00:00+09:00"})
                    statuses.append(r.status_code)
                    if r.status_code in (200, 201):
                        answered.setdefault(key, set()).add(r.json()["id"])
                        break
                    assert r.status_code == 503, r.text  # the database away: the client sends it again

    killer = threading.Thread(target=_killer, args=(name, stop, kills))
    killer.start()
    try:
        workers = [threading.Thread(target=client, args=(c,)) for c in range(CLIENTS)]
        for w in workers:
            w.start()
        for w in workers:
            w.join(timeout=300)
    finally:
        stop.set()
        killer.join(timeout=30)
    assert 500 not in statuses
    assert len(answered) == CLIENTS * PER_CLIENT, f"{len(answered)} keys answered"
    assert all(len(ids) == 1 for ids in answered.values())
    with intake.client(role="centre_staff", org=centre_id) as staff:
        case = staff.get(f"/v1/cases/{case_id}").json()
    assert case["consultation_count"] == CLIENTS * PER_CLIENT, (case["consultation_count"], len(kills))
    print(f"kills in the riding statement: {len(kills)}; 503s: {statuses.count(503)}")
