"""Awkward values through a service's normal paths (h-attack3; on SQLite a save's INSERTs are the
driver's SQL, store/bulk.sqlite_insert): consultations recorded one by one and imported, with times
in zones other than Tokyo's, summaries of the longest length taken with characters beyond the BMP, a
control character and a line separator, and none at all (a NUL is bad input: test_attack_nul.py).
Read back through the API they are what was sent (the same instants), and the auditor's verification
of the log, its checkpoints and the bus copy is ok."""

from __future__ import annotations

from datetime import datetime

from libs.platform.audit.verify import AuditClient
from tests.e2e.test_consultation_slice import _setup_case
from tests.e2e.test_tamper_evidence import AUDITOR, _bus
from tests.harness import eventually

LONG = ("相談🎌\U0001f9d1\u200d\u2028\u0001é" * 1000)[:8000]
SENT = [("2016-07-01T10:00:00-05:30", LONG), ("2016-07-01T23:59:59.999999+14:00", None),
        ("2016-07-01T00:00:00Z", "\U0010ffff" + " " * 10 + "\\'\"%_;--"), ("2016-07-02T01:02:03+09:00", "")]


def test_awkward_values_are_read_back_as_sent_and_the_log_verifies(nats_server, start_service):
    intake = start_service("intake", nats_server.url)
    centre_id, case_id = _setup_case(intake)
    with intake.client(role="centre_staff", org=centre_id) as staff:
        for occurred_at, summary in SENT:
            staff.post(f"/v1/cases/{case_id}/consultations", json={
                "channel": "phone", "occurred_at": occurred_at, "summary": summary}).raise_for_status()
        staff.post("/v1/consultation-imports", headers={"Idempotency-Key": "awkward"}, json={"consultations": [
            {"case_id": case_id, "channel": "visit", "occurred_at": at, "summary": s} for at, s in SENT]}
                   ).raise_for_status()
        listed = staff.get(f"/v1/cases/{case_id}/consultations", params={"limit": 100}).json()["data"]
    got = sorted((datetime.fromisoformat(c["occurred_at"]), c["summary"] or "") for c in listed)
    assert got == sorted((datetime.fromisoformat(at.replace("Z", "+00:00")), s or "") for at, s in SENT * 2)
    eventually(lambda: intake.runtime.relay.lag() == 0)
    with intake.client(role="auditor", org="000000") as auditor:
        auditor.post("/v1/audit/checkpoints").raise_for_status()
    report = AuditClient(intake.url, AUDITOR).verify(_bus(nats_server))
    assert report.ok, report.problems
    assert report.bus_messages == report.events > len(SENT) * 2
