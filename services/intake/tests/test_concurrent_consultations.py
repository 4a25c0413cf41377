"""Consultations appended to one case at the same time: appending commutes, so a request without
If-Match that loses the race is re-run on the case reloaded (never 409); one with a stale If-Match
is refused (412 before the save, 409 when it lost the race at the save)."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime
from typing import Any
from uuid import UUID, uuid4

import pytest
from eventsourcing.persistence import IntegrityError
from sqlalchemy import text

from libs.domain.contracts import idempotency_digest
from libs.domain.errors import VersionMismatch
from libs.platform.store.creations import IdempotencyKeyReused
from libs.platform.web.auth import Principal
from services.intake.application import IntakeApplication
from services.intake.domain.case import Case
from tests.harness import stored_applications

WHEN = datetime(2016, 5, 1, 10, tzinfo=UTC)


def _open_case(app: IntakeApplication) -> tuple[UUID, Principal]:
    centre = uuid4()
    case = Case.open(id=uuid4(), tenant="130001", centre_id=centre, client_kind="person", age_group="adult",
                     personal_details=None)
    app.save(case)
    return case.id, Principal(sub="staff", org=str(centre), roles=frozenset({"centre_staff"}))


def _record(app: IntakeApplication, actor: Principal, case_id: UUID, *, expected_version: int | None = None,
            key: str | None = None, summary: str = "電話相談") -> Any:
    return app.record_consultation(actor, case_id, expected_version=expected_version, channel="phone",
                                   consulted_by="person", occurred_at=WHEN, summary=summary, idempotency_key=key)


def _racing(app: IntakeApplication, other: IntakeApplication, actor: Principal, case_id: UUID,
            **other_args: Any) -> None:
    """The first value `app` seals (after it loaded the case) waits for `other` to record a
    consultation on the same case first: `app`'s save then finds the case moved on."""
    seal = app.seal
    raced: list[Any] = []

    def seal_after_the_other_request(subject: Any, value: Any) -> Any:
        if not raced:
            raced.append(_record(other, actor, case_id, **other_args))
        return seal(subject, value)

    app.seal = seal_after_the_other_request  # type: ignore[method-assign]


def test_a_consultation_that_lost_a_race_without_if_match_is_recorded_on_the_case_reloaded(tmp_path) -> None:
    with stored_applications(tmp_path, "intake", IntakeApplication) as (_engine, application):
        first, second = application(), application()  # two replicas of one service
        case_id, actor = _open_case(first)
        _racing(first, second, actor, case_id)
        recorded = _record(first, actor, case_id)
        assert recorded.created
        case = second.repository.get(case_id)
        assert case.consultation_count == 2 and case.version == 3
        assert second.consultation(case, recorded.consultation_id) is not None


def test_a_consultation_with_if_match_that_lost_a_race_is_refused_and_not_recorded(tmp_path) -> None:
    with stored_applications(tmp_path, "intake", IntakeApplication) as (_engine, application):
        first, second = application(), application()
        case_id, actor = _open_case(first)
        _racing(first, second, actor, case_id)
        with pytest.raises(IntegrityError):  # 409: the version it named was current when it checked
            _record(first, actor, case_id, expected_version=1)
        with pytest.raises(VersionMismatch):  # 412: the version it names is stale by now
            _record(second, actor, case_id, expected_version=1)
        assert second.repository.get(case_id).consultation_count == 1


def test_a_retry_with_the_same_idempotency_key_that_lost_the_race_returns_the_first_consultation(tmp_path) -> None:
    with stored_applications(tmp_path, "intake", IntakeApplication) as (_engine, application):
        first, second = application(), application()
        case_id, actor = _open_case(first)
        _racing(first, second, actor, case_id, key="same")
        recorded = _record(first, actor, case_id, key="same")
        assert not recorded.created
        assert second.repository.get(case_id).consultation_count == 1


def test_the_same_key_with_another_request_that_lost_the_race_is_refused_and_not_recorded(tmp_path) -> None:
    with stored_applications(tmp_path, "intake", IntakeApplication) as (_engine, application):
        first, second = application(), application()
        case_id, actor = _open_case(first)
        _racing(first, second, actor, case_id, key="same")
        with pytest.raises(IdempotencyKeyReused):  # 422: the key named another consultation
            _record(first, actor, case_id, key="same", summary="別の相談")
        case = second.repository.get(case_id)
        assert case.consultation_count == 1 and case.version == 2


def test_the_ledger_keeps_keyed_digests_of_the_key_and_the_request_never_what_the_client_sent(tmp_path) -> None:
    with stored_applications(tmp_path, "intake", IntakeApplication) as (engine, application):
        app = application()
        case_id, actor = _open_case(app)
        key = "山田花子さん（母）からの電話"
        recorded = _record(app, actor, case_id, key=key)
        with engine.connect() as conn:
            [row] = conn.execute(text("SELECT * FROM intake_creations")).mappings().all()
        assert row["resource_id"] == str(recorded.consultation_id) and row["version"] == 2
        unkeyed = idempotency_digest("intake", f"consultation/{case_id}", key, None)
        assert len(row["key_digest"]) == 64 and row["key_digest"] != unkeyed and len(row["request_digest"]) == 64
        assert key not in str(dict(row)) and "電話相談" not in str(dict(row))


def test_eight_clients_appending_to_one_case_at_once_all_get_their_consultation_recorded(tmp_path) -> None:
    with stored_applications(tmp_path, "intake", IntakeApplication) as (_engine, application):
        app = application()  # one replica, its request threads
        case_id, actor = _open_case(app)
        with ThreadPoolExecutor(8) as pool:
            results = list(pool.map(lambda _: _record(app, actor, case_id), range(48)))
        assert all(r.created for r in results)
        assert app.repository.get(case_id).consultation_count == 48
