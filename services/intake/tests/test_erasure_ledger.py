"""Erasure and the creations ledger (store/creations.py): the request digests of what was created in
the erased person's case are forgotten with their key (a keyed digest still fits a guessed name for
whoever holds the service's secret), while a late retry with a key is refused with the id of what it made."""

from __future__ import annotations

from datetime import UTC, date, datetime

import pytest
from sqlalchemy import text

from libs.platform.store.creations import IdempotencyKeyReused
from services.intake.application import IntakeApplication
from services.intake.tests.test_concurrent_consultations import _open_case
from tests.harness import stored_applications

WHEN = datetime(2016, 5, 1, 10, tzinfo=UTC)


def _record(app: IntakeApplication, actor, case_id, summary: str):
    return app.record_consultation(actor, case_id, expected_version=None, channel="phone", consulted_by="person",
                                   occurred_at=WHEN, summary=summary, idempotency_key="portal-key-1")


def _digests(engine, case_id) -> list[str | None]:
    with engine.connect() as conn:
        return list(conn.execute(text("SELECT request_digest FROM intake_creations WHERE aggregate_id = :a"),
                                 {"a": str(case_id)}).scalars())


def test_an_erasure_forgets_the_request_digests_of_the_persons_case(tmp_path) -> None:
    with stored_applications(tmp_path, "intake", IntakeApplication) as (engine, application):
        app = application()
        case_id, actor = _open_case(app)
        other_id, _ = _open_case(app)
        other_actor = actor.__class__(sub="staff", org=str(app.repository.get(other_id).centre_id),
                                      roles=actor.roles)
        first = _record(app, actor, case_id, "山田太郎さんの母から電話")
        _record(app, other_actor, other_id, "別の人の相談")
        assert all(_digests(engine, case_id)) and all(_digests(engine, other_id))

        app.erase_subject(actor, case_id, erased_on=date(2016, 6, 1), basis="request_granted")
        assert _digests(engine, case_id) == [None]
        assert all(_digests(engine, other_id))  # nobody else's

        # A late retry with the key cannot be compared with the first request any more: refused,
        # naming what the key made (answering it would drop a new request's data silently).
        with pytest.raises(IdempotencyKeyReused) as refused:
            _record(application(), actor, case_id, "違う内容")
        assert refused.value.extensions["resource_id"] == str(first.consultation_id)
