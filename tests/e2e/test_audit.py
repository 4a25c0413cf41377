"""The audit API: the log as CloudEvents for auditors, and a hash chain that exposes tampering."""

from __future__ import annotations

from sqlalchemy import text

from tests.e2e.test_consultation_slice import _setup_case
from tests.harness import eventually


def test_an_auditor_pages_the_log_and_an_edited_stored_event_breaks_the_chain(nats_server, start_service):
    intake = start_service("intake", nats_server.url)
    centre_id, case_id = _setup_case(intake)
    with intake.client(role="centre_staff", org=centre_id) as staff:
        for _ in range(3):
            staff.post(f"/v1/cases/{case_id}/consultations", json={
                "channel": "phone", "occurred_at": "2016-06-01T10:00:00+09:00", "summary": "秘密の相談"})
    eventually(lambda: intake.runtime.relay.lag() == 0)
    with intake.client(role="centre_staff", org=centre_id) as staff:
        assert staff.get("/v1/audit/events").status_code == 403
    with intake.client(role="auditor", org="000000") as auditor:
        first = auditor.get("/v1/audit/events", params={"limit": 3}).json()
        rest = auditor.get("/v1/audit/events", params={"after": first["next_after"]}).json()
        events = first["data"] + rest["data"]
        assert [e["sequence"] for e in events] == [1, 2, 3, 4, 5] and rest["next_after"] is None
        assert "秘密の相談" not in str(events)  # sealed content stays sealed
        verdict = auditor.get("/v1/audit/verify").json()
        assert verdict["verified"] and verdict["log_size"] == verdict["relay_position"] == 5

        with intake.runtime.engine.begin() as conn:  # someone edits a stored event behind our back
            conn.execute(text("UPDATE intake_events SET state = "
                              "CAST(REPLACE(CAST(state AS TEXT), 'phone', 'email') AS BLOB) WHERE id = 3"
                              if intake.runtime.engine.dialect.name == "sqlite" else
                              "UPDATE intake_events SET state = convert_to(replace(convert_from(state, 'UTF8'),"
                              " 'phone', 'email'), 'UTF8') WHERE id = 3"))
        r = auditor.get("/v1/audit/verify")
        assert r.status_code == 200, r.text
        verdict = r.json()
        assert not verdict["verified"] and verdict["first_mismatch"] == 5


def test_a_stored_event_that_no_longer_decodes_is_reported_as_the_first_mismatch(nats_server, start_service):
    intake = start_service("intake", nats_server.url)
    _setup_case(intake)
    eventually(lambda: intake.runtime.relay.lag() == 0)
    with intake.runtime.engine.begin() as conn:
        conn.execute(text("UPDATE intake_events SET state = :junk WHERE id = 2"), {"junk": b"\x00not json"})
    with intake.client(role="auditor", org="000000") as auditor:
        verdict = auditor.get("/v1/audit/verify").json()
    assert (verdict["verified"], verdict["first_mismatch"]) == (False, 2)


def test_an_auditor_may_open_sealed_fields_only_with_the_role_and_a_purpose_and_is_recorded(nats_server, start_service):
    intake = start_service("intake", nats_server.url)
    centre_id, case_id = _setup_case(intake)
    with intake.client(role="centre_staff", org=centre_id) as staff:
        staff.post(f"/v1/cases/{case_id}/consultations", json={
            "channel": "phone", "occurred_at": "2016-06-01T10:00:00+09:00", "summary": "秘密の相談"}).raise_for_status()
    purpose, note = "supervisory_inspection", "個人情報保護委員会による立入検査（令和8年 第12号）"
    with intake.client(role="auditor", org="000000") as auditor:
        assert auditor.get("/v1/audit/events", params={"purpose": purpose}).status_code == 403
    with intake.client(role="auditor_pii", org="000000", sub="inspector-7") as inspector:
        sealed = inspector.get("/v1/audit/events").json()["data"]
        assert "秘密の相談" not in str(sealed)
        opened = inspector.get("/v1/audit/events", params={"purpose": purpose, "note": note,
                                                            "limit": 3}).json()["data"]
        assert opened[2]["data"]["summary"] == "秘密の相談"
        assert inspector.get("/v1/audit/events", params={"purpose": note}).status_code == 422
    with intake.client(role="auditor", org="000000") as auditor:
        log = auditor.get("/v1/audit/events", params={"after": 3}).json()["data"]
        access = [e for e in log if e["type"] == "jp.tsunagu.audit.PersonalDataAccessed.v2"]
        assert [(a["data"]["accessed_by"], a["data"]["purpose_code"], a["data"]["first_sequence"],
                 a["data"]["last_sequence"]) for a in access] == [("inspector-7", purpose, 1, 3)]
        assert "立入検査" not in str(access) and access[0]["data"]["note"]["alg"] == "A256GCM"
        assert access[0]["tenant"] == "000000" and "秘密" not in str(access)
