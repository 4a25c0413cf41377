"""Intake end to end: directory, consent to share, referrals and outcomes, windows, closing."""

from __future__ import annotations

from libs.platform.messaging.cloudevents import Envelope
from tests.e2e.test_consultation_slice import PREF, _setup_case
from tests.harness import eventually, published

HOURS = {d: ["09:00", "17:00"] for d in ("mon", "tue", "wed", "thu", "fri")}
PROBLEM = "application/problem+json"


def _agency(intake, name: str, category: str, municipality: str = "131016") -> str:
    with intake.client(role="prefecture_officer", org=PREF) as officer:
        r = officer.post("/v1/agencies", json={"name": name, "category": category, "municipality": municipality,
                                                "address": "東京都千代田区1-1", "phone": "03-1111-1111"})
        assert r.status_code == 201, r.text
        return r.json()["id"]


def test_the_centre_profile_flags_shortfalls_and_the_public_directory_shows_no_private_data(nats_server, start_service):
    intake = start_service("intake", nats_server.url)
    centre_id, case_id = _setup_case(intake)
    with intake.client(role="prefecture_officer", org=PREF) as officer:
        r = officer.put(f"/v1/centres/{centre_id}/profile", json={
            "opened_fy": 2009, "municipality": "131016", "address": "東京都千代田区1-1", "phone": "03-0000-0000",
            "hours": {**HOURS, "fri": ["09:00", "12:00"]}})
        assert r.status_code == 200, r.text
        r = officer.put(f"/v1/centres/{centre_id}/staffing", json={
            "coordinators": ["none"], "outreach_workers": 1, "municipal_support_workers": 0})
        shortfalls = r.json()["shortfalls"]
        assert any("coordinators" in s for s in shortfalls) and any("professional" in s for s in shortfalls)
        assert any("under 8 hours on fri" in s for s in shortfalls) and any("hours a week" in s for s in shortfalls)
        r = officer.put(f"/v1/centres/{centre_id}/staffing", json={
            "coordinators": ["psychiatric_social_worker", "none"], "outreach_workers": 1,
            "municipal_support_workers": 0})
        assert not any("coordinator" in s for s in r.json()["shortfalls"])
        r = officer.put(f"/v1/centres/{centre_id}/profile", json={
            "opened_fy": 2009, "municipality": "131016", "address": "x", "phone": "0",
            "hours": HOURS, "satellite_term": {"starts_on": "2016-04-01", "ends_on": "2018-03-31"}})
        assert r.status_code == 422  # only a satellite has a term
    _agency(intake, "千代田区保健所", "public_health_centre")
    with intake.client() as anonymous:
        r = anonymous.get("/public/v1/centres", params={"municipality": "131016"})
        assert r.status_code == 200
        assert [c["name"] for c in r.json()["data"]] == ["東京都ひきこもりサポートネット"]
        assert r.json()["data"][0]["hours"]["mon"] == ["09:00", "17:00"]
        etag = r.headers["etag"]
        again = anonymous.get("/public/v1/centres", params={"municipality": "131016"}, headers={"If-None-Match": etag})
        assert again.status_code == 304 and again.content == b""
        r = anonymous.get("/public/v1/agencies", params={"category": "public_health_centre"})
        assert [(a["name"], a["category_label"]) for a in r.json()["data"]] == [("千代田区保健所",
                                                                                 "保健所・保健センター")]
        body = anonymous.get("/public/v1/centres").text + anonymous.get("/public/v1/agencies").text
        assert "山田太郎" not in body and case_id not in body
        assert anonymous.get("/v1/agencies").status_code in (401, 405)


