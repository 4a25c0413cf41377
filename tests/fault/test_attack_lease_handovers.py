"""Attack (h-attack3): two intake workers on PostgreSQL hand the read models' leases to each other
again and again (the holder stopped, started again as the standby) while a web-only replica takes
commands and reads them back at once. The followers keep the positions of batches that changed
nothing in memory (readmodels/follower.py) and a standby's read-your-writes wait asks
`LogFollower.reached`: no read answers 503 (a read model behind that is not), none answers a stale
count, and at the end the holder's every follower is recorded at the log's end, lag 0, ready."""

from __future__ import annotations

import threading

import pytest

from tests.e2e.test_consultation_slice import _setup_case
from tests.e2e.test_intake_flow import _agency
from tests.fault.test_readiness import _ready
from tests.harness import backend, eventually

pytestmark = [pytest.mark.fault,
              pytest.mark.skipif(backend() != "postgresql", reason="replicas need PostgreSQL")]
HANDOVERS = 4


def _holder(workers, role: str):
    return next((w for w in workers if w.runtime.leases.lease(role).held), None)


def test_reads_after_writes_stay_fresh_and_ready_while_the_workers_hand_the_leases_over(nats_server, start_service):
    workers = [start_service("intake", nats_server.url, replicas=2, lease_seconds=1.0) for _ in range(2)]
    web = start_service("intake", nats_server.url, replicas=2, lease_seconds=1.0, background=False)
    centre_id, case_id = _setup_case(web)
    agency = _agency(web, "ハローワーク飯田橋", "hello_work")
    role = next(f for f in web.runtime.followers if f.handler.name == "intake-read").health.role
    eventually(lambda: _holder(workers, role) is not None)
    done, handovers, failures = threading.Event(), [0], []

    def hand_over() -> None:
        while not done.is_set() and handovers[0] < HANDOVERS:
            holder = _holder(workers, role)
            if holder is None:
                done.wait(0.05)
                continue
            holder.stop()  # its leases let go: the other worker takes them over
            holder.start()  # ...and this one stands by
            handovers[0] += 1
            done.wait(0.5)

    churn = threading.Thread(target=hand_over)
    churn.start()
    consulted = 0
    try:
        with web.client(role="centre_staff", org=centre_id) as staff:
            while handovers[0] < HANDOVERS or consulted < 20:
                r = staff.post(f"/v1/cases/{case_id}/consultations",
                               json={"channel": "phone", "occurred_at": "2016-07-01T10:00:00+09:00"})
                assert r.status_code == 201, r.text
                consulted += 1
                if consulted % 3 == 0:  # one the intake read model passes by (a consent)
                    staff.post(f"/v1/cases/{case_id}/share-consents", json={
                        "agency_ids": [agency], "items": ["name"], "explained_on": "2016-06-01",
                        "consent_text_version": "v"}).raise_for_status()
                r = staff.get(f"/v1/centres/{centre_id}/workload", params={"fy": 2016})
                if r.status_code != 200 or r.json()["consultations"] != consulted:
                    failures.append(f"after {consulted} ({handovers[0]} handovers): {r.status_code} {r.text[:300]}")
                r = staff.get(f"/v1/cases/{case_id}/consultations")
                if r.status_code != 200 or r.json()["count"] != consulted:
                    failures.append(f"list after {consulted}: {r.status_code} {r.text[:300]}")
    finally:
        done.set()
        churn.join(60)
    assert failures == []
    end = web.runtime.relay.reader.max_position()
    holder = _holder(workers, role)
    assert holder is not None
    # What the holder passed by is recorded within its record_seconds: every position at the log's end.
    eventually(lambda: all(f.handler.position(f.stream) == end for f in holder.runtime.followers))
    eventually(lambda: all(loop.lag == 0 for loop in holder.runtime.loops()))
    for service in (holder, web):
        _ready(service)
