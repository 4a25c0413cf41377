"""Attack (issue 15 merge): PostgreSQL connections cut (pg_terminate_backend) again and again while
a portal sends a 200-consultation import (bulk statements of arrays, keys made in one insert, the
erasure re-check in the save) and retries it with its key until answered. Every answer is 2xx or a
problem (503 while the database is away), never a 500; the import is recorded once, whole."""

from __future__ import annotations

import random
import threading
import uuid

import pytest

from tests.e2e.test_consultation_import import _item, _second_case
from tests.e2e.test_consultation_slice import _setup_case
from tests.fault.test_database_connections import _terminate
from tests.harness import POSTGRES_URL, backend

pytestmark = [pytest.mark.fault,
              pytest.mark.skipif(backend() != "postgresql", reason="connections are cut on PostgreSQL")]
WHEN = "2016-05-01T10:00:00+09:00"
BATCHES = 8


def test_an_import_retried_through_cut_connections_is_recorded_once_and_whole(nats_server, start_service):
    name = f"tsunagu-cut-{uuid.uuid4().hex[:8]}"
    intake = start_service("intake", nats_server.url, database_url=f"{POSTGRES_URL}?application_name={name}")
    centre_id, case_a = _setup_case(intake)
    case_b = _second_case(intake, centre_id)
    statuses: list[int] = []
    with intake.client(role="centre_staff", org=centre_id) as staff:
        for batch in range(BATCHES):
            items = [_item(case_a if n % 2 else case_b, WHEN, f"切断 {batch}.{n}") for n in range(200)]
            for attempt in range(30):
                # Each attempt's connections cut once, at a random moment of its run (the later
                # attempts left alone more often: a retry gets through as it would in production).
                cut = threading.Timer(random.uniform(0, 0.5 + attempt * 0.2), _terminate, [name])
                cut.start()
                r = staff.post("/v1/consultation-imports", json={"consultations": items},
                               headers={"Idempotency-Key": f"cut batch {batch}"})
                cut.join()
                statuses.append(r.status_code)
                assert r.status_code < 500 or (r.status_code == 503 and r.headers["content-type"].startswith(
                    "application/problem+json")), (r.status_code, r.text[:300])
                if r.status_code in (200, 201):
                    assert r.json()["count"] == 200
                    break
            else:
                pytest.fail(f"batch {batch} never answered 2xx: {statuses[-10:]}")
        counts = [staff.get(f"/v1/cases/{c}/consultations").json()["count"] for c in (case_a, case_b)]
    assert counts == [100 * BATCHES] * 2, (counts, statuses)
