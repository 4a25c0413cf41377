"""Attack (issue 15 merge: the consumer runner keeps its position in memory): an operator rebuilds
reporting online, twice, while consultations keep coming. The runner must notice each rebuild (its
fence) and replay from the stream's start: at the end the report counts every accepted
consultation once, the replay is done and no consumer lags."""

from __future__ import annotations

import threading

from tests.e2e.test_consultation_slice import _setup_case
from tests.harness import eventually

WHEN = "2016-05-01T10:00:00+09:00"


def _total(reporting) -> int | None:
    with reporting.client(role="ministry", org="mhlw") as ministry:
        r = ministry.get("/v1/reports/consultations", params={"fy": 2016})
    assert r.status_code in (200, 503), r.text  # 503 projection-replaying while it replays
    return r.json()["total"] if r.status_code == 200 else None


def test_rebuilds_while_consultations_flow_count_every_one_once(nats_server, start_service):
    intake = start_service("intake", nats_server.url)
    reporting = start_service("reporting", nats_server.url)
    centre_id, case_id = _setup_case(intake)
    accepted: list[str] = []
    done = threading.Event()

    def load() -> None:
        with intake.client(role="centre_staff", org=centre_id) as staff:
            while not done.is_set() and len(accepted) < 60:
                r = staff.post(f"/v1/cases/{case_id}/consultations", json={"channel": "phone", "occurred_at": WHEN})
                assert r.status_code == 201, r.text
                accepted.append(r.json()["id"])

    writer = threading.Thread(target=load)
    writer.start()
    try:
        with reporting.client(role="operator", org="ops", sub="ops@mhlw") as operator:
            for at in (10, 30):
                eventually(lambda at=at: len(accepted) >= at, timeout=60)
                r = eventually(lambda: (r := operator.post("/v1/ops/rebuild")).status_code == 202 and r, timeout=60)
                assert r.json()["state"] == "replaying"
    finally:
        writer.join()
    assert len(accepted) == 60
    eventually(lambda: _total(reporting) == 60, timeout=60)
    with reporting.client(role="operator", org="ops", sub="ops@mhlw") as operator:
        eventually(lambda: operator.get("/v1/ops/rebuild").json()["state"] == "done", timeout=30)
        eventually(lambda: all(loop.get("lag", 0) == 0 and not loop.get("replaying")
                               for loop in operator.get("/readyz").json()["checks"]["loops"]), timeout=30)
    assert _total(reporting) == 60
