"""Idempotency-Key on every creation and what a creation answers (issue 18): a retry with the same
key and request records once and answers the same resource (200), the same key with another
request is refused (422) and writes nothing, the key never reaches the bus in clear, and the answer
is the created resource with its Location."""

from __future__ import annotations

import json

from tests.e2e.test_consultation_slice import PREF, _setup_case
from tests.e2e.test_dispatch_flow import CITY, DAY
from tests.e2e.test_intake_flow import _agency
from tests.e2e.test_registry_lifecycle import REGISTRAR, registered
from tests.harness import drained, log_positions, published

KEY = "portal-retry yamada-taro 2016-05-30 #1"  # a client may put anything in a key, a name too


def test_a_retried_share_consent_with_the_same_key_records_once_and_answers_the_same_consent(
        nats_server, start_service):
    intake = start_service("intake", nats_server.url)
    centre_id, case_id = _setup_case(intake)
    agency = _agency(intake, "ハローワーク飯田橋", "hello_work")
    base = f"/v1/cases/{case_id}"
    consent = {"agency_ids": [agency], "items": ["name", "contact"], "explained_on": "2016-05-30",
               "consent_text_version": "centre-v1"}
    with intake.client(role="centre_staff", org=centre_id) as staff:
        first = staff.post(f"{base}/share-consents", json=consent, headers={"Idempotency-Key": KEY})
        assert first.status_code == 201, first.text
        version = first.json()["case_version"]
        again = staff.post(f"{base}/share-consents", json=consent, headers={"Idempotency-Key": KEY})
        assert again.status_code == 200 and again.json() == first.json()
        assert again.headers["location"] == first.headers["location"] == \
            f"{base}/share-consents/{first.json()['consent_id']}"
        assert staff.get(first.headers["location"]).json() == first.json()
        assert staff.get(base).json()["version"] == version  # nothing recorded by the retry
        other = staff.post(f"{base}/share-consents", json=consent, headers={"Idempotency-Key": "another"})
        assert other.status_code == 201 and other.json()["consent_id"] != first.json()["consent_id"]

        # Withdrawn, the consent is still found by its key: a late retry records no second consent.
        consent_id = first.json()["consent_id"]
        staff.post(f"{base}/share-consents/{consent_id}/withdrawal", json={"on": "2016-06-01"}).raise_for_status()
        late = staff.post(f"{base}/share-consents", json=consent, headers={"Idempotency-Key": KEY})
        assert late.status_code == 200 and late.json()["withdrawn_on"] == "2016-06-01"
        assert consent_id not in staff.get(base).json()["consents"]

        referral = {"agency_id": agency, "items": ["name"], "referred_on": "2016-06-01"}
        staff.post(f"{base}/share-consents", json=consent).raise_for_status()
        made = staff.post(f"{base}/referrals", json=referral, headers={"Idempotency-Key": KEY})
        assert made.status_code == 201 and set(made.json()) >= {"referral_id", "agency_id", "referred_on"}
        retried = staff.post(f"{base}/referrals", json=referral, headers={"Idempotency-Key": KEY})
        assert retried.status_code == 200 and retried.json() == made.json()

    messages = published(intake, nats_server.url)
    bodies = [m.data.decode() for m in messages]
    consented = [b for b in bodies if "InfoSharingConsented" in b]
    assert len(consented) == 3  # first, another, and the one before the referral
    assert sum("ReferralMade" in b for b in bodies) == 1
    assert not any("portal-retry" in b or "yamada" in b for b in bodies)


KEYED = "same-key #2"


def _created_once(client, service, path: str, body: dict, other: dict) -> dict:
    """POST `body` with a key: 201 and the created resource (what its Location answers). The same
    key and body again: 200, the same resource, nothing written. The key with `other`: 422, nothing
    written. Returns the resource."""
    first = client.post(path, json=body, headers={"Idempotency-Key": KEYED})
    assert first.status_code == 201, (path, first.text)
    assert client.get(first.headers["location"]).json() == first.json(), path
    written = log_positions(service)
    again = client.post(path, json=body, headers={"Idempotency-Key": KEYED})
    assert (again.status_code, again.json(), again.headers["location"]) == (
        200, first.json(), first.headers["location"]), (path, again.text)
    reused = client.post(path, json=other, headers={"Idempotency-Key": KEYED})
    assert reused.status_code == 422 and reused.json()["type"].endswith("/idempotency-key-reused"), (path, reused.text)
    assert reused.headers["content-type"].startswith("application/problem+json")
    assert log_positions(service) == written, f"{path}: a retry or a reused key wrote to the log"
    return first.json()


