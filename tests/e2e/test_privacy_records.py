"""Provision, receipt and consent records (APPI 第27条〜第30条) queried by an auditor."""

from __future__ import annotations

from datetime import UTC, datetime

from libs.platform.messaging.cloudevents import Envelope
from libs.platform.privacy.sealed_values import is_sealed
from tests.e2e.test_consultation_slice import _setup_case
from tests.e2e.test_dispatch_flow import CITY, DAY, rostered
from tests.e2e.test_intake_flow import _agency
from tests.e2e.test_registry_lifecycle import REGISTRAR, registered
from tests.harness import eventually, published, stream_messages


def test_every_disclosure_is_queryable_by_person_and_recipient_and_consent_state_by_instant(
        nats_server, start_service):
    intake = start_service("intake", nats_server.url)
    centre_id, case_id = _setup_case(intake)
    agency = _agency(intake, "ハローワーク", "hello_work")
    base = f"/v1/cases/{case_id}"
    with intake.client(role="centre_staff", org=centre_id) as staff:
        consent = staff.post(f"{base}/share-consents", json={
            "agency_ids": [agency], "items": ["name", "contact"], "explained_on": "2016-05-01",
            "consent_text_version": "v"}).json()["consent_id"]
        staff.post(f"{base}/disclosures", json={"agency_id": agency, "items": ["name"], "on": "2016-05-02",
                                                 "purpose": "referral"}).raise_for_status()
        between = datetime.now(UTC).isoformat()
        staff.post(f"{base}/share-consents/{consent}/withdrawal", json={"on": "2016-06-01"}).raise_for_status()
    with intake.client(role="auditor", org="000000") as auditor:
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
    sid = rostered(registry)[0]
    with registry.client(role="auditor", org="000000") as auditor:
        [provided] = auditor.get("/v1/audit/provisions", params={"subject": sid}).json()["data"]
        assert (provided["kind"], provided["counterpart"], provided["on"]) == ("provision", CITY, DAY)
        assert "name" in provided["items"]
        [consent] = auditor.get("/v1/audit/consents", params={"subject": sid}).json()["data"]
        assert consent["consent_id"] == provided["basis"] and consent["status"] == "active"
        record = consent["data"]["record"]  # the ISO/IEC TS 27560 record travels in the event itself
        assert (record["controller"], record["jurisdiction"], record["method"]) == (REGISTRAR, "JP",
                                                                                    "written_signature")
        assert record["recipients"] == ["ひきこもりサポーター派遣事業を実施する市町村"]
    on_bus = [Envelope.from_json(m.data) for m in published(registry, nats_server.url)]
    [on_the_bus] = [e for e in on_bus if e.name == "RegistrationConsented"]
    assert on_the_bus.type.endswith(".v2") and on_the_bus.data["record"] == record
    with dispatch.client(role="auditor", org="000000") as auditor:
        received = eventually(lambda: auditor.get("/v1/audit/provisions", params={"subject": sid}).json()["data"])
        assert [(r["kind"], r["counterpart"], r["basis"]) for r in received] == [
            ("receipt", REGISTRAR, provided["basis"])]


def _verified(receipt: dict) -> dict:
    from libs.platform.privacy.receipts import verify_receipt

    assert verify_receipt(receipt["publicKey"], receipt), "signed by the service, as a receipt"
    return receipt["receipt"]


def test_consent_receipts_are_signed_and_show_the_kantara_fields_and_the_current_status(nats_server, start_service):
    intake = start_service("intake", nats_server.url)
    registry = start_service("registry", nats_server.url)
    centre_id, case_id = _setup_case(intake)
    agency = _agency(intake, "神田クリニック", "medical_institution")
    base = f"/v1/cases/{case_id}"
    with intake.client(role="centre_staff", org=centre_id) as staff:
        consent = staff.post(f"{base}/share-consents", json={
            "given_by": "legal_guardian", "agency_ids": [agency], "categories": ["hello_work"],
            "items": ["name", "medical_history"], "explained_on": "2016-05-01",
            "consent_text_version": "centre-2016"}).json()["consent_id"]
        receipt = _verified(staff.get(f"{base}/share-consents/{consent}/receipt").json())
        assert (receipt["jurisdiction"], receipt["givenBy"], receipt["piiPrincipalId"]) == ("JP", "legal_guardian",
                                                                                            case_id)
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


ABUSE_ACT = "disability_abuse_notification"  # 障害者虐待の防止…に関する法律 第7条: a code, never a citation
CIRCUMSTANCES = "本人は意識がなく家族とも連絡がつかない"


