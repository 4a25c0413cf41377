"""Provision, receipt and consent records (APPI 第27条〜第30条) queried by an auditor."""

from __future__ import annotations

from datetime import datetime, timezone

from tests.e2e.test_consultation_slice import _setup_case
from tests.e2e.test_dispatch_flow import CITY, DAY
from tests.e2e.test_intake_flow import _agency
from tests.e2e.test_registry_lifecycle import REGISTRAR, registered
from tests.harness import eventually


def test_every_disclosure_is_queryable_by_person_and_recipient_and_consent_state_by_instant(
        nats_server, start_service):
    intake = start_service("intake", nats_server.url)
    centre_id, case_id = _setup_case(intake)
    agency = _agency(intake, "ハローワーク", "hello_work")
    base = f"/v1/cases/{case_id}"
    with intake.client(role="centre_staff", org=centre_id) as staff:
        consent = next(iter(staff.post(f"{base}/share-consents", json={
            "agency_ids": [agency], "items": ["name", "contact"], "explained_on": "2016-05-01",
            "consent_text_version": "v"}).json()["consents"]))
        staff.post(f"{base}/disclosures", json={"agency_id": agency, "items": ["name"], "on": "2016-05-02",
                                                 "purpose": "つなぎ"}).raise_for_status()
        between = datetime.now(timezone.utc).isoformat()
        staff.post(f"{base}/share-consents/{consent}/withdrawal", json={"on": "2016-06-01"}).raise_for_status()
    with intake.client(role="auditor", org="ppc") as auditor:
        about = auditor.get("/v1/audit/provisions", params={"subject": case_id}).json()["data"]
        assert [(p["kind"], p["counterpart"], p["items"], p["basis"]) for p in about] == [
            ("provision", agency, ["name"], consent)]
        assert auditor.get("/v1/audit/provisions", params={"recipient": agency}).json()["data"] == about
        then = auditor.get("/v1/audit/consents", params={"subject": case_id, "as_of": between}).json()["data"]
        now = auditor.get("/v1/audit/consents", params={"subject": case_id}).json()["data"]
        assert [c["status"] for c in then] == ["active"] and [c["status"] for c in now] == ["withdrawn"]
        assert auditor.get("/v1/audit/provisions").status_code == 422
    with intake.client(role="centre_staff", org=centre_id) as staff:
        assert staff.get("/v1/audit/provisions", params={"subject": case_id}).status_code == 403


def test_a_roster_is_a_provision_per_supporter_and_a_receipt_on_the_municipalitys_side(nats_server, start_service):
    registry = start_service("registry", nats_server.url)
    dispatch = start_service("dispatch", nats_server.url)
    with registry.client(role="prefecture_officer", org=REGISTRAR) as officer:
        sid = registered(officer)["id"]
        officer.post("/v1/rosters", json={"municipality": CITY, "provided_on": DAY}).raise_for_status()
    with registry.client(role="auditor", org="ppc") as auditor:
        [provided] = auditor.get("/v1/audit/provisions", params={"subject": sid}).json()["data"]
        assert (provided["kind"], provided["counterpart"], provided["on"]) == ("provision", CITY, DAY)
        assert "name" in provided["items"]
        [consent] = auditor.get("/v1/audit/consents", params={"subject": sid}).json()["data"]
        assert consent["consent_id"] == provided["basis"] and consent["status"] == "active"
    with dispatch.client(role="auditor", org="ppc") as auditor:
        received = eventually(lambda: auditor.get("/v1/audit/provisions", params={"subject": sid}).json()["data"])
        assert [(r["kind"], r["counterpart"], r["basis"]) for r in received] == [
            ("receipt", REGISTRAR, provided["basis"])]
