"""Use cases of the registrar's settings and its training courses (養成研修・継続研修,
attendance, 修了証書): all for the registrar's officers."""

from __future__ import annotations

from datetime import date
from uuid import UUID

from libs.domain.errors import InvalidInput
from libs.platform.store.creating import Created
from libs.platform.store.creations import LedgerRow
from libs.platform.store.sealed import sealing
from libs.platform.web.auth import Principal
from services.registry.application.access import is_officer_of, officer_tenant
from services.registry.application.base import RegistryBase
from services.registry.domain.course import TrainingCourse
from services.registry.domain.errors import CourseNotFound
from services.registry.domain.registrar import Registrar, certificate_id


class TrainingUseCases(RegistryBase):
    def get_registrar(self, actor: Principal) -> Registrar:
        return self.registrar(officer_tenant(actor))

    def configure_registrar(self, actor: Principal, *, max_term_years: int, default_term_years: int,
                            consent_text_version: str) -> Registrar:
        registrar = self.registrar(officer_tenant(actor))
        self.change(registrar, lambda r: r.configure(
            max_term_years=max_term_years, default_term_years=default_term_years,
            consent_text_version=consent_text_version))
        return registrar

    def schedule_course(self, actor: Principal, *, kind: str, title: str, starts_on: date, ends_on: date,
                        venue: str, idempotency_key: str | None) -> tuple[TrainingCourse, bool]:
        tenant = officer_tenant(actor)
        creation = self.creation("course", tenant, idempotency_key, kind=kind, title=title, starts_on=starts_on,
                                 ends_on=ends_on, venue=venue)
        course_id = creation.new_id()
        return self.create_once(TrainingCourse, course_id, lambda: TrainingCourse.schedule(
            id=course_id, tenant=tenant, kind=kind, title=title, starts_on=starts_on, ends_on=ends_on, venue=venue),
            creation)

    def get_course(self, actor: Principal, course_id: UUID) -> TrainingCourse:
        course = self.existing(TrainingCourse, course_id)
        if course is None or not is_officer_of(actor, course.tenant):
            raise CourseNotFound(f"no course {course_id} of yours")
        return course

    @sealing
    def record_attendance(self, actor: Principal, course_id: UUID, *, attended_on: date,
                          trainee: dict | None, supporter_id: UUID | None,
                          idempotency_key: str | None) -> Created[TrainingCourse]:
        """An initial training's trainee (their details sealed), or a registered supporter at a
        continuing training (recorded on the supporter too); the trainee's id is the resource's."""
        course = self.get_course(actor, course_id)
        if course.kind == "continuing":
            if supporter_id is None:
                raise InvalidInput(
                    "a continuing training (継続研修) is attended by a registered supporter: send supporter_id")
            # Once per supporter and course, key or not: a retry (or a second key) finds the
            # attendance and records nothing; course.attend alone ignored it, the supporter did not
            # (a ContinuingTrainingAttended on every retry).
            if supporter_id in course.attendees or str(supporter_id) in course.attendees:
                return Created(course, supporter_id, False)
            supporter = self._supporter_of(course.tenant, supporter_id)
            supporter.attend_continuing_training(course_id=course.id, attended_on=attended_on)
            self.change(course, lambda c: c.attend(trainee_id=supporter_id, attended_on=attended_on, trainee=None),
                        also=[supporter])
            return Created(course, supporter_id, True)
        if trainee is None:
            raise InvalidInput("an initial training needs the trainee's details (氏名 and contact)")
        creation = self.creation("trainee", course_id, idempotency_key, attended_on=attended_on, trainee=trainee)
        return self.create_inside(creation, lambda: self.get_course(actor, course_id), lambda c, trainee_id: c.attend(
            trainee_id=trainee_id, attended_on=attended_on, trainee=self.seal_required(trainee_id, trainee, "trainee")),
            legacy=lambda c: creation.legacy_in(c.attendees))

    def complete_training(self, actor: Principal, course_id: UUID, *, trainee_id: UUID, completed_on: date,
                          idempotency_key: str | None) -> Created[TrainingCourse]:
        """修了: the registrar allocates the 修了番号 in the same transaction. Once per
        Idempotency-Key (the ledger): a retry answers the first completion and its number."""
        creation = self.creation("completion", course_id, idempotency_key, trainee_id=trainee_id,
                                 completed_on=completed_on)
        registrar = self.registrar(self.get_course(actor, course_id).tenant)
        numbers: list[str] = []

        def allocate_and_complete(c: TrainingCourse, _: UUID) -> None:
            c.check_completion(trainee_id, completed_on)
            numbers[:] = [registrar.allocate_certificate_number(c.fy, trainee_id)]
            c.complete(trainee_id=trainee_id, certificate_number=numbers[0], completed_on=completed_on)

        def certificate(c: TrainingCourse) -> list[LedgerRow]:
            # The number's row: a registration finds its trainee by it (an index lookup, however
            # many were issued), and a number allocated twice fails the save on its unique key.
            return [LedgerRow(str(certificate_id(registrar.tenant, numbers[0])), "certificate", str(c.id),
                              c.version, None, None)]

        return self.create_inside(creation, lambda: self.get_course(actor, course_id), allocate_and_complete,
                                  resource_id=trainee_id, also=[registrar], unique=certificate)

    def get_completion(self, actor: Principal, course_id: UUID, trainee_id: UUID) -> TrainingCourse:
        course = self.get_course(actor, course_id)
        if course.certificate_number(trainee_id) is None:
            raise CourseNotFound(f"no completion of {trainee_id} at this course")
        return course