def test_a_provision_may_rest_on_a_stated_legal_basis_instead_of_a_consent_and_the_records_say_which(
        nats_server, start_service):
    intake = start_service("intake", nats_server.url)
    centre_id, case_id = _setup_case(intake)
    jido = _agency(intake, "千代田区障害者福祉課", "municipal_window")
    clinic = _agency(intake, "神田クリニック", "medical_institution")
    base = f"/v1/cases/{case_id}"
    with intake.client(role="centre_staff", org=centre_id) as staff:
        notified = staff.post(f"{base}/disclosures", json={
            "agency_id": jido, "items": ["name", "address"], "on": "2016-05-02", "purpose": "other",
            "legal_basis": {"code": "required_by_law", "statute": ABUSE_ACT}})
        assert notified.status_code == 201, notified.text
        referred = staff.post(f"{base}/referrals", json={
            "agency_id": clinic, "items": ["name", "medical_history"], "referred_on": "2016-05-03",
            "legal_basis": {"code": "protection_of_life", "reason": CIRCUMSTANCES}})
        assert referred.status_code == 201, referred.text
        case_now = staff.get(base).json()
        assert list(case_now["referrals"]) == [referred.json()["referral_id"]] and case_now["consents"] == {}
        timeline = staff.get(f"{base}/timeline").json()["events"]  # opened for the centre's staff
        [opened] = [e["data"] for e in timeline if e["data"].get("legal_basis") == "protection_of_life"]
        assert opened["reason"] == CIRCUMSTANCES and opened["consent_id"] is None
        [cited] = [e["data"] for e in timeline if e["data"].get("legal_basis") == "required_by_law"]
        assert cited["statute"] == ABUSE_ACT
    with intake.client(role="auditor", org="000000") as auditor:
        records = eventually(lambda: (r := auditor.get("/v1/audit/provisions", params={"subject": case_id})
                                      .json()["data"]) and len(r) == 2 and r)
        assert [(p["counterpart"], p["basis_kind"], p["basis"]) for p in records] == [
            (jido, "legal_basis", "required_by_law"), (clinic, "legal_basis", "protection_of_life")]
        assert records[0]["event_type"] == "jp.tsunagu.intake.CaseInfoDisclosed.v3"
    disclosed = eventually(lambda: (p := [Envelope.from_json(m.data) for m in stream_messages(nats_server.url, "INTAKE")
                                          if b"CaseInfoDisclosed" in m.data]) and len(p) == 2 and p)
    assert [e.data["legal_basis"] for e in disclosed] == ["required_by_law", "protection_of_life"]
    assert is_sealed(disclosed[1].data["reason"])  # the circumstances describe the person
    assert is_sealed(disclosed[0].data["statute"])  # sealed with the person's data, as the citation was
    for m in published(intake, nats_server.url):
        assert CIRCUMSTANCES not in m.data.decode() and "山田太郎" not in m.data.decode()


def test_a_provision_with_neither_consent_nor_a_justified_legal_basis_is_refused_and_writes_nothing(
        nats_server, start_service):
    intake = start_service("intake", nats_server.url)
    centre_id, case_id = _setup_case(intake)
    jido = _agency(intake, "東京都児童相談センター", "child_guidance_centre")
    base = f"/v1/cases/{case_id}"
    share = {"agency_id": jido, "items": ["name"], "on": "2016-05-02", "purpose": "other"}
    with intake.client(role="auditor", org="000000") as auditor:
        logged = len(auditor.get("/v1/audit/events", params={"limit": 1000}).json()["data"])
    with intake.client(role="centre_staff", org=centre_id) as staff:
        version = staff.get(base).json()["version"]
        refusals = [
            (share, 409, "consent-missing"),
            ({**share, "legal_basis": {"code": "required_by_law"}}, 422, "invalid-legal-basis"),
            ({**share, "legal_basis": {"code": "public_health_or_child_welfare", "statute": ABUSE_ACT}}, 422,
             "invalid-legal-basis"),
            ({**share, "legal_basis": {"code": "cooperation_with_authority", "reason": "捜査への協力"}}, 422,
             "invalid-legal-basis"),
            ({**share, "legal_basis": {"code": "because_it_helps", "reason": "x"}}, 422, "invalid-input"),
            ({**share, "legal_basis": {"code": "required_by_law", "statute": "x" * 201}}, 422, "invalid-input"),
            # issue 14: free text passed as a statute; now a code, for its recipients only
            ({**share, "legal_basis": {"code": "cooperation_with_authority", "statute": "x", "reason": "x"}}, 422,
             "invalid-input"),
            ({**share, "legal_basis": {"code": "required_by_law", "statute": "child_abuse_notification"}}, 422,
             "invalid-legal-basis"),  # a child's law, for an adult's case
            ({**share, "legal_basis": {"code": "required_by_law", "statute": ABUSE_ACT, "note": "?"}}, 422,
             "invalid-input"),
        ]
        for body, status, slug in refusals:
            r = staff.post(f"{base}/disclosures", json=body)
            assert (r.status_code, r.json()["type"].rsplit("/", 1)[-1]) == (status, slug), (body, r.text)
            assert r.headers["content-type"] == "application/problem+json"
        r = staff.post(f"{base}/referrals", json={"agency_id": jido, "referred_on": "2016-05-02",
                                                  "legal_basis": {"code": "protection_of_life"}})
        assert r.status_code == 422 and r.json()["missing"] == ["reason"]
        assert staff.get(base).json()["version"] == version
    with intake.client(role="auditor", org="000000") as auditor:
        assert len(auditor.get("/v1/audit/events", params={"limit": 1000}).json()["data"]) == logged
        assert auditor.get("/v1/audit/provisions", params={"subject": case_id}).json()["data"] == []
