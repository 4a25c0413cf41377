"""Training courses (養成研修・継続研修, 要綱例 第5条, 第13条): scheduling, attendance and completion,
without a database."""

from __future__ import annotations

from datetime import date, timedelta
from uuid import uuid4

import pytest

from libs.domain import registry
from services.registry.domain.errors import InvalidDates, InvalidTraining
from services.registry.tests.builders import _course, _names, _of

# -- training courses -----------------------------------------------------------------------

def test_scheduling_a_course_records_one_event_and_strips_the_title_and_venue() -> None:
    course = _course(title="  養成研修  ", venue="  都庁  ")
    events = course.collect_events()
    assert _names(events) == ["TrainingCourseScheduled"]
    assert (course.kind, course.title, course.venue, course.fy) == ("initial", "養成研修", "都庁", 2016)
    assert course.attendees == {} and course.completed == {}


def test_a_course_of_an_unknown_kind_is_refused() -> None:
    with pytest.raises(InvalidTraining):
        _course(kind="advanced")


def test_a_course_that_ends_before_it_starts_is_refused() -> None:
    with pytest.raises(InvalidDates):
        _course(starts_on=date(2016, 5, 10), ends_on=date(2016, 5, 9))


def test_a_one_day_course_is_allowed() -> None:
    course = _course(starts_on=date(2016, 5, 10), ends_on=date(2016, 5, 10))
    assert course.starts_on == course.ends_on


@pytest.mark.parametrize("title", ["", "   "])
def test_a_course_without_a_title_is_refused(title: str) -> None:
    with pytest.raises(InvalidTraining):
        _course(title=title)


@pytest.mark.parametrize("starts_on, fy", [
    (date(2016, 4, 1), 2016),
    (date(2016, 12, 31), 2016),
    (date(2017, 1, 1), 2016),
    (date(2017, 3, 31), 2016),
    (date(2017, 4, 1), 2017),
])
def test_the_fiscal_year_of_a_course_runs_from_april_to_march(starts_on: date, fy: int) -> None:
    course = _course(starts_on=starts_on, ends_on=starts_on + timedelta(days=1))
    assert course.fy == fy


def test_a_course_spanning_new_year_in_march_belongs_to_the_fiscal_year_it_starts_in() -> None:
    assert _course(starts_on=date(2017, 3, 25), ends_on=date(2017, 4, 5)).fy == 2016


def test_attendance_on_the_first_and_last_day_of_the_course_is_recorded() -> None:
    course = _course()
    course.collect_events()
    first, last = uuid4(), uuid4()
    course.attend(trainee_id=first, attended_on=course.starts_on, trainee=None)
    course.attend(trainee_id=last, attended_on=course.ends_on, trainee={"sealed": "x"})
    assert _names(course.collect_events()) == ["TrainingAttended", "TrainingAttended"]
    assert course.attendees == {first: course.starts_on, last: course.ends_on}


@pytest.mark.parametrize("attended_on", [date(2016, 5, 9), date(2016, 6, 1)])
def test_attendance_outside_the_course_dates_is_refused(attended_on: date) -> None:
    course = _course()
    course.collect_events()
    with pytest.raises(InvalidDates):
        course.attend(trainee_id=uuid4(), attended_on=attended_on, trainee=None)
    assert course.collect_events() == []
    assert course.attendees == {}


def test_the_same_trainee_attending_twice_is_one_attendance() -> None:
    course = _course()
    course.collect_events()
    trainee = uuid4()
    course.attend(trainee_id=trainee, attended_on=date(2016, 5, 10), trainee=None)
    course.attend(trainee_id=trainee, attended_on=date(2016, 5, 11), trainee=None)
    events = course.collect_events()
    assert _names(events) == ["TrainingAttended"]
    assert course.attendees == {trainee: date(2016, 5, 10)}


def test_an_attendee_of_an_initial_course_completes_with_a_certificate_number() -> None:
    course = _course()
    trainee = uuid4()
    course.attend(trainee_id=trainee, attended_on=date(2016, 5, 10), trainee=None)
    course.collect_events()
    course.complete(trainee_id=trainee, certificate_number="2016-0001", completed_on=date(2016, 5, 31))
    events = _of(registry.TrainingCompleted, course.collect_events())
    assert _names(events) == ["TrainingCompleted"]
    assert (events[0].trainee_id, events[0].certificate_number, events[0].completed_on) == (
        trainee, "2016-0001", date(2016, 5, 31))
    assert course.completed == {trainee: "2016-0001"}


def test_a_continuing_course_issues_no_certificate() -> None:
    course = _course(kind="continuing")
    trainee = uuid4()
    course.attend(trainee_id=trainee, attended_on=date(2016, 5, 10), trainee=None)
    course.collect_events()
    with pytest.raises(InvalidTraining):
        course.complete(trainee_id=trainee, certificate_number="2016-0001", completed_on=date(2016, 5, 31))
    assert course.collect_events() == []


def test_only_an_attendee_can_complete_a_course() -> None:
    course = _course()
    course.collect_events()
    with pytest.raises(InvalidTraining):
        course.check_completion(uuid4(), date(2016, 5, 31))
    with pytest.raises(InvalidTraining):
        course.complete(trainee_id=uuid4(), certificate_number="2016-0001", completed_on=date(2016, 5, 31))
    assert course.collect_events() == []


def test_a_trainee_completes_a_course_only_once() -> None:
    course = _course()
    trainee = uuid4()
    course.attend(trainee_id=trainee, attended_on=date(2016, 5, 10), trainee=None)
    course.complete(trainee_id=trainee, certificate_number="2016-0001", completed_on=date(2016, 5, 31))
    course.collect_events()
    with pytest.raises(InvalidTraining, match="2016-0001"):
        course.complete(trainee_id=trainee, certificate_number="2016-0002", completed_on=date(2016, 5, 31))
    assert course.collect_events() == []
    assert course.completed == {trainee: "2016-0001"}


def test_completion_before_the_course_started_is_refused() -> None:
    course = _course()
    trainee = uuid4()
    course.attend(trainee_id=trainee, attended_on=date(2016, 5, 10), trainee=None)
    with pytest.raises(InvalidDates):
        course.complete(trainee_id=trainee, certificate_number="2016-0001", completed_on=date(2016, 5, 9))
