"""Bad input to registry and dispatch: a problem response naming what is wrong, never a 500,
and nothing written."""

from __future__ import annotations

from tests.e2e.test_registry_lifecycle import APPLICANT, CONSENT, REGISTRAR, trained

PROBLEM = "application/problem+json"


def _unchanged(service, attempts) -> None:
    recorder = service.runtime.application.recorder
    before = recorder.max_notification_id()
    for client, method, path, body, status in attempts:
        r = client.request(method, path, json=body)
        assert r.status_code == status, (path, body, r.text)
        assert r.headers["content-type"] == PROBLEM
    assert recorder.max_notification_id() == before


def test_bad_registry_input_changes_nothing(nats_server, start_service):
    registry = start_service("registry", nats_server.url)
    with registry.client(role="prefecture_officer", org=REGISTRAR) as officer:
        number = trained(officer)
        sid = officer.post("/v1/registrations", json={"certificate_number": number, "applied_on": "2016-06-01",
                                                      "applicant": APPLICANT, "consent": CONSENT}).json()["id"]
        course = officer.post("/v1/training-courses", json={"kind": "initial", "title": "t", "starts_on": "2016-05-10",
                                                            "ends_on": "2016-05-10"}).json()["id"]
        fresh = trained(officer)
        good = {"certificate_number": fresh, "applied_on": "2016-06-01", "applicant": APPLICANT, "consent": CONSENT}
        _unchanged(registry, [
            (officer, "POST", "/v1/training-courses", {"kind": "initial", "title": "t", "starts_on": "2016-05-10",
                                                        "ends_on": "2016-05-01"}, 422),
            (officer, "POST", "/v1/training-courses", {"kind": "weekly", "title": "t", "starts_on": "2016-05-10",
                                                        "ends_on": "2016-05-11"}, 422),
            (officer, "POST", f"/v1/training-courses/{course}/attendances",
             {"attended_on": "2016-13-01", "trainee": {"name": "x"}}, 422),
            (officer, "POST", f"/v1/training-courses/{course}/attendances",
             {"attended_on": "2016-06-01", "trainee": {"name": "x"}}, 422),  # outside the course
            (officer, "POST", "/v1/registrations", {**good, "certificate_number": "nope"}, 422),
            (officer, "POST", "/v1/registrations", {**good, "certificate_number": number}, 409),  # used already
            (officer, "POST", "/v1/registrations", {**good, "applicant": {**APPLICANT, "birth_date": "31/12/1960"}},
             422),
            (officer, "POST", "/v1/registrations", {**good, "consent": {**CONSENT, "consent_text_version": "old"}},
             422),
            (officer, "POST", f"/v1/supporters/{sid}/approval", {"issued_on": "2016-06-10", "term_years": 9}, 422),
            (officer, "POST", f"/v1/supporters/{sid}/approval", {"issued_on": "2016-05-01"}, 422),  # before applying
            (officer, "POST", f"/v1/supporters/{sid}/revocation", {"revoked_on": "2016-06-10", "grounds": "x"}, 409),
            (officer, "POST", "/v1/rosters", {"municipality": "131017", "provided_on": "2016-06-10"}, 422),
            (officer, "POST", "/v1/rosters", {"municipality": "13101", "provided_on": "2016-06-10"}, 422),
            (officer, "PUT", "/v1/registrar", {"max_term_years": 2, "default_term_years": 3,
                                               "consent_text_version": "v"}, 422),
            (officer, "GET", "/v1/roster?municipality=abcdef", None, 422),
        ])


def test_bad_dispatch_input_changes_nothing(nats_server, start_service):
    dispatch = start_service("dispatch", nats_server.url)
    with dispatch.client(role="municipal_officer", org="131016") as city:
        did = city.post("/v1/dispatches", json={"needs": ["visit"], "requested_on": "2026-01-10"}).json()["id"]
        base = f"/v1/dispatches/{did}"
        _unchanged(dispatch, [
            (city, "POST", "/v1/dispatches", {"needs": [], "requested_on": "2026-01-10"}, 422),
            (city, "POST", "/v1/dispatches", {"needs": ["teleport"], "requested_on": "2026-01-10"}, 422),
            (city, "POST", "/v1/dispatches", {"needs": ["visit"], "requested_on": "2026-01-10",
                                              "preferences": {"favourite_colour": "blue"}}, 422),
            (city, "POST", "/v1/dispatches", {"needs": ["visit"], "requested_on": "2026-01-10",  # free text
                                              "preferences": {"supporter_gender": "山田さんのような人"}}, 422),
            (city, "POST", "/v1/dispatches", {"needs": ["visit"], "requested_on": "2026-01-10",
                                              "subject_ref": "山田太郎"}, 422),
            # issue 14: `{}` published a SubjectDetailsRecorded the AsyncAPI schema refuses
            (city, "POST", "/v1/dispatches", {"needs": ["visit"], "requested_on": "2026-01-10",
                                              "subject_details": {}}, 422),
            (city, "POST", f"{base}/subject-details", {"details": {}}, 422),
            (city, "POST", f"{base}/subject-consent", {"items": ["blood_type"], "support_meetings": True,
                                                       "costs_self_paid": True, "signed_on": "2026-01-10"}, 422),
            (city, "POST", f"{base}/assignment", {"supporter_id": "00000000-0000-0000-0000-000000000009",
                                                  "assigned_on": "2026-01-10"}, 409),
            (city, "POST", f"{base}/start", {"on": "2026-01-10"}, 409),
            (city, "POST", f"{base}/plan", {"activities": [], "purpose": "p", "activity_plan": "a", "content": "c",
                                            "agreed_on": "2026-01-10"}, 422),
            (city, "POST", f"{base}/end", {"reason": "bored", "on": "2026-01-10"}, 422),
            (city, "POST", f"{base}/suspension", {"reason": "x", "on": "2026-01-10"}, 422),  # codes only
            (city, "POST", f"{base}/suspension", {"reason": "other", "on": "2026-01-10"}, 409),
            (city, "POST", "/v1/roster/00000000-0000-0000-0000-000000000009/intent-reconfirmation",
             {"on": "2026-01-10"}, 404),
        ])


def test_a_retried_application_is_one_and_another_application_for_the_same_certificate_is_refused(
        nats_server, start_service):
    registry = start_service("registry", nats_server.url)
    with registry.client(role="prefecture_officer", org=REGISTRAR) as officer:
        body = {"certificate_number": trained(officer), "applied_on": "2016-06-01", "applicant": APPLICANT,
                "consent": CONSENT}
        first = officer.post("/v1/registrations", json=body, headers={"Idempotency-Key": "app-1"})
        again = officer.post("/v1/registrations", json=body, headers={"Idempotency-Key": "app-1"})
        other = officer.post("/v1/registrations", json=body, headers={"Idempotency-Key": "app-2"})
        assert (first.status_code, again.status_code, other.status_code) == (201, 200, 409)
        assert first.json()["id"] == again.json()["id"] and other.json()["type"].endswith("/already-applied")
