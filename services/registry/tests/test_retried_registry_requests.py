"""Requests of the registry sent again.

A continuing training's attendance (継続研修), sent again (a client's retry, with or without its
Idempotency-Key), is one attendance: the course already kept one, the supporter's record now does
too, and the retry answers 200 instead of recording ContinuingTrainingAttended twice.

A roster's supporters are a set: the same supporters in another order under one Idempotency-Key
are the same request (200, not 422)."""

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


def test_a_roster_of_the_same_supporters_in_another_order_under_one_key_is_the_same_request(
        app: RegistryApplication, registrar: Registrar) -> None:
    first, second = registrar.registered(), registrar.registered()
    made = [app.provide_roster(OFFICER, recipient="131016", provided_on=TODAY, items=["name", "contact"],
                               supporter_ids=ids, idempotency_key="roster #1")
            for ids in ([first, second], [second, first])]
    assert [created for _, created in made] == [True, False] and made[0][0].id == made[1][0].id