def test_every_creation_of_intake_is_made_once_per_key_and_refuses_the_key_with_another_request(
        nats_server, start_service):
    intake = start_service("intake", nats_server.url)
    centre_id, case_id = _setup_case(intake)
    agency = _agency(intake, "ハローワーク飯田橋", "hello_work")
    base = f"/v1/cases/{case_id}"
    made: list[tuple[str, str, str]] = []  # (event type, id field or "subject", resource id)
    with intake.client(role="centre_staff", org=centre_id) as staff:
        consent = {"agency_ids": [agency], "items": ["name", "contact"], "explained_on": "2016-05-30",
                   "consent_text_version": "centre-v1"}
        families = [
            ("ConsultationRecorded", "consultation_id", "id", f"{base}/consultations",
             {"channel": "phone", "occurred_at": "2016-05-30T10:00:00+09:00", "summary": "電話相談"},
             {"channel": "visit", "occurred_at": "2016-05-30T10:00:00+09:00", "summary": "電話相談"}),
            ("OutreachVisitRecorded", "visit_id", "visit_id", f"{base}/outreach-visits",
             {"staff_role": "coordinator", "occurred_at": "2016-05-30T11:00:00+09:00"},
             {"staff_role": "outreach_worker", "occurred_at": "2016-05-30T11:00:00+09:00"}),
            ("InfoSharingConsented", "consent_id", "consent_id", f"{base}/share-consents", consent,
             {**consent, "items": ["name"]}),
            ("CaseInfoDisclosed", "disclosure_id", "disclosure_id", f"{base}/disclosures",
             {"agency_id": agency, "items": ["name"], "on": "2016-05-31", "purpose": "coordination"},
             {"agency_id": agency, "items": ["contact"], "on": "2016-05-31", "purpose": "coordination"}),
            ("ReferralMade", "referral_id", "referral_id", f"{base}/referrals",
             {"agency_id": agency, "items": ["name"], "referred_on": "2016-06-01"},
             {"agency_id": agency, "items": ["name"], "referred_on": "2016-06-02"}),
            ("SupportMeetingHeld", "meeting_id", "meeting_id", f"{base}/meetings",
             {"held_on": "2016-06-03", "agency_ids": [agency], "note": "次回は本人同席"},
             {"held_on": "2016-06-03", "agency_ids": [agency], "note": "別の会議"}),
            ("SupporterRequested", "request_id", "request_id", f"{base}/supporter-requests",
             {"municipality": "131016", "needs": ["visit"], "requested_on": "2016-06-04"},
             {"municipality": "131016", "needs": ["interview"], "requested_on": "2016-06-04"}),
            ("CaseOpened", "subject", "id", "/v1/cases",
             {"centre_id": centre_id, "client_kind": "person", "age_group": "adult"},
             {"centre_id": centre_id, "client_kind": "family", "age_group": "adult"}),
            ("BackOfficeSupportGiven", "support_id", "support_id", f"/v1/centres/{centre_id}/backoffice-supports",
             {"given_on": "2016-06-05", "recipient_kind": "municipality", "recipient": "131016", "kind": "advice"},
             {"given_on": "2016-06-05", "recipient_kind": "municipality", "recipient": "131016", "kind": "training"}),
        ]
        for event, field, answered, path, body, other in families:
            made.append((event, field, str(_created_once(staff, intake, path, body, other)[answered])))
        rights = {"case_id": case_id, "kind": "disclosure", "received_on": "2016-06-06"}
        made.append(("RightsRequestReceived", "subject", str(_created_once(
            staff, intake, "/v1/rights-requests", rights, {**rights, "kind": "correction"})["request_id"])))
    with intake.client(role="municipal_officer", org="131016") as town:
        funding = {"national": "1/2", "prefecture": "1/4", "municipality": "1/4"}
        programme = _created_once(town, intake, "/v1/programmes", {
            "kind": "station", "name": "千代田ステーション", "starts_on": "2016-04-01", "funding": funding}, {
            "kind": "station", "name": "別のステーション", "starts_on": "2016-04-01", "funding": funding})
        activity = {"kind": "family_class", "held_on": "2016-06-01", "participants": 12}
        made.append(("GroupActivityHeld", "activity_id", str(_created_once(
            town, intake, f"/v1/programmes/{programme['id']}/group-activities", activity,
            {**activity, "participants": 13})["activity_id"])))
        place = {"programme_id": programme["id"], "name": "居場所ひだまり", "operator": "NPO法人ひだまり",
                 "municipality": "131016", "address": "千代田区神田1-1", "schedule": {"sat": ["10:00", "15:00"]}}
        place_id = _created_once(town, intake, "/v1/places", place, {**place, "name": "別の居場所"})["id"]
        session = {"held_on": "2016-06-04", "participants": 5, "registered_participants": ["p-1"], "staff": 2}
        made.append(("PlaceSessionHeld", "session_id", str(_created_once(
            town, intake, f"/v1/places/{place_id}/sessions", session, {**session, "participants": 6})["session_id"])))
        agency_body = {"name": "千代田区保健所", "category": "public_health_centre", "municipality": "131016",
                       "address": "千代田区1-1", "phone": "03-0000-0000"}
        made.append(("AgencyRegistered", "subject", str(_created_once(
            town, intake, "/v1/agencies", agency_body, {**agency_body, "phone": "03-1111-1111"})["id"])))

    bodies = [json.loads(m.data) for m in published(intake, nats_server.url)]
    for event, field, resource in made:
        of_it = [b for b in bodies if b["type"].split(".")[3] == event
                 and (b["subject"] if field == "subject" else b["data"][field]) == resource]
        assert len(of_it) == 1, f"{event} {resource} is on the stream {len(of_it)} times"


