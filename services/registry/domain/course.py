"""TrainingCourse: ひきこもりサポーター養成研修 (要綱例 第5条, 資料2) or 継続研修 (第13条)."""

from __future__ import annotations

from datetime import date
from uuid import UUID

from eventsourcing.domain import Aggregate, event

from libs.domain import registry
from libs.domain.fiscal import fiscal_year
from services.registry.domain.errors import InvalidDates, InvalidTraining


class TrainingCourse(Aggregate):
    TrainingCourseScheduled = registry.TrainingCourseScheduled
    TrainingAttended = registry.TrainingAttended
    TrainingCompleted = registry.TrainingCompleted

    @event(TrainingCourseScheduled)
    def __init__(self, id: UUID, tenant: str, kind: str, fy: int, title: str,
                 starts_on: date, ends_on: date, venue: str) -> None:
        self.tenant = tenant
        self.kind = kind
        self.fy = fy
        self.title = title
        self.starts_on = starts_on
        self.ends_on = ends_on
        self.venue = venue
        self.attendees: dict[UUID, date] = {}
        self.completed: dict[UUID, str] = {}  # trainee id → 修了番号

    @classmethod
    def schedule(cls, *, id: UUID, tenant: str, kind: str, title: str, starts_on: date,
                 ends_on: date, venue: str) -> TrainingCourse:
        if kind not in registry.COURSE_KINDS:
            raise InvalidTraining(f"kind must be one of {registry.COURSE_KINDS}")
        if ends_on < starts_on:
            raise InvalidDates("ends_on is before starts_on")
        if not title.strip():
            raise InvalidTraining("a course needs a title")
        return cls(id=id, tenant=tenant, kind=kind, fy=fiscal_year(starts_on), title=title.strip(),
                   starts_on=starts_on, ends_on=ends_on, venue=venue.strip())

    def attend(self, *, trainee_id: UUID, attended_on: date, trainee: dict | None) -> None:
        if not self.starts_on <= attended_on <= self.ends_on:
            raise InvalidDates(f"attended_on must fall within the course ({self.starts_on}–{self.ends_on})")
        if trainee_id in self.attendees:
            return  # the same attendance twice is one attendance
        self._attend(trainee_id=trainee_id, attended_on=attended_on, trainee=trainee)

    @event(TrainingAttended)
    def _attend(self, trainee_id: UUID, attended_on: date, trainee: dict | None) -> None:
        self.attendees[trainee_id] = attended_on

    def check_completion(self, trainee_id: UUID, completed_on: date) -> None:
        if self.kind != "initial":
            raise InvalidTraining("only an initial training (養成研修) issues a 修了証書")
        if trainee_id not in self.attendees:
            raise InvalidTraining("the trainee did not attend this course")
        if trainee_id in self.completed:
            raise InvalidTraining(f"already completed with 修了番号 {self.completed[trainee_id]}")
        if completed_on < self.starts_on:
            raise InvalidDates("completed_on is before the course started")

    def certificate_number(self, trainee_id: UUID) -> str | None:
        """The 修了番号 of the trainee's completion (ids are strings once read from a snapshot)."""
        return self.completed.get(trainee_id) or self.completed.get(str(trainee_id))  # type: ignore[call-overload]

    def holder_of(self, certificate_number: str) -> UUID | None:
        """The trainee who completed with that 修了番号 here (a course holds its own completions)."""
        held = next((t for t, n in self.completed.items() if n == certificate_number), None)
        return held if held is None or isinstance(held, UUID) else UUID(str(held))

    def complete(self, *, trainee_id: UUID, certificate_number: str, completed_on: date) -> None:
        self.check_completion(trainee_id, completed_on)
        self._complete(trainee_id=trainee_id, certificate_number=certificate_number, completed_on=completed_on)

    @event(TrainingCompleted)
    def _complete(self, trainee_id: UUID, certificate_number: str, completed_on: date) -> None:
        self.completed[trainee_id] = certificate_number
