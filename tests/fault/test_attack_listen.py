"""Attack (issue 15 merge): an operator cuts a worker replica's PostgreSQL connections, the LISTEN
one (store/listen.py) first, while a web-only replica takes commands; then freezes the worker
(SIGSTOP) and thaws it. Nothing is lost or doubled on the stream, the worker's read model catches
up (read back through the web replica), the web replica answers 503 at once while no one runs the
loops and tells so in /readyz, and every loop's lag returns to 0."""

from __future__ import annotations

import os
import signal
from collections.abc import Iterator

import httpx
import pytest
from sqlalchemy import create_engine, text

from soak.ha import Replicas, Tally, check, intake_pair
from tests.fault.test_web_only_replica import WEB, WHEN, WORKER, _centre_and_case, _client, _readyz
from tests.harness import POSTGRES_URL, backend, eventually

pytestmark = [pytest.mark.fault,
              pytest.mark.skipif(backend() != "postgresql", reason="replicas need PostgreSQL")]


@pytest.fixture(scope="module")
def split(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Replicas, str]]:
    with intake_pair(tmp_path_factory.mktemp("attack-listen"), each_env=[{"TSUNAGU_BACKGROUND": "off"}, {}]) as pair:
        yield pair


def _terminate(replicas: Replicas, i: int, *, listen_only: bool) -> int:
    name = f"{replicas.run}_intake_{i}"
    engine = create_engine(POSTGRES_URL)
    try:
        with engine.begin() as conn:
            return len(conn.execute(text(
                "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE application_name = :name"
                + (" AND query ILIKE 'LISTEN%'" if listen_only else "")), {"name": name}).all())
    finally:
        engine.dispose()


def _caught_up(replicas: Replicas, i: int) -> bool:
    r = _readyz(replicas, i)
    loops = r.json()["checks"]["loops"]
    return r.status_code == 200 and all(loop.get("lag", 0) == 0 for loop in loops if loop["state"] != "standby")


def _workload(staff: httpx.Client, centre: str, expected: int) -> bool:
    r = staff.get(f"/v1/centres/{centre}/workload", params={"fy": 2016})
    assert r.status_code in (200, 503), r.text  # 503: read-model-behind while the worker recovers
    return r.status_code == 200 and r.json()["consultations"] == expected


def test_cutting_the_workers_connections_loses_no_wake_up_and_no_event(split):
    replicas, nats_url = split
    centre, case = _centre_and_case(replicas)
    assert eventually(lambda: _terminate(replicas, WORKER, listen_only=True), timeout=20) >= 1  # it listens
    with _client(replicas, WEB, "centre_staff", centre) as staff:
        for n in range(12):
            if n % 3 == 0:  # the LISTEN connection twice, then every connection the worker has
                _terminate(replicas, WORKER, listen_only=n < 9)
            r = staff.post(f"/v1/cases/{case}/consultations", json={"channel": "phone", "occurred_at": WHEN})
            assert r.status_code == 201, (n, r.text)
        eventually(lambda: _workload(staff, centre, 12), timeout=30)
    found = check(replicas, nats_url, Tally(), timeout=30, final=False)
    assert (found.lost, found.duplicated) == ([], [])
    eventually(lambda: _caught_up(replicas, WORKER), timeout=30)
    assert eventually(lambda: _terminate(replicas, WORKER, listen_only=True), timeout=20) >= 1  # listening again


def test_a_frozen_worker_is_named_by_the_web_replica_and_catches_up_when_thawed(split):
    replicas, nats_url = split
    centre, case = _centre_and_case(replicas)
    worker = replicas.procs[WORKER]
    assert worker.proc is not None
    pid = worker.proc.pid
    os.kill(pid, signal.SIGSTOP)
    try:
        with _client(replicas, WEB, "centre_staff", centre) as staff:
            for _ in range(3):
                r = staff.post(f"/v1/cases/{case}/consultations", json={"channel": "phone", "occurred_at": WHEN})
                assert r.status_code == 201, r.text
            eventually(lambda: "relay:INTAKE" in _readyz(replicas, WEB).json()["checks"].get(
                "roles_without_holder", []), timeout=30)
            read = staff.get(f"/v1/centres/{centre}/workload", params={"fy": 2016})
            assert read.status_code == 503 and read.json()["type"].endswith("read-model-behind"), read.text
    finally:
        os.kill(pid, signal.SIGCONT)
    with _client(replicas, WEB, "centre_staff", centre) as staff:
        eventually(lambda: _workload(staff, centre, 3), timeout=30)
    found = check(replicas, nats_url, Tally(), timeout=30, final=False)
    assert (found.lost, found.duplicated) == ([], [])
    eventually(lambda: "roles_without_holder" not in _readyz(replicas, WEB).json()["checks"], timeout=20)
    eventually(lambda: _caught_up(replicas, WORKER), timeout=30)
