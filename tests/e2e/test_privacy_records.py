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
                                                 "purpose": "referral"}).raise_for_status()
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


def _verified(receipt: dict) -> dict:
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

    from libs.platform.cloudevents import canonical

    key = Ed25519PublicKey.from_public_bytes(bytes.fromhex(receipt["publicKey"]))
    key.verify(bytes.fromhex(receipt["signature"]), canonical(receipt["receipt"]))  # raises if forged
    return receipt["receipt"]


def test_consent_receipts_are_signed_and_show_the_kantara_fields_and_the_current_status(nats_server, start_service):
    intake = start_service("intake", nats_server.url)
    registry = start_service("registry", nats_server.url)
    centre_id, case_id = _setup_case(intake)
    agency = _agency(intake, "神田クリニック", "medical_institution")
    base = f"/v1/cases/{case_id}"
    with intake.client(role="centre_staff", org=centre_id) as staff:
        consent = next(iter(staff.post(f"{base}/share-consents", json={
            "given_by": "legal_guardian", "agency_ids": [agency], "categories": ["hello_work"],
            "items": ["name", "medical_history"], "explained_on": "2016-05-01",
            "consent_text_version": "centre-2016"}).json()["consents"]))
        receipt = _verified(staff.get(f"{base}/share-consents/{consent}/receipt").json())
        assert (receipt["jurisdiction"], receipt["givenBy"], receipt["piiPrincipalId"]) == ("JP", "legal_guardian", case_id)
        assert receipt["sensitive"] and receipt["spiCat"] == ["medical_history"]
        assert receipt["services"][0]["purposes"][0]["thirdPartyName"] == [agency, "ハローワーク"]
        assert (receipt["noticeVersion"], receipt["status"]) == ("centre-2016", "active")
        staff.post(f"{base}/share-consents/{consent}/withdrawal", json={"on": "2016-06-01"}).raise_for_status()
        assert _verified(staff.get(f"{base}/share-consents/{consent}/receipt").json())["status"] == "withdrawn"
        assert staff.get(f"{base}/share-consents/00000000-0000-0000-0000-000000000000/receipt").status_code == 404
    with registry.client(role="prefecture_officer", org=REGISTRAR) as officer:
        sid = registered(officer)["id"]
    with registry.client(role="supporter", org=REGISTRAR, sub=sid) as me:
        receipt = _verified(me.get(f"/v1/supporters/{sid}/consent-receipt").json())
        assert receipt["noticeVersion"] == "資料4-v1" and not receipt["sensitive"]
