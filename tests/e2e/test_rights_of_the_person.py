"""Rights of the person (APPI 第33条〜第35条): requests with deadlines, disclosure across services,
correction, suspension of use."""

from __future__ import annotations

import json
import subprocess
import sys
from datetime import date, timedelta
from uuid import UUID

from libs.platform.web.auth import mint_token
from tests.e2e.test_consultation_slice import PREF, _setup_case
from tests.e2e.test_dispatch_flow import CITY, DAY
from tests.e2e.test_intake_flow import _agency
from tests.harness import JWT_SECRET, eventually

PURPOSE = "disclosure_request"
NOTE = "本人からの開示請求（受付番号 2026-001）への回答"


def test_a_request_is_tracked_to_its_deadline_and_the_person_gets_everything_held_about_them(
        nats_server, start_service, tmp_path):
    intake = start_service("intake", nats_server.url)
    dispatch = start_service("dispatch", nats_server.url)
    centre_id, case_id = _setup_case(intake)
    agency = _agency(intake, "保健所", "public_health_centre")
    base = f"/v1/cases/{case_id}"
    old = (date.today() - timedelta(days=40)).isoformat()
    with intake.client(role="centre_staff", org=centre_id) as staff:
        staff.post(f"{base}/consultations", json={"channel": "phone", "occurred_at": "2016-06-01T10:00:00+09:00",
                                                  "summary": "眠れない日が続く"}).raise_for_status()
        staff.post(f"{base}/share-consents", json={"agency_ids": [agency], "items": ["name"], "explained_on": DAY,
                                                   "consent_text_version": "v"}).raise_for_status()
        staff.post(f"{base}/disclosures", json={"agency_id": agency, "items": ["name"], "on": DAY,
                                                 "purpose": "coordination"}).raise_for_status()
        staff.post(f"{base}/supporter-requests", json={"municipality": CITY, "needs": ["visit"],
                                                        "requested_on": DAY}).raise_for_status()
        late = staff.post("/v1/rights-requests", json={"case_id": case_id, "kind": "disclosure", "received_on": old})
        assert late.status_code == 201
        assert late.json()["due_on"] == (date.fromisoformat(old) + timedelta(days=30)).isoformat()
        fresh = staff.post("/v1/rights-requests", json={"case_id": case_id, "kind": "suspension", "received_on": DAY})
        listed = eventually(lambda: (r := staff.get("/v1/rights-requests").json()["data"]) and len(r) == 2 and r)
        assert [(r["kind"], r["overdue"]) for r in listed] == [("disclosure", True), ("suspension", False)]

    # The person's dispatch request reached the municipality; disclose across both services.
    with dispatch.client(role="municipal_officer", org=CITY) as city:
        eventually(lambda: city.get("/v1/dispatches").json()["data"])
    out = tmp_path / "disclosure.json"
    token = mint_token(JWT_SECRET, sub="pref-dpo", org=PREF, roles=["auditor_pii"])  # the centre's prefecture
    r = subprocess.run([sys.executable, "-m", "libs.platform.tools.cli", "disclose", "--subject", case_id,
                        "--purpose", PURPOSE, "--note", NOTE, "--url", intake.url, "--url", dispatch.url,
                        "--token", token, "--out", str(out)], capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
    document = json.loads(out.read_text())
    by_service = {s["service"]: s for s in document["services"]}
    intake_part = by_service["intake"]
    assert intake_part["events"][0]["data"]["personal_details"]["name"] == "山田太郎"  # opened for the person
    assert any(e["data"].get("summary") == "眠れない日が続く" for e in intake_part["events"])
    assert [p["counterpart"] for p in intake_part["provisions"]] == [agency]
    assert [c["status"] for c in intake_part["consents"]] == ["active"]
    assert [e["type"].split(".")[3] for e in by_service["dispatch"]["events"]] == ["DispatchRequested"]
    with intake.client(role="auditor", org="000000") as auditor:
        log = auditor.get("/v1/audit/events", params={"limit": 1000}).json()["data"]
        access = [e["data"] for e in log if e["type"].endswith("PersonalDataAccessed.v2")]
        assert [(a["subject"], a["purpose_code"]) for a in access] == [(case_id, PURPOSE)]
        assert "受付番号" not in str(log)  # the note is sealed

    with intake.client(role="centre_staff", org=centre_id) as staff:
        answered = staff.post(f"/v1/rights-requests/{late.json()['request_id']}/answer",
                              json={"answered_on": DAY, "outcome": "granted"})
        assert answered.status_code == 200 and not answered.json()["overdue"]
        assert staff.post(f"/v1/rights-requests/{late.json()['request_id']}/answer",
                          json={"answered_on": DAY, "outcome": "granted"}).status_code == 409
        # 利用停止 then sharing is refused; 訂正 replaces the details.
        assert staff.post(f"{base}/use-suspension", json={"on": DAY}).status_code == 200
        r = staff.post(f"{base}/disclosures", json={"agency_id": agency, "items": ["name"], "on": DAY,
                                                    "purpose": "other"})
        assert r.status_code == 409 and r.json()["type"].endswith("/use-suspended")
        # issue 14: a supporter request was accepted during 利用停止
        r = staff.post(f"{base}/supporter-requests", json={"municipality": CITY, "needs": ["visit"],
                                                            "requested_on": DAY})
        assert r.status_code == 409 and r.json()["type"].endswith("/use-suspended"), r.text
        assert r.headers["content-type"] == "application/problem+json"
        staff.post(f"{base}/use-resumption", json={"on": DAY}).raise_for_status()
        r = staff.post(f"{base}/corrections", json={"personal_details": {"name": "山田 太朗"}, "on": DAY})
        assert r.status_code == 200 and r.json()["personal_details"] == {"name": "山田 太朗"}
        staff.post(f"/v1/rights-requests/{fresh.json()['request_id']}/answer",
                   json={"answered_on": DAY, "outcome": "granted"}).raise_for_status()
        assert eventually(lambda: staff.get("/v1/rights-requests").json()["data"] == [])


def test_the_retention_job_erases_only_what_may_go_and_records_that_it_did(nats_server, start_service):
    from services.intake.jobs import end_retention

    intake = start_service("intake", nats_server.url)
    centre_id, old_case = _setup_case(intake)
    with intake.client(role="centre_staff", org=centre_id) as staff:
        recent_case = staff.post("/v1/cases", json={
            "centre_id": centre_id, "client_kind": "person", "age_group": "adult",
            "personal_details": {"name": "新しい人"}}).json()["id"]
        staff.post(f"/v1/cases/{old_case}/closure", json={"reason": "resolved", "on": "2016-08-01"}).raise_for_status()
        yesterday = (date.today() - timedelta(days=1)).isoformat()
        staff.post(f"/v1/cases/{recent_case}/closure", json={"reason": "resolved", "on": yesterday}).raise_for_status()
    assert [str(i) for i in end_retention(intake.runtime)] == [old_case]
    assert end_retention(intake.runtime) == []  # once
    with intake.client(role="centre_staff", org=centre_id) as staff:
        assert staff.get(f"/v1/cases/{old_case}").json()["personal_details"] == "[erased]"
        assert staff.get(f"/v1/cases/{recent_case}").json()["personal_details"] == {"name": "新しい人"}
        last = staff.get(f"/v1/cases/{old_case}/timeline").json()["events"][-1]
        assert last["type"].endswith("SubjectErased.v1") and last["data"]["basis"] == "retention_ended"


def test_registry_and_dispatch_erase_only_after_the_end_and_keep_their_records(nats_server, start_service):
    from tests.e2e.test_registry_lifecycle import REGISTRAR, registered

    registry = start_service("registry", nats_server.url)
    dispatch = start_service("dispatch", nats_server.url)
    with registry.client(role="prefecture_officer", org=REGISTRAR) as officer:
        supporter = registered(officer)
        sid = supporter["id"]
        early = officer.post(f"/v1/supporters/{sid}/erasure", json={"basis": "request_granted", "on": DAY})
        assert early.status_code == 409  # still registered
        officer.post(f"/v1/supporters/{sid}/withdrawal", json={"withdrawn_on": DAY, "reason": "r"}).raise_for_status()
        erased = officer.post(f"/v1/supporters/{sid}/erasure", json={"basis": "request_granted", "on": DAY}).json()
        assert erased["details"] == "[erased]" and erased["registration_number"] == supporter["registration_number"]
    person = str(UUID(int=7))
    with dispatch.client(role="municipal_officer", org=CITY) as city:
        kept = city.post("/v1/dispatches", json={"needs": ["visit"], "requested_on": DAY, "subject_ref": person,
                                                  "subject_details": {"name": "同じ人"}}).json()
        d = city.post("/v1/dispatches", json={"needs": ["visit"], "requested_on": DAY, "subject_ref": person,
                                               "subject_details": {"name": "消される人"}}).json()
        base = f"/v1/dispatches/{d['id']}"
        assert city.post(f"{base}/erasure", json={"basis": "request_granted", "on": DAY}).status_code == 409
        city.post(f"{base}/stop-request", json={"on": DAY}).raise_for_status()
        assert city.post(f"{base}/erasure", json={"basis": "request_granted", "on": DAY}).status_code == 200
        names = [e["type"].split(".")[3] for e in city.get(f"{base}/timeline").json()["events"]]
        assert names[-1] == "SubjectDataErased" and "SubjectDetailsRecorded" in names
    stored = dispatch.runtime.application.repository.get(UUID(d["id"]))
    assert dispatch.runtime.sealer.open(stored.details) == "[erased]"
    other = dispatch.runtime.application.repository.get(UUID(kept["id"]))  # the same person's other dispatch
    assert dispatch.runtime.sealer.open(other.details) == {"name": "同じ人"}


def test_a_supporters_suspension_of_use_keeps_them_off_rosters_until_resumed(nats_server, start_service):
    from tests.e2e.test_registry_lifecycle import REGISTRAR, registered

    registry = start_service("registry", nats_server.url)
    with registry.client(role="prefecture_officer", org=REGISTRAR) as officer:
        suspended, other = registered(officer)["id"], registered(officer)["id"]
        r = officer.post(f"/v1/supporters/{suspended}/use-suspension", json={"on": DAY})
        assert r.status_code == 200 and r.json()["use_suspended"] is True
        assert officer.post(f"/v1/supporters/{suspended}/use-suspension", json={"on": DAY}).status_code == 409
        named = officer.post("/v1/rosters", json={"municipality": CITY, "provided_on": DAY,
                                                  "supporter_ids": [suspended, other]})
        assert named.status_code == 409 and named.json()["use_suspended"] is True
        everyone = eventually(lambda: (r := officer.post("/v1/rosters", json={"municipality": CITY,
                                                                              "provided_on": DAY}))
                              .status_code == 201 and r)
        assert [e["supporter_id"] for e in everyone.json()["entries"]] == [other]
        officer.post(f"/v1/supporters/{suspended}/use-resumption", json={"on": DAY}).raise_for_status()
        again = officer.post("/v1/rosters", json={"municipality": CITY, "provided_on": DAY,
                                                  "supporter_ids": [suspended]})
        assert again.status_code == 201 and [e["supporter_id"] for e in again.json()["entries"]] == [suspended]
    with registry.client(role="auditor", org="000000") as auditor:
        provided = auditor.get("/v1/audit/provisions", params={"subject": suspended}).json()["data"]
        assert len(provided) == 1  # only after the resumption


def test_the_persons_details_on_a_dispatch_are_corrected_sealed_even_after_the_end(nats_server, start_service):
    from libs.platform.messaging.cloudevents import Envelope
    from tests.harness import published, stream_messages

    dispatch = start_service("dispatch", nats_server.url)
    with dispatch.client(role="municipal_officer", org=CITY) as city:
        d = city.post("/v1/dispatches", json={"needs": ["visit"], "requested_on": DAY,
                                               "subject_details": {"name": "佐藤花子", "address": "旧住所"}}).json()
        base = f"/v1/dispatches/{d['id']}"
        city.post(f"{base}/stop-request", json={"on": DAY}).raise_for_status()
        r = city.post(f"{base}/corrections", json={"details": {"name": "佐藤花子", "address": "千代田区2-2"},
                                                   "on": DAY})
        assert r.status_code == 200, r.text
        assert city.post(f"{base}/corrections", json={"details": {}, "on": DAY}).status_code == 422
        assert city.post(f"{base}/corrections", json={"details": {"nickname": "x"}, "on": DAY}).status_code == 422
        assert [e["type"].split(".")[3] for e in city.get(f"{base}/timeline").json()["events"]][-1] == \
            "SubjectDetailsCorrected"
    stored = dispatch.runtime.application.repository.get(UUID(d["id"]))
    assert dispatch.runtime.sealer.open(stored.details) == {"name": "佐藤花子", "address": "千代田区2-2"}
    corrected = eventually(lambda: [Envelope.from_json(m.data) for m in stream_messages(nats_server.url, "DISPATCH")
                                    if b"SubjectDetailsCorrected" in m.data])
    assert corrected[0].data["details"]["alg"] == "A256GCM"
    assert all("千代田区2-2" not in m.data.decode() for m in published(dispatch, nats_server.url))


def test_registry_and_dispatch_retention_jobs_erase_once_only_what_ended_over_three_years_ago(
        nats_server, start_service):
    from services.dispatch.jobs import end_retention as end_dispatch_retention
    from services.registry.jobs import end_retention as end_registry_retention
    from services.registry.jobs import expire_registrations
    from tests.e2e.test_registry_lifecycle import REGISTRAR, registered

    registry = start_service("registry", nats_server.url)
    dispatch = start_service("dispatch", nats_server.url)
    with registry.client(role="prefecture_officer", org=REGISTRAR) as officer:
        old = registered(officer, issued_on=date(2016, 7, 1))["id"]  # its 2-year term ended 2018-06-30
        recent = registered(officer)["id"]
        current = registered(officer)["id"]
        officer.post(f"/v1/supporters/{recent}/withdrawal", json={"withdrawn_on": DAY,
                                                                  "reason": "r"}).raise_for_status()
    assert [str(s) for s in expire_registrations(registry.runtime)] == [old]
    assert [str(s) for s in end_registry_retention(registry.runtime)] == [old]
    assert end_registry_retention(registry.runtime) == []  # once
    with registry.client(role="prefecture_officer", org=REGISTRAR) as officer:
        assert officer.get(f"/v1/supporters/{old}").json()["details"] == "[erased]"
        for kept in (recent, current):
            assert officer.get(f"/v1/supporters/{kept}").json()["details"]["name"]
        last = officer.get(f"/v1/supporters/{old}/history").json()["events"][-1]
        assert last["type"].endswith("SupporterDataErased.v1") and last["data"]["basis"] == "retention_ended"

    with dispatch.client(role="municipal_officer", org=CITY) as city:
        ids = [city.post("/v1/dispatches", json={"needs": ["visit"], "requested_on": "2016-07-01",
                                                 "subject_details": {"name": name}}).json()["id"]
               for name in ("昔の人", "最近の人", "続いている人")]
        city.post(f"/v1/dispatches/{ids[0]}/stop-request", json={"on": "2016-08-01"}).raise_for_status()
        city.post(f"/v1/dispatches/{ids[1]}/stop-request", json={"on": DAY}).raise_for_status()
    assert [str(i) for i in end_dispatch_retention(dispatch.runtime)] == [ids[0]]
    assert end_dispatch_retention(dispatch.runtime) == []
    opened = [dispatch.runtime.sealer.open(dispatch.runtime.application.repository.get(UUID(i)).details) for i in ids]
    assert opened == ["[erased]", {"name": "最近の人"}, {"name": "続いている人"}]
    with dispatch.client(role="municipal_officer", org=CITY) as city:
        last = city.get(f"/v1/dispatches/{ids[0]}/timeline").json()["events"][-1]
        assert last["type"].endswith("SubjectDataErased.v2") and last["data"]["basis"] == "retention_ended"
        assert last["data"]["cause"] is None  # dispatch's own retention, no other service's event


def test_an_erasure_recorded_before_a_crash_whose_key_lived_on_is_finished_by_the_retention_job(
        nats_server, start_service):
    from services.intake.jobs import end_retention

    intake = start_service("intake", nats_server.url)
    centre_id, case_id = _setup_case(intake)
    app = intake.runtime.application
    case = app.repository.get(UUID(case_id))
    case.erase(erased_on=date.today(), basis="request_granted")  # recorded, then the process "crashed"
    app.save(case)
    assert intake.runtime.sealer.open(case.personal_details)["name"] == "山田太郎"
    assert [str(i) for i in end_retention(intake.runtime)] == [case_id]
    assert end_retention(intake.runtime) == []
    with intake.client(role="centre_staff", org=centre_id) as staff:
        assert staff.get(f"/v1/cases/{case_id}").json()["personal_details"] == "[erased]"
        erasures = [e for e in staff.get(f"/v1/cases/{case_id}/timeline").json()["events"]
                    if e["type"].endswith("SubjectErased.v1")]
        assert [e["data"]["basis"] for e in erasures] == ["request_granted"]  # recorded once
