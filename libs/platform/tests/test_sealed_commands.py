"""The one way a command seals with cached keys (store/sealed.py): refused by its save's check, it
runs once more after a look; never again once one of its saves committed; a value sealed with a
cached key that no save checked is a programming error."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any
from uuid import UUID

import pytest
from sqlalchemy import Engine, event

from libs.platform.privacy.sealed_values import INLINE_SUBJECTS, SubjectForgotten, SubjectKeys
from libs.platform.store.sealed import SealedWithoutSave
from services.intake.application import IntakeApplication
from services.intake.domain.case import Case
from services.intake.tests.test_concurrent_consultations import _open_case
from tests.harness import backend, forgotten_after_the_cache, stored_applications

WHEN = datetime(2016, 5, 1, 10, tzinfo=UTC)


def _visit(app: IntakeApplication, case: Case, summary: str) -> None:
    case.record_outreach_visit(visit_id=UUID(int=case.version), staff_role="outreach_worker", occurred_at=WHEN,
                               summary=app.seal(case.id, summary))
    app.save(case)


def test_a_command_refused_by_its_save_runs_once_more_after_a_look_which_refuses_the_subject(tmp_path) -> None:
    with stored_applications(tmp_path, "intake", IntakeApplication) as (_engine, application):
        first, second = application(), application()
        case_id, _ = _open_case(first)
        first.sealed.run(lambda: _visit(first, first.repository.get(case_id), "一回目"))  # the key cached
        runs: list[int] = []

        def command() -> None:
            runs.append(1)
            _visit(first, first.repository.get(case_id), "二回目")

        with forgotten_after_the_cache(first, second, case_id) as forgotten, pytest.raises(SubjectForgotten):
            first.sealed.run(command)
        assert forgotten and len(runs) == 2  # the second run's seal refused the subject, nothing saved
        assert first.repository.get(case_id).version == second.repository.get(case_id).version == 2
        assert first.sealer.cached_keys([str(case_id)]).keys == {str(case_id): None}  # the cache dropped it


def test_a_command_whose_first_save_committed_is_not_run_again_when_a_later_save_is_refused(tmp_path) -> None:
    with stored_applications(tmp_path, "intake", IntakeApplication) as (_engine, application):
        first, second = application(), application()
        case_id, _ = _open_case(first)
        other_id, _ = _open_case(first)
        first.sealed.run(lambda: _visit(first, first.repository.get(case_id), "鍵"))  # the case's key cached
        runs: list[int] = []

        def command() -> None:
            runs.append(1)
            _visit(first, first.repository.get(other_id), "別の事例")  # committed: must not be repeated
            _visit(first, first.repository.get(case_id), "消去の後")

        with forgotten_after_the_cache(first, second, case_id) as forgotten, pytest.raises(SubjectForgotten):
            first.sealed.run(command)
        assert forgotten and len(runs) == 1
        assert second.repository.get(other_id).version == 2  # its one visit, once
        assert second.repository.get(case_id).version == 2  # the visit before only
        assert first.sealer.cached_keys([str(case_id)]).keys == {str(case_id): None}


def test_a_value_sealed_with_a_cached_key_and_stored_by_no_save_is_refused_as_a_programming_error(
        tmp_path) -> None:
    with stored_applications(tmp_path, "intake", IntakeApplication) as (_engine, application):
        app = application()
        case_id, _ = _open_case(app)
        sealed: list[Any] = []
        with pytest.raises(SealedWithoutSave):
            app.sealed.run(lambda: sealed.append(app.seal(case_id, "保存されない")))
        assert app.sealed.scope is None  # the scope ended with the command


def test_a_saves_check_is_sent_as_literals_only_for_plain_ids_and_a_few_of_them() -> None:
    key = b"k" * 32
    plain = SubjectKeys({"3f2b8c1e-0000-4000-8000-000000000001": key, "gone": None}, 7)
    assert " ".join(plain.inline_check().split()) == (  # type: ignore[union-attr]
        "SELECT subject_key_erasures.subject FROM subject_key_erasures WHERE subject_key_erasures.position > "
        "7::BIGINT AND subject_key_erasures.subject = ANY (ARRAY['3f2b8c1e-0000-4000-8000-000000000001']::VARCHAR[]) "
        "FOR SHARE")
    assert SubjectKeys({"o'brien": key}, 0).inline_check() is None  # checked with parameters instead
    assert SubjectKeys({"a\\b": key}, 0).inline_check() is None
    assert SubjectKeys({str(i): key for i in range(INLINE_SUBJECTS + 1)}, 0).inline_check() is None
    assert SubjectKeys({"gone": None}, 0).inline_check() is None  # nothing to check


@pytest.mark.skipif(backend() != "postgresql", reason="the check rides on PostgreSQL's LOCK TABLE")
def test_on_postgresql_a_sealing_commands_check_takes_no_round_trip_of_its_own(tmp_path) -> None:
    with stored_applications(tmp_path, "intake", IntakeApplication) as (_engine, application):
        app = application()
        case_id, _ = _open_case(app)
        app.sealed.run(lambda: _visit(app, app.repository.get(case_id), "一回目"))  # the key cached
        statements: list[str] = []

        def seen(_conn: Any, _cursor: Any, statement: str, *_: Any) -> None:
            statements.append(statement)

        event.listen(Engine, "before_cursor_execute", seen)
        try:
            app.sealed.run(lambda: _visit(app, app.repository.get(case_id), "二回目"))
        finally:
            event.remove(Engine, "before_cursor_execute", seen)
        checks = [s for s in statements if "subject_key_erasures" in s]
        assert len(checks) == 1 and "LOCK TABLE" in checks[0], statements