def test_sharing_and_referring_need_a_current_consent_naming_the_recipient(nats_server, start_service):
    intake = start_service("intake", nats_server.url)
    centre_id, case_id = _setup_case(intake)
    hello_work = _agency(intake, "ハローワーク飯田橋", "hello_work")
    clinic = _agency(intake, "神田クリニック", "medical_institution")
    base = f"/v1/cases/{case_id}"
    with intake.client(role="centre_staff", org=centre_id) as staff:
        r = staff.post(f"{base}/referrals", json={"agency_id": hello_work, "referred_on": "2016-06-01"})
        assert r.status_code == 409 and r.json()["type"].endswith("/consent-missing")
        assert r.json()["recipient"] == hello_work
        r = staff.post(f"{base}/share-consents", json={
            "agency_ids": [hello_work], "categories": ["medical_institution"], "items": ["name", "contact"],
            "explained_on": "2016-05-30", "consent_text_version": "centre-v1"})
        assert r.status_code == 201, r.text
        consent_id = r.json()["consent_id"]  # the created consent, not the case (issue 18)
        assert r.headers["location"] == f"{base}/share-consents/{consent_id}"
        r = staff.post(f"{base}/disclosures", json={"agency_id": clinic, "items": ["name", "medical_history"],
                                                     "on": "2016-06-01", "purpose": "coordination"})
        assert r.status_code == 409 and r.json()["items"] == ["name", "medical_history"]
        assert staff.post(f"{base}/disclosures", json={"agency_id": clinic, "items": ["name"], "on": "2016-06-01",
                                                        "purpose": "coordination"}).status_code == 201
        r = staff.post(f"{base}/referrals", json={"agency_id": hello_work, "items": ["name"],
                                                  "referred_on": "2016-06-01"})
        assert r.status_code == 201, r.text
        referral_id = r.json()["referral_id"]
        assert r.headers["location"] == f"{base}/referrals/{referral_id}"
        assert (r.json()["agency_id"], r.json()["category"], r.json()["outcome"]) == (hello_work, "hello_work", None)
        assert staff.get(r.headers["location"]).json() == r.json()
        assert staff.get(f"/v1/centres/{centre_id}/open-referrals").json()["data"][0]["referral_id"] == referral_id
        assert staff.post(f"{base}/referrals/{referral_id}/follow-ups", json={
            "followed_up_on": "2016-06-15", "note": "本人が面談に行けた"}).status_code == 200
        r = staff.post(f"{base}/referrals/{referral_id}/outcome", json={"outcome": "support_decided",
                                                                        "on": "2016-06-20"})
        assert r.status_code == 200 and r.json()["referrals"][referral_id]["outcome"] == "support_decided"
        again = staff.post(f"{base}/referrals/{referral_id}/outcome", json={"outcome": "declined", "on": "2016-06-21"})
        assert again.status_code == 409
        assert staff.get(f"/v1/centres/{centre_id}/open-referrals").json()["data"] == []

        assert staff.post(f"{base}/share-consents/{consent_id}/withdrawal",
                          json={"on": "2016-07-01"}).status_code == 200
        r = staff.post(f"{base}/referrals", json={"agency_id": hello_work, "referred_on": "2016-07-02"})
        assert r.status_code == 409 and r.json()["type"].endswith("/consent-missing")
        r = staff.post(f"{base}/disclosures", json={"agency_id": clinic, "items": ["name"], "on": "2016-07-02",
                                                     "purpose": "other"})
        assert r.status_code == 409

        timeline = staff.get(f"{base}/timeline").json()["events"]
        names = [e["type"].split(".")[3] for e in timeline]
        assert names.count("CaseInfoDisclosed") == 2 and "SupportDecided" in names
        followed = next(e for e in timeline if e["type"].endswith("ReferralFollowedUp.v1"))
        assert followed["data"]["note"] == "本人が面談に行けた"  # opened for the centre's staff

        assert staff.post(f"{base}/closure", json={"reason": "support_decided", "on": "2016-08-01"}).status_code == 200
        r = staff.post(f"{base}/consultations", json={"channel": "phone", "occurred_at": "2016-08-02T10:00:00+09:00"})
        assert r.status_code == 409
        assert staff.post(f"{base}/reopening", json={"on": "2016-09-01"}).json()["status"] == "open"
        workload = staff.get(f"/v1/centres/{centre_id}/workload", params={"fy": 2016}).json()
        assert (workload["open_cases"], workload["referrals_awaiting_outcome"]) == (1, 0)

    messages = published(intake, nats_server.url)
    decided = [Envelope.from_json(m.data) for m in messages if b"SupportDecided" in m.data]
    assert decided and decided[0].data["agency_category"] == "hello_work"
    for m in messages:
        assert "本人が面談に行けた" not in m.data.decode() and "山田太郎" not in m.data.decode()


def test_a_municipal_window_is_run_by_its_municipality_and_hidden_from_others(nats_server, start_service):
    intake = start_service("intake", nats_server.url)
    with intake.client(role="municipal_officer", org="131016") as city:
        r = city.post("/v1/centres", json={"name": "千代田区ひきこもり相談窓口", "kind": "adult", "site": "window",
                                           "prefecture": "131016"})
        assert r.status_code == 201, r.text
        window = r.json()["id"]
    with intake.client(role="centre_staff", org=window) as staff:
        case_id = staff.post("/v1/cases", json={"centre_id": window, "client_kind": "family", "age_group": "adult",
                                                "residence_municipality": "131016"}).json()["id"]
        r = staff.post(f"/v1/cases/{case_id}/outreach-visits", json={
            "staff_role": "municipal_support_worker", "occurred_at": "2016-05-01T10:00:00+09:00"})
        assert r.status_code == 201 and r.json()["staff_role"] == "municipal_support_worker"
        assert staff.get(f"/v1/cases/{case_id}").json()["outreach_visits"] == 1
    with intake.client(role="municipal_officer", org="131016") as city:
        assert city.get(f"/v1/cases/{case_id}").status_code == 200
    with intake.client(role="municipal_officer", org="131024") as other:
        assert other.get(f"/v1/cases/{case_id}").status_code == 404
    with intake.client(role="prefecture_officer", org=PREF) as pref:
        r = pref.post("/v1/centres", json={"name": "x", "kind": "adult", "site": "window", "prefecture": PREF})
        assert r.status_code == 403