def test_the_creations_of_registry_and_dispatch_are_made_once_per_key_and_refuse_the_key_with_another_request(
        nats_server, start_service):
    registry = start_service("registry", nats_server.url)
    dispatch = start_service("dispatch", nats_server.url)
    made: list[tuple[object, str, str, str]] = []  # (service, event type, id field or "subject", resource id)
    with registry.client(role="prefecture_officer", org=REGISTRAR) as officer:
        registered(officer)
        course_body = {"kind": "initial", "title": "養成研修", "starts_on": "2016-05-10", "ends_on": "2016-05-10",
                       "venue": "都庁第一本庁舎"}
        course = _created_once(officer, registry, "/v1/training-courses", course_body, {**course_body, "venue": "別"})
        made.append((registry, "TrainingCourseScheduled", "subject", course["id"]))
        attendance = {"attended_on": "2016-05-10", "trainee": {"name": "佐藤花子"}}
        trainee = _created_once(officer, registry, f"/v1/training-courses/{course['id']}/attendances", attendance,
                                {**attendance, "trainee": {"name": "鈴木花子"}})["trainee_id"]
        made.append((registry, "TrainingAttended", "trainee_id", trainee))
        completion = {"trainee_id": trainee, "completed_on": "2016-05-10"}
        completed = _created_once(officer, registry, f"/v1/training-courses/{course['id']}/completions", completion,
                                  {**completion, "completed_on": "2016-05-11"})
        assert completed["certificate_number"] and completed["trainee_id"] == trainee
        made.append((registry, "TrainingCompleted", "trainee_id", trainee))
        roster = {"municipality": CITY, "provided_on": DAY}
        provided = _created_once(officer, registry, "/v1/rosters", roster, {**roster, "items": ["name"]})
        made.append((registry, "RosterProvided", "subject", provided["id"]))
    # Dispatch saves the roster's entries in its own log when it applies REGISTRY: done before its log
    # is compared around a retry (else that save can land in between: seen on CI under load).
    drained(nats_server.url, registry, dispatch)
    with dispatch.client(role="municipal_officer", org=CITY) as city:
        asked = {"needs": ["visit"], "requested_on": DAY}
        made.append((dispatch, "DispatchRequested", "subject", _created_once(
            city, dispatch, "/v1/dispatches", asked, {**asked, "needs": ["interview"]})["id"]))

    for service in (registry, dispatch):
        bodies = [json.loads(m.data) for m in published(service, nats_server.url)]
        for of, event, field, resource in made:
            if of is service:
                of_it = [b for b in bodies if b["type"].split(".")[3] == event
                         and (b["subject"] if field == "subject" else b["data"][field]) == resource]
                assert len(of_it) == 1, f"{event} {resource} is on the stream {len(of_it)} times"


