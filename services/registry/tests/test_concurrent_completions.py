"""A completion (修了) retried with its Idempotency-Key while the first request is still being
saved, on two replicas of the registry: the retry answers the first completion and its 修了番号,
never "already completed" and never a second number."""

from __future__ import annotations

from datetime import timedelta
from typing import Any
from uuid import UUID

import pytest

from libs.platform.store.creations import IdempotencyKeyReused
from libs.platform.web.auth import Principal
from services.registry.application import RegistryApplication, today_jst
from services.registry.domain.course import TrainingCourse
from tests.harness import stored_applications

TODAY = today_jst()
OFFICER = Principal("officer", "130001", frozenset({"prefecture_officer"}))
KEY = "completion #1"


def _attended(app: RegistryApplication) -> tuple[UUID, UUID]:
    course, _ = app.schedule_course(OFFICER, kind="initial", title="養成研修", starts_on=TODAY - timedelta(days=30),
                                    ends_on=TODAY - timedelta(days=10), venue="都庁", idempotency_key=None)
    trainee = app.record_attendance(OFFICER, course.id, attended_on=TODAY - timedelta(days=20),
                                    trainee={"name": "山田 太郎"}, supporter_id=None, idempotency_key=None)
    return course.id, trainee.resource_id


def _complete(app: RegistryApplication, course_id: UUID, trainee_id: UUID, days_ago: int = 5) -> Any:
    return app.complete_training(OFFICER, course_id, trainee_id=trainee_id,
                                 completed_on=TODAY - timedelta(days=days_ago), idempotency_key=KEY)


def _racing(app: RegistryApplication, other: RegistryApplication, course_id: UUID, trainee_id: UUID,
            **other_args: Any) -> None:
    """Right before `app` loads the course to complete it, `other` completes it with the same key."""
    get_course = app.get_course
    calls: list[UUID] = []

    def completed_by_the_other_first(actor: Principal, loaded: UUID) -> TrainingCourse:
        calls.append(loaded)
        if len(calls) == 2:  # the first load only finds the course's registrar
            _complete(other, course_id, trainee_id, **other_args)
        return get_course(actor, loaded)

    app.get_course = completed_by_the_other_first  # type: ignore[method-assign, assignment]


def test_a_retry_of_a_completion_that_lost_the_race_answers_the_first_completion_and_its_number(tmp_path) -> None:
    with stored_applications(tmp_path, "registry", RegistryApplication) as (_engine, application):
        first, second = application(), application()  # two replicas of one service
        course_id, trainee_id = _attended(first)
        _racing(first, second, course_id, trainee_id)
        retried = _complete(first, course_id, trainee_id)
        assert not retried.created and retried.resource_id == trainee_id
        course = second.repository.get(course_id)
        assert retried.aggregate.certificate_number(trainee_id) == course.certificate_number(trainee_id) is not None
        registrar = second.registrar(course.tenant)
        assert registrar.counters == {f"certificate/{course.fy}": 1}, "one 修了番号 allocated"


def test_the_same_key_with_another_completion_that_lost_the_race_is_refused(tmp_path) -> None:
    with stored_applications(tmp_path, "registry", RegistryApplication) as (_engine, application):
        first, second = application(), application()
        course_id, trainee_id = _attended(first)
        _racing(first, second, course_id, trainee_id, days_ago=6)
        with pytest.raises(IdempotencyKeyReused):  # 422: the key completed with another date
            _complete(first, course_id, trainee_id)