def test_bad_intake_input_changes_nothing(nats_server, start_service):
    intake = start_service("intake", nats_server.url)
    centre_id, case_id = _setup_case(intake)
    agency = _agency(intake, "保健所", "public_health_centre")
    recorder = intake.runtime.application.recorder
    before = recorder.max_notification_id()
    base = f"/v1/cases/{case_id}"
    with intake.client(role="centre_staff", org=centre_id) as staff:
        for path, body in [
            (f"{base}/share-consents", {"categories": ["zoo"], "items": ["name"], "explained_on": "2016-05-01",
                                        "consent_text_version": "v"}),
            (f"{base}/share-consents", {"items": ["name"], "explained_on": "2016-05-01", "consent_text_version": "v"}),
            (f"{base}/share-consents", {"agency_ids": [agency], "items": ["blood_type"], "explained_on": "2016-05-01",
                                        "consent_text_version": "v"}),
            (f"{base}/outreach-visits", {"staff_role": "janitor", "occurred_at": "2016-05-01T10:00:00+09:00"}),
            (f"{base}/outreach-visits", {"staff_role": "coordinator", "occurred_at": "2999-05-01T10:00:00+09:00"}),
            (f"{base}/referrals", {"agency_id": "00000000-0000-0000-0000-000000000001", "referred_on": "2016-05-01"}),
            (f"{base}/referrals/00000000-0000-0000-0000-000000000001/outcome", {"outcome": "declined",
                                                                                "on": "2016-05-01"}),
            (f"{base}/closure", {"reason": "bored", "on": "2016-05-01"}),
            (f"{base}/reopening", {"on": "2016-05-01"}),
            (f"{base}/supporter-requests", {"municipality": "131017", "needs": ["visit"],
                                            "requested_on": "2016-05-01"}),
        ]:
            r = staff.post(path, json=body)
            assert 400 <= r.status_code < 500 and r.headers["content-type"] == PROBLEM, (path, body, r.text)
    with intake.client(role="prefecture_officer", org=PREF) as officer:
        r = officer.post("/v1/agencies", json={"name": "x", "category": "zoo", "municipality": "131016",
                                                "address": "a", "phone": "p"})
        # The category is a code list (GET /v1/code-lists/agency-categories): refused by the schema.
        assert r.status_code == 422 and r.json()["type"].endswith("/invalid-input")
        assert [e["loc"] for e in r.json()["errors"]] == [["body", "category"]]
        r = officer.put(f"/v1/centres/{centre_id}/profile", json={
            "opened_fy": 2009, "municipality": "131016", "address": "x", "phone": "0", "hours": {"mon": ["17:00",
                                                                                                         "09:00"]}})
        assert r.status_code == 422
    assert recorder.max_notification_id() == before


def test_referrals_and_support_decisions_reach_the_ministrys_tables(nats_server, start_service):
    intake = start_service("intake", nats_server.url)
    reporting = start_service("reporting", nats_server.url)
    centre_id, case_id = _setup_case(intake)
    agencies = {c: _agency(intake, c, c) for c in ("hello_work", "employment_other", "medical_institution")}
    base = f"/v1/cases/{case_id}"
    with intake.client(role="centre_staff", org=centre_id) as staff:
        staff.post(f"{base}/share-consents", json={"categories": list(agencies), "items": ["name"],
                                                   "explained_on": "2016-04-01", "consent_text_version": "v"})
        made = {}
        for category, on in (("hello_work", "2016-06-01"), ("employment_other", "2017-03-31"),
                             ("medical_institution", "2017-04-01")):
            r = staff.post(f"{base}/referrals", json={"agency_id": agencies[category], "referred_on": on})
            assert r.status_code == 201, r.text
            made[category] = r.headers["location"].rsplit("/", 1)[1]
        staff.post(f"{base}/referrals/{made['hello_work']}/outcome", json={"outcome": "support_decided",
                                                                           "on": "2016-07-01"})
    with reporting.client(role="ministry", org="mhlw") as ministry:
        body = eventually(lambda: (b := ministry.get("/v1/reports/referrals", params={"fy": 2016}).json())
                          and b["summary"]["total"] == 2 and b)
        summary = {c["code"]: (c["count"], c["rate"]) for c in body["summary"]["columns"]}
        assert summary["hello_work"] == (1, 50.0) and summary["other"] == (1, 50.0)  # the duplicate column → その他
        outcome = eventually(lambda: (o := ministry.get("/v1/reports/outcome", params={"fy": 2016}).json())
                             and o["decided"] == 1 and o)
        assert outcome["label"] == "平成28年度"
        csv = ministry.get("/v1/reports/referrals/export", params={"fy": 2016, "format": "csv"})
        assert csv.content.startswith("\ufeff".encode()) and "ハローワーク" in csv.content.decode("utf-8-sig")
        assert ministry.get("/v1/reports/referrals", params={"fy": 2017}).json()["summary"]["total"] == 1
