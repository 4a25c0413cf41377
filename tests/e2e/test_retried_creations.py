"""Idempotency-Key on the creations inside a case and what a creation answers (issue 18): a retried
consent to share (or referral) with the same key records once and answers the same resource, the
key never reaches the bus in clear, and the answer is the created resource with its Location."""

from __future__ import annotations

from tests.e2e.test_consultation_slice import _setup_case
from tests.e2e.test_intake_flow import _agency
from tests.harness import published

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
