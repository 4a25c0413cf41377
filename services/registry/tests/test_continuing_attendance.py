"""A continuing training's attendance (継続研修), sent again (a client's retry, with or without its
Idempotency-Key), is one attendance: the course already kept one, the supporter's record now does
too, and the retry answers 200 instead of recording ContinuingTrainingAttended twice."""

from __future__ import annotations

from datetime import timedelta

from services.registry.application import RegistryApplication
from services.registry.domain.supporter import Supporter
from services.registry.tests.test_access import OFFICER, TODAY, Registrar, app, registrar

__all__ = ["app", "registrar"]  # the fixtures


def test_a_continuing_attendance_sent_twice_is_recorded_once(app: RegistryApplication, registrar: Registrar) -> None:
    supporter_id = registrar.registered()
    course, _ = app.schedule_course(OFFICER, kind="continuing", title="継続研修", starts_on=TODAY - timedelta(days=3),
                                    ends_on=TODAY - timedelta(days=1), venue="都庁", idempotency_key=None)
    answers = [app.record_attendance(OFFICER, course.id, attended_on=TODAY - timedelta(days=2), trainee=None,
                                     supporter_id=supporter_id, idempotency_key=key)
               for key in ("continuing #1", "continuing #1", None)]
    assert [a.created for a in answers] == [True, False, False]
    assert {a.resource_id for a in answers} == {supporter_id}
    supporter: Supporter = app.repository.get(supporter_id)
    assert isinstance(supporter, Supporter)
    assert supporter.continuing_trainings == [(course.id, TODAY - timedelta(days=2))]
