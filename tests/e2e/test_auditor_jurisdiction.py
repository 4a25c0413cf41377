"""One access model for auditors (issue 14, SECURITY.md): every auditor bounded by jurisdiction
in every service, personal data opened only for a listed purpose with a sealed note, and every
opening — the roster's too — recorded as PersonalDataAccessed."""

from __future__ import annotations

import pytest

from tests.e2e.test_consultation_slice import PREF, _setup_case
from tests.e2e.test_registry_lifecycle import REGISTRAR, TODAY, registered
from tests.harness import published

OSAKA = "270008"  # 大阪府
OSAKA_CITY = "271004"  # 大阪市
CHIYODA = "131016"  # 千代田区, inside 東京都 (130001)
NOTE = "〇〇本人からの開示請求（電話 03-0000-0000）"
ACCESSED = "jp.tsunagu.audit.PersonalDataAccessed.v2"


@pytest.mark.parametrize(("org", "sees"), [(OSAKA, False), (OSAKA_CITY, False), ("ppc", False),
                                           (CHIYODA, False), (PREF, True), ("000000", True)])
def test_an_auditor_sees_and_opens_a_case_only_inside_their_jurisdiction(nats_server, start_service, org, sees):
    intake = start_service("intake", nats_server.url)
    _, case_id = _setup_case(intake)  # a case of 東京都's centre
    with intake.client(role="auditor", org=org) as auditor:
        log = auditor.get("/v1/audit/events", params={"limit": 1000}).json()["data"]
        assert bool(log) is sees and all(e["tenant"] == PREF for e in log)
    with intake.client(role="auditor_pii", org=org, sub="inspector") as inspector:
        r = inspector.get(f"/v1/audit/subjects/{case_id}", params={"purpose": "disclosure_request", "note": NOTE})
        assert r.status_code == (200 if sees else 404), r.text
        if sees:
            assert r.json()["events"][0]["data"]["personal_details"]["name"] == "山田太郎"
        opened = inspector.get("/v1/audit/events", params={"purpose": "internal_audit", "limit": 1000}).json()["data"]
        assert ("山田太郎" in str(opened)) is sees
    with intake.client(role="auditor", org="000000") as national:
        log = national.get("/v1/audit/events", params={"limit": 1000}).json()["data"]
    access = [e for e in log if e["type"] == ACCESSED]
    # Nothing opened, nothing recorded; each opening recorded once, with the code, the note sealed.
    assert [(a["data"]["accessor_org"], a["data"]["purpose_code"]) for a in access] == (
        [(org, "disclosure_request"), (org, "internal_audit")] if sees else [])
    assert all(a["data"]["note"] is None or a["data"]["note"]["alg"] == "A256GCM" for a in access)


def test_a_purpose_outside_the_code_list_is_refused_and_the_note_never_reaches_the_bus_in_clear(
        nats_server, start_service):
    intake = start_service("intake", nats_server.url)
    _, case_id = _setup_case(intake)
    with intake.client(role="auditor_pii", org=PREF, sub="inspector") as inspector:
        for purpose in ("本人からの開示請求への回答です", "audit", "roster_received"):
            for path in ("/v1/audit/events", f"/v1/audit/subjects/{case_id}"):
                r = inspector.get(path, params={"purpose": purpose})
                assert r.status_code == 422, (path, purpose, r.text)
                assert r.headers["content-type"].startswith("application/problem+json")
        assert inspector.get(f"/v1/audit/subjects/{case_id}").status_code == 422  # no purpose at all
        assert inspector.get(f"/v1/audit/subjects/{case_id}", params={
            "purpose": "complaint_investigation", "note": NOTE}).status_code == 200
        assert inspector.get("/v1/audit/events", params={"purpose": "other", "note": NOTE}).status_code == 200
    with intake.client(role="auditor", org=PREF) as auditor:  # the plain auditor may not open
        assert auditor.get("/v1/audit/events", params={"purpose": "internal_audit"}).status_code == 403
    messages = published(intake, nats_server.url)
    accesses = [m for m in messages if m.subject.endswith(".PersonalDataAccessed")]
    assert len(accesses) == 2
    for m in messages:
        assert "開示請求".encode() not in m.data and b"03-0000-0000" not in m.data


def test_registry_auditors_are_bounded_by_jurisdiction_and_the_roster_opens_details_only_to_officers(
        nats_server, start_service):
    registry = start_service("registry", nats_server.url)
    with registry.client(role="prefecture_officer", org=REGISTRAR) as officer:
        sid = registered(officer)["id"]
        assert officer.post("/v1/rosters", json={"municipality": CHIYODA, "provided_on": TODAY.isoformat()}
                            ).status_code == 201
    for org, code in ((OSAKA, 404), (OSAKA_CITY, 404), (CHIYODA, 404), (REGISTRAR, 200), ("000000", 200)):
        for role in ("auditor", "auditor_pii"):
            with registry.client(role=role, org=org) as auditor:
                r = auditor.get(f"/v1/supporters/{sid}")
                assert r.status_code == code, (org, role, r.text)
                assert "山田花子" not in r.text  # an auditor sees the record, not the details
    with registry.client(role="auditor_pii", org=OSAKA) as osaka:
        assert osaka.get(f"/v1/audit/subjects/{sid}", params={"purpose": "disclosure_request"}).status_code == 404
        assert "山田花子" not in osaka.get("/v1/audit/events", params={"purpose": "internal_audit"}).text
    for role in ("auditor", "auditor_pii"):  # the municipality's auditors: the entries, no details
        with registry.client(role=role, org=CHIYODA) as auditor:
            r = auditor.get("/v1/roster", params={"municipality": CHIYODA})
            assert r.status_code == 200 and [e["details"] for e in r.json()["entries"]] == [None], r.text
    with registry.client(role="municipal_officer", org=CHIYODA, sub="chiyoda-1") as city:
        r = city.get("/v1/roster", params={"municipality": CHIYODA})
        assert r.json()["entries"][0]["details"]["name"] == "山田花子"
    access = [m for m in published(registry, nats_server.url) if m.subject.endswith(".PersonalDataAccessed")]
    assert len(access) == 1 and b"roster_received" in access[0].data and sid.encode() in access[0].data
    assert access[0].subject.startswith(f"registry.{CHIYODA}.")
