"""Attack (h-attack): an operator kills intake, and later reporting (kill -9) while portals import and
staff record consultations, starting each again: every accepted consultation is stored once, the
stream is the log, every loop's lag returns to 0 and reporting counts exactly what was accepted.
(One system for both kills: each took its own system start and quiet wait before, 45 s of CI.)"""

from __future__ import annotations

import threading
import uuid
from pathlib import Path

import httpx
import pytest

from soak.system import System
from tests.harness import TLS, backend, eventually

pytestmark = [pytest.mark.fault,
              pytest.mark.skipif(backend() != "postgresql", reason="the process system runs on PostgreSQL")]
PREF = "130001"
WHEN = "2016-05-01T10:00:00+09:00"


def test_kill_9_mid_imports_and_burst_loses_and_doubles_nothing(tmp_path: Path) -> None:
    system = System(tmp_path, cluster=False, label="attack")
    try:
        system.start()
        with system.client("intake", "prefecture_officer", PREF) as officer:
            centre = officer.post("/v1/centres", json={"name": "攻撃検証", "kind": "adult", "prefecture": PREF}
                                  ).json()["id"]
        with system.client("intake", "centre_staff", centre) as staff:
            case = staff.post("/v1/cases", json={"centre_id": centre, "client_kind": "person", "age_group": "adult"}
                              ).json()["id"]
        stop = threading.Event()
        accepted: dict[str, int] = {}  # key -> consultations it recorded
        failures: list[str] = []
        token = system.token("centre_staff", centre)

        def writer(n: int) -> None:
            with httpx.Client(timeout=10, verify=TLS, headers={"Authorization": f"Bearer {token}"}) as http:
                while not stop.is_set():
                    key = f"w{n}-{uuid.uuid4().hex[:8]}"
                    size = 10 if n % 2 else 1
                    url, body = (("/v1/consultation-imports", {"consultations": [
                        {"case_id": case, "channel": "phone", "occurred_at": WHEN}] * size}) if size > 1 else
                                 (f"/v1/cases/{case}/consultations", {"channel": "phone", "occurred_at": WHEN}))
                    for _ in range(200):
                        try:
                            r = http.post(system.services["intake"].url + url, json=body,
                                          headers={"Idempotency-Key": key})
                        except httpx.TransportError:
                            stop.wait(0.1)
                            continue
                        if r.status_code in (200, 201):
                            accepted[key] = size
                            break
                        if r.status_code not in (409, 503):
                            failures.append(f"{key}: {r.status_code} {r.text[:200]}")
                            break
                        stop.wait(0.05)
                    else:
                        failures.append(f"{key}: never accepted")

        threads = [threading.Thread(target=writer, args=(n,)) for n in range(4)]
        for t in threads:
            t.start()
        for victim, then in (("intake", 20), ("reporting", 40)):
            eventually(lambda then=then: len(accepted) >= then, timeout=90)
            system.services[victim].kill()
            system.services[victim].start()
            system.services[victim].wait_healthy()
        eventually(lambda: len(accepted) >= 60, timeout=90)
        stop.set()
        for t in threads:
            t.join(60)
        assert failures == []
        total = sum(accepted.values())
        with system.client("intake", "centre_staff", centre) as staff:
            assert staff.get(f"/v1/cases/{case}/consultations").json()["count"] == total
        quiet, seen = system.wait_quiet(120)
        assert quiet is not None, seen.describe()
        with system.client("reporting", "prefecture_officer", PREF) as pref:
            eventually(lambda: pref.get("/v1/reports/consultations", params={"fy": 2016}).json()["total"] == total,
                       timeout=60)
    finally:
        system.stop()
        system.drop()
