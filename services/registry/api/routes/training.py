"""/v1/registrar and /v1/training-courses: settings, 養成研修・継続研修, attendance, 修了証書."""

from __future__ import annotations

from uuid import UUID

from fastapi import APIRouter, Response

from libs.platform.web.created import answer_created
from libs.platform.web.deps import IdempotencyKey, PrincipalDep
from libs.platform.web.routing import OneHopRoute
from services.registry.api.deps import RegistryDep
from services.registry.api.schemas import (
    AttendanceCreate,
    AttendancePublic,
    CompletionCreate,
    CompletionPublic,
    CourseCreate,
    CoursePublic,
    RegistrarPublic,
    RegistrarSettings,
)
from services.registry.domain.course import TrainingCourse
from services.registry.domain.errors import CourseNotFound
from services.registry.domain.registrar import Registrar

router = APIRouter(route_class=OneHopRoute, prefix="/v1", tags=["training"])


def registrar_public(registrar: Registrar) -> RegistrarPublic:
    return RegistrarPublic(tenant=registrar.tenant, max_term_years=registrar.max_term_years,
                           default_term_years=registrar.default_term_years,
                           consent_text_version=registrar.consent_text_version, version=registrar.version)


def course_public(course: TrainingCourse) -> CoursePublic:
    return CoursePublic.model_validate({
        "id": course.id, "kind": course.kind, "fy": course.fy, "title": course.title,
        "starts_on": course.starts_on, "ends_on": course.ends_on, "venue": course.venue,
        "attendees": len(course.attendees),
        "completed": {str(k): v for k, v in course.completed.items()}, "version": course.version})


@router.get("/registrar", response_model=RegistrarPublic)
def get_registrar(actor: PrincipalDep, app: RegistryDep) -> RegistrarPublic:
    return registrar_public(app.get_registrar(actor))


@router.put("/registrar", response_model=RegistrarPublic)
def configure_registrar(body: RegistrarSettings, actor: PrincipalDep, app: RegistryDep) -> RegistrarPublic:
    return registrar_public(app.configure_registrar(actor, **body.model_dump()))


@router.post("/training-courses", status_code=201, response_model=CoursePublic)
def schedule_course(body: CourseCreate, actor: PrincipalDep, app: RegistryDep, response: Response,
                    idempotency_key: IdempotencyKey = None) -> CoursePublic:
    course, created = app.schedule_course(actor, idempotency_key=idempotency_key, **body.model_dump())
    response.status_code = 201 if created else 200
    response.headers["Location"] = f"/v1/training-courses/{course.id}"
    return course_public(course)


@router.get("/training-courses/{course_id}", response_model=CoursePublic)
def get_course(course_id: UUID, actor: PrincipalDep, app: RegistryDep) -> CoursePublic:
    return course_public(app.get_course(actor, course_id))


@router.post("/training-courses/{course_id}/attendances", status_code=201, response_model=AttendancePublic)
def record_attendance(course_id: UUID, body: AttendanceCreate, actor: PrincipalDep, app: RegistryDep,
                      response: Response, idempotency_key: IdempotencyKey = None) -> AttendancePublic:
    trainee = body.trainee.model_dump(mode="json", exclude_none=True) if body.trainee else None
    made = app.record_attendance(actor, course_id, attended_on=body.attended_on, trainee=trainee,
                                 supporter_id=body.supporter_id, idempotency_key=idempotency_key)
    answer_created(response, created=made.created, version=made.aggregate.version,
                   location=f"/v1/training-courses/{course_id}/attendances/{made.resource_id}")
    return attendance_public(made.aggregate, made.resource_id)


@router.get("/training-courses/{course_id}/attendances/{trainee_id}", response_model=AttendancePublic)
def get_attendance(course_id: UUID, trainee_id: UUID, actor: PrincipalDep, app: RegistryDep) -> AttendancePublic:
    course = app.get_course(actor, course_id)
    if trainee_id not in course.attendees and str(trainee_id) not in course.attendees:
        raise CourseNotFound(f"no attendance of {trainee_id} at this course")
    return attendance_public(course, trainee_id)


def attendance_public(course: TrainingCourse, trainee_id: UUID) -> AttendancePublic:
    return AttendancePublic(course_id=course.id, trainee_id=trainee_id, course_version=course.version)


@router.post("/training-courses/{course_id}/completions", status_code=201, response_model=CompletionPublic)
def complete_training(course_id: UUID, body: CompletionCreate, actor: PrincipalDep, app: RegistryDep,
                      response: Response, idempotency_key: IdempotencyKey = None) -> CompletionPublic:
    made = app.complete_training(actor, course_id, trainee_id=body.trainee_id, completed_on=body.completed_on,
                                 idempotency_key=idempotency_key)
    answer_created(response, created=made.created, version=made.aggregate.version,
                   location=f"/v1/training-courses/{course_id}/completions/{made.resource_id}")
    return completion_public(made.aggregate, made.resource_id)


@router.get("/training-courses/{course_id}/completions/{trainee_id}", response_model=CompletionPublic)
def get_completion(course_id: UUID, trainee_id: UUID, actor: PrincipalDep, app: RegistryDep) -> CompletionPublic:
    return completion_public(app.get_completion(actor, course_id, trainee_id), trainee_id)


def completion_public(course: TrainingCourse, trainee_id: UUID) -> CompletionPublic:
    return CompletionPublic(course_id=course.id, trainee_id=trainee_id,
                            certificate_number=course.certificate_number(trainee_id) or "")
