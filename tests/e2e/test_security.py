"""Authentication, org scoping and bad input: 401/403/404/422 problem+json, never a 500,
never a partial write."""

from __future__ import annotations

import pytest

from tests.e2e.test_consultation_slice import PREF, _setup_case
from tests.harness import eventually

PROBLEM = "application/problem+json"


# /v1 operations that need no token, on purpose: the code lists (no personal data; a portal needs
# them before anyone logs in). Any other is a decision to be written here.
PUBLIC_V1 = ("/v1/code-lists",)


def _v1_operations(service) -> list[tuple[str, str]]:
    """The secured /v1 operations (OpenAPI `security`); the others must be public on purpose."""
    paths = service.app.openapi()["paths"]
    ops = []
    for path, methods in paths.items():
        if path.startswith("/v1/"):
            concrete = path.replace("{case_id}", "00000000-0000-0000-0000-000000000000").replace(
                "{centre_id}", "00000000-0000-0000-0000-000000000000")
            for method, op in methods.items():
                if op.get("security"):
                    ops.append((method.upper(), concrete))
                else:
                    assert path.startswith(PUBLIC_V1), f"{method.upper()} {path} needs no token: add it to PUBLIC_V1?"
    return ops


@pytest.mark.parametrize("service_name", ["intake", "reporting"])
def test_every_v1_endpoint_answers_401_problem_without_a_valid_token(nats_server, start_service, service_name):
    service = start_service(service_name, nats_server.url)
    ops = _v1_operations(service)
    assert ops, "the service has /v1 endpoints"
    with service.client() as anonymous:
        for method, path in ops:
            for headers in ({}, {"Authorization": "Bearer not-a-jwt"}, {"Authorization": "Basic eDp5"}):
                r = anonymous.request(method, path, headers=headers, params={"fy": 2016}, json={})
                assert r.status_code == 401, (method, path, r.text)
                assert r.headers["content-type"] == PROBLEM
                assert r.json()["type"].endswith("/unauthenticated")


def test_another_centre_and_another_prefecture_never_see_a_case_or_its_counts(nats_server, start_service):
    intake = start_service("intake", nats_server.url)
    reporting = start_service("reporting", nats_server.url)
    centre_id, case_id = _setup_case(intake)
    other_centre, _ = _setup_case(intake, prefecture="270008")  # 大阪府
    with intake.client(role="centre_staff", org=other_centre) as stranger:
        assert stranger.get(f"/v1/cases/{case_id}").status_code == 404
        r = stranger.post(f"/v1/cases/{case_id}/consultations",
                          json={"channel": "phone", "occurred_at": "2016-05-01T10:00:00+09:00"})
        assert r.status_code == 404 and r.headers["content-type"] == PROBLEM
        assert stranger.post("/v1/cases", json={"centre_id": centre_id, "client_kind": "person",
                                                "age_group": "adult"}).status_code == 404
    with intake.client(role="prefecture_officer", org="270008") as osaka:
        assert osaka.get(f"/v1/centres/{centre_id}").status_code == 404
        r = osaka.post("/v1/centres", json={"name": "x", "kind": "adult", "prefecture": PREF})
        assert r.status_code == 403 and r.headers["content-type"] == PROBLEM
    with intake.client(role="centre_staff", org=centre_id) as staff:
        staff.post(f"/v1/cases/{case_id}/consultations",
                   json={"channel": "phone", "occurred_at": "2016-05-01T10:00:00+09:00"}).raise_for_status()
    with reporting.client(role="ministry", org="mhlw") as ministry:
        eventually(lambda: ministry.get("/v1/reports/consultations", params={"fy": 2016}).json()["total"] == 1)
    with reporting.client(role="prefecture_officer", org="270008") as osaka:
        body = osaka.get("/v1/reports/consultations", params={"fy": 2016}).json()
        assert [c["centre_id"] for c in body["centres"]] == [other_centre] and body["total"] == 0
        # ?prefecture= narrows within the caller's jurisdiction and never widens it
        assert osaka.get("/v1/reports/consultations", params={"fy": 2016, "prefecture": "270008"}).json()["centres"] \
            == body["centres"]
        for prefecture, status in ((PREF, 403), ("131016", 422), ("13000x", 422)):
            r = osaka.get("/v1/reports/consultations", params={"fy": 2016, "prefecture": prefecture})
            assert r.status_code == status and r.headers["content-type"] == PROBLEM, (prefecture, r.text)
    with reporting.client(role="ministry", org="mhlw") as ministry:
        body = ministry.get("/v1/reports/consultations", params={"fy": 2016, "prefecture": PREF}).json()
        assert [c["centre_id"] for c in body["centres"]] == [centre_id] and body["total"] == 1
    with reporting.client(role="centre_staff", org=centre_id) as staff:
        body = staff.get("/v1/reports/consultations", params={"fy": 2016}).json()
        assert [c["centre_id"] for c in body["centres"]] == [centre_id] and body["total"] == 1
    with reporting.client(role="supporter", org=PREF) as supporter:
        r = supporter.get("/v1/reports/consultations", params={"fy": 2016})
        assert r.status_code == 403 and r.headers["content-type"] == PROBLEM


