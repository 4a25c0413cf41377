"""Intake commands that seal take the subject's key from the replica's cache, with no look at the
erasure log before: their save looks, in its transaction (store/sealed.py, issue 15)."""

from __future__ import annotations

from datetime import UTC, date, datetime

import pytest

from libs.platform.privacy.sealed_values import SubjectForgotten
from services.intake.application import IntakeApplication
from services.intake.tests.test_concurrent_consultations import _open_case
from tests.harness import checkouts, forgotten_after_the_cache, stored_applications

WHEN = datetime(2016, 5, 1, 10, tzinfo=UTC)


def _visit(app: IntakeApplication, actor: object, case_id: object, summary: str = "訪問") -> object:
    return app.record_outreach_visit(actor, case_id, expected_version=None, staff_role="outreach_worker",
                                     occurred_at=WHEN, summary=summary)


def test_an_outreach_visit_to_a_case_forgotten_by_another_replica_after_the_cache_gave_its_key_is_refused(
        tmp_path) -> None:
    """The erasure lands between the cache lookup and the save (no erasure event on the case, so no
    version conflict catches it): the save's check refuses it, the visit run again after a look
    refuses the case (410), nothing is recorded."""
    with stored_applications(tmp_path, "intake", IntakeApplication) as (_engine, application):
        first, second = application(), application()  # two replicas of one service
        case_id, actor = _open_case(first)
        _visit(first, actor, case_id)  # the key made and cached
        version = first.repository.get(case_id).version
        with forgotten_after_the_cache(first, second, case_id) as forgotten, pytest.raises(SubjectForgotten):
            _visit(first, actor, case_id, summary="消去の後の訪問")
        assert forgotten
        assert second.repository.get(case_id).version == version  # nothing after the first visit


def test_a_correction_of_a_case_forgotten_by_another_replica_after_the_cache_gave_its_key_is_refused(
        tmp_path) -> None:
    with stored_applications(tmp_path, "intake", IntakeApplication) as (_engine, application):
        first, second = application(), application()
        case_id, actor = _open_case(first)
        first.correct_personal_details(actor, case_id, personal_details={"name": "山田"},
                                       corrected_on=date(2016, 5, 2))
        version = first.repository.get(case_id).version
        with forgotten_after_the_cache(first, second, case_id) as forgotten, pytest.raises(SubjectForgotten):
            first.correct_personal_details(actor, case_id, personal_details={"name": "山田花子"},
                                           corrected_on=date(2016, 5, 3))
        assert forgotten
        assert second.repository.get(case_id).version == version


def test_an_outreach_visit_on_a_case_and_key_held_in_cache_takes_two_connections_its_load_and_its_save(
        tmp_path) -> None:
    with stored_applications(tmp_path, "intake", IntakeApplication) as (_engine, application):
        app = application()
        case_id, actor = _open_case(app)
        _visit(app, actor, case_id)  # the case and its key cached
        with checkouts() as taken:
            _visit(app, actor, case_id, summary="二回目の訪問")
        assert len(taken) == 2, taken  # no look at the erasure log of its own before the save
        other = application()
        assert other.repository.get(case_id).version == app.repository.get(case_id).version
