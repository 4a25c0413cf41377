"""A busy case is snapshotted every 50 events; reloading it from a snapshot gives the same state."""

from __future__ import annotations

from datetime import UTC, date, datetime
from uuid import uuid4

from services.intake.application import IntakeApplication
from services.intake.domain.case import Case
from tests.harness import stored_applications


def test_a_case_with_consents_referrals_and_60_consultations_reloads_from_its_snapshot(tmp_path):
    with stored_applications(tmp_path, "intake", IntakeApplication) as (_engine, application):
        app = application()
        case = Case.open(id=uuid4(), tenant="130001", centre_id=uuid4(), client_kind="person", age_group="adult",
                         residence_municipality="131016", personal_details=None)
        agency = uuid4()
        case.consent_to_share(consent_id=uuid4(), given_by="person", agency_ids=[str(agency)], categories=[],
                              items=["name"], explained_on=date(2016, 5, 1), consent_text_version="v1")
        case.refer(referral_id=uuid4(), agency_id=agency, category="hello_work", items=["name"],
                   referred_on=date(2016, 5, 2))
        app.save(case)
        for _ in range(60):
            case = app.repository.get(case.id)
            case.record_consultation(consultation_id=uuid4(), channel="phone", consulted_by="person",
                                     occurred_at=datetime(2016, 6, 1, tzinfo=UTC), summary=None)
            app.save(case)
        assert list(app.snapshots.get(case.id)), "a snapshot was taken"
        reloaded = app.repository.get(case.id)
        assert reloaded.consultation_count == 60 and reloaded.version == case.version == 64
        assert reloaded.consents == case.consents and reloaded.referrals == case.referrals
        assert reloaded.idempotency_keys == case.idempotency_keys