BAD_CONSULTATIONS = [
    {},
    {"channel": "telepathy", "occurred_at": "2016-05-01T10:00:00+09:00"},
    {"channel": "phone", "occurred_at": "2016-05-01T10:00:00"},  # no timezone
    {"channel": "phone", "occurred_at": "yesterday"},
    {"channel": "phone", "occurred_at": "2999-01-01T00:00:00+09:00"},  # in the future
    {"channel": "phone", "occurred_at": "2016-05-01T10:00:00+09:00", "unexpected": 1},
    {"channel": "phone", "occurred_at": "2016-05-01T10:00:00+09:00", "summary": "x" * 20_001},
    ["not", "an", "object"],
]


def test_bad_input_gets_a_problem_response_and_changes_nothing(nats_server, start_service):
    intake = start_service("intake", nats_server.url)
    centre_id, case_id = _setup_case(intake)
    recorder = intake.runtime.application.recorder
    before = recorder.max_notification_id()
    with intake.client(role="centre_staff", org=centre_id) as staff:
        for body in BAD_CONSULTATIONS:
            r = staff.post(f"/v1/cases/{case_id}/consultations", json=body)
            assert r.status_code == 422, (body, r.text)
            assert r.headers["content-type"] == PROBLEM
        r = staff.post(f"/v1/cases/{case_id}/consultations", content=b"{not json",
                       headers={"Content-Type": "application/json"})
        assert r.status_code == 400 and r.headers["content-type"] == PROBLEM  # malformed JSON (issue 18)
        assert staff.get("/v1/cases/not-a-uuid").status_code == 422
        r = staff.post(f"/v1/cases/{case_id}/consultations", headers={"If-Match": "abc"},
                       json={"channel": "phone", "occurred_at": "2016-05-01T10:00:00+09:00"})
        assert r.status_code == 422
        r = staff.post(f"/v1/cases/{case_id}/consultations", headers={"If-Match": '"7"'},
                       json={"channel": "phone", "occurred_at": "2016-05-01T10:00:00+09:00"})
        assert r.status_code == 412 and r.json()["type"].endswith("/version-mismatch")
        assert staff.post("/v1/cases", json={"centre_id": centre_id, "client_kind": "cousin",
                                             "age_group": "adult"}).status_code == 422
    with intake.client(role="prefecture_officer", org="130002") as bad_code:
        r = bad_code.post("/v1/centres", json={"name": "x", "kind": "adult", "prefecture": "130002"})
        assert r.status_code == 422 and r.json()["type"].endswith("/invalid-lg-code")
    assert recorder.max_notification_id() == before
    with intake.client(role="centre_staff", org=centre_id) as staff:
        assert staff.get(f"/v1/cases/{case_id}/consultations").json()["count"] == 0