def test_a_supporters_continuing_training_is_recorded_once_however_often_it_is_sent(nats_server, start_service):
    registry = start_service("registry", nats_server.url)
    with registry.client(role="prefecture_officer", org=REGISTRAR) as officer:
        supporter = registered(officer)
        r = officer.post("/v1/training-courses", json={"kind": "continuing", "title": "継続研修", "venue": "都庁",
                                                       "starts_on": "2016-09-01", "ends_on": "2016-09-01"})
        assert r.status_code == 201, r.text
        path = f"/v1/training-courses/{r.json()['id']}/attendances"
        body = {"attended_on": "2016-09-01", "supporter_id": supporter["id"]}
        first = officer.post(path, json=body)
        assert first.status_code == 201, first.text
        for headers in ({}, {"Idempotency-Key": "continuing-1"}, {"Idempotency-Key": "continuing-2"}):
            again = officer.post(path, json=body, headers=headers)
            assert again.status_code == 200 and again.json() == first.json(), again.text
    bodies = [json.loads(m.data) for m in published(registry, nats_server.url)]
    attended = [b for b in bodies if b["type"].split(".")[3] == "ContinuingTrainingAttended"]
    assert len(attended) == 1, f"ContinuingTrainingAttended on the stream {len(attended)} times"


def test_a_report_submission_is_made_once_per_key_and_refuses_the_key_for_another_report_or_year(
        nats_server, start_service):
    reporting = start_service("reporting", nats_server.url)
    path = "/v1/reports/consultations/submissions"
    keyed = {"Idempotency-Key": KEY}
    with reporting.client(role="prefecture_officer", org=PREF) as pref:
        first = pref.post(path, params={"fy": 2016}, headers=keyed)
        assert first.status_code == 201, first.text
        assert first.headers["location"] == f"{path}/{first.json()['submission_id']}"
        assert pref.get(first.headers["location"]).json() == first.json()
        again = pref.post(path, params={"fy": 2016}, headers=keyed)
        assert (again.status_code, again.json(), again.headers["location"]) == (
            200, first.json(), first.headers["location"]), again.text
        for other_path, fy in ((path, 2017), ("/v1/reports/referrals/submissions", 2016)):
            reused = pref.post(other_path, params={"fy": fy}, headers=keyed)
            assert reused.status_code == 422 and reused.json()["type"].endswith("/idempotency-key-reused"), reused.text
            assert pref.get(other_path, params={"fy": fy}).json()["data"] == [], "a reused key wrote a submission"
        assert len(pref.get(path, params={"fy": 2016}).json()["data"]) == 1, "the retry wrote a second submission"
        unkeyed = [pref.post(path, params={"fy": 2016}) for _ in range(2)]
        assert [r.status_code for r in unkeyed] == [201, 201], "without a key every request submits"
    with reporting.client(role="ministry", org="mhlw") as ministry:  # keys are per org
        theirs = ministry.post(path, params={"fy": 2016}, headers=keyed)
        assert theirs.status_code == 201 and theirs.json()["submission_id"] != first.json()["submission_id"]
        assert ministry.get(first.headers["location"]).status_code == 404, "another org's submission"
    with reporting.runtime.engine.connect() as conn:  # the key is kept as a keyed digest only
        stored = [tuple(r) for r in conn.exec_driver_sql("SELECT * FROM report_submissions")]
    assert not any("portal-retry" in str(v) or "yamada" in str(v) for row in stored for v in row)
