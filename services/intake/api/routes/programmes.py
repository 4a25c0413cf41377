"""/v1/programmes and /v1/places: who runs what (実施体制), group activities, 居場所 and sessions."""

from __future__ import annotations

from typing import Annotated
from uuid import UUID

from fastapi import APIRouter, Path, Response

from libs.domain import intake as events
from libs.platform.web.created import answer_created
from libs.platform.web.deps import IdempotencyKey, PrincipalDep
from libs.platform.web.routing import OneHopRoute
from services.intake.api.deps import IntakeDep
from services.intake.api.schemas import (
    GroupActivityCreate,
    GroupActivityPublic,
    OperatorAnswer,
    PlaceClosure,
    PlaceCreate,
    PlacePublic,
    PlaceSessionCreate,
    PlaceSessionPublic,
    ProgrammeChange,
    ProgrammeCreate,
    ProgrammeEnd,
    ProgrammePublic,
)
from services.intake.application import IntakeApplication
from services.intake.domain.errors import UnknownCentre
from services.intake.domain.place import Place
from services.intake.domain.programme import Programme

router = APIRouter(route_class=OneHopRoute, prefix="/v1", tags=["programmes and places"])
Government = Annotated[str, Path(pattern=r"^[0-9]{6}$", max_length=6, description="the government named as operator")]


def programme_public(p: Programme) -> ProgrammePublic:
    return ProgrammePublic.model_validate({
        "id": p.id, "tenant": p.tenant, "kind": p.kind, "name": p.name, "status": p.status,
        "operators": p.operators, "invited": p.invited,
        "activities": p.activities, "starts_on": p.starts_on, "ends_on": p.ends_on, "funding": p.funding,
        "ended_on": p.ended_on, "handed_over_to": p.handed_over_to,
        "group_activities": p.group_activities, "version": p.version})


def place_public(p: Place) -> PlacePublic:
    return PlacePublic(id=p.id, tenant=p.tenant, name=p.name, municipality=p.municipality,
                       sessions=len(p.sessions), closed_on=p.closed_on, version=p.version)


@router.post("/programmes", status_code=201, response_model=ProgrammePublic)
def start_programme(body: ProgrammeCreate, actor: PrincipalDep, intake: IntakeDep, response: Response,
                    idempotency_key: IdempotencyKey = None) -> ProgrammePublic:
    programme, created = intake.start_programme(actor, idempotency_key=idempotency_key, **body.model_dump())
    answer_created(response, created=created, location=f"/v1/programmes/{programme.id}")
    return programme_public(programme)


@router.get("/programmes/{programme_id}", response_model=ProgrammePublic)
def get_programme(programme_id: UUID, actor: PrincipalDep, intake: IntakeDep) -> ProgrammePublic:
    return programme_public(intake.get_programme(actor, programme_id))


@router.post("/programmes/{programme_id}/operators/{government}/acceptance", response_model=ProgrammePublic)
def accept_programme_operation(programme_id: UUID, government: Government, body: OperatorAnswer,
                               actor: PrincipalDep, intake: IntakeDep) -> ProgrammePublic:
    """The government named as operator agrees to run it; the programme runs once all agreed."""
    return programme_public(intake.accept_programme_operation(actor, programme_id, government, on=body.on))


@router.post("/programmes/{programme_id}/operators/{government}/decline", response_model=ProgrammePublic)
def decline_programme_operation(programme_id: UUID, government: Government, body: OperatorAnswer,
                                actor: PrincipalDep, intake: IntakeDep) -> ProgrammePublic:
    """The government named as operator refuses: the programme as proposed never runs."""
    return programme_public(intake.decline_programme_operation(actor, programme_id, government, on=body.on))


@router.post("/programmes/{programme_id}/changes", response_model=ProgrammePublic)
def change_programme(programme_id: UUID, body: ProgrammeChange, actor: PrincipalDep,
                     intake: IntakeDep) -> ProgrammePublic:
    return programme_public(intake.change_programme(actor, programme_id, **body.model_dump()))


@router.post("/programmes/{programme_id}/end", response_model=ProgrammePublic)
def end_programme(programme_id: UUID, body: ProgrammeEnd, actor: PrincipalDep, intake: IntakeDep) -> ProgrammePublic:
    """Ended, or handed over to a municipality (a satellite or acceleration support after its term)."""
    return programme_public(intake.end_programme(actor, programme_id, **body.model_dump()))


@router.post("/programmes/{programme_id}/group-activities", status_code=201, response_model=GroupActivityPublic)
def hold_group_activity(programme_id: UUID, body: GroupActivityCreate, actor: PrincipalDep, intake: IntakeDep,
                        response: Response, idempotency_key: IdempotencyKey = None) -> GroupActivityPublic:
    made = intake.hold_group_activity(actor, programme_id, idempotency_key=idempotency_key, **body.model_dump())
    answer_created(response, created=made.created, version=made.aggregate.version,
                   location=f"/v1/programmes/{programme_id}/group-activities/{made.resource_id}")
    return group_activity_public(intake, made.aggregate, made.resource_id)


@router.get("/programmes/{programme_id}/group-activities/{activity_id}", response_model=GroupActivityPublic)
def get_group_activity(programme_id: UUID, activity_id: UUID, actor: PrincipalDep,
                       intake: IntakeDep) -> GroupActivityPublic:
    return group_activity_public(intake, intake.get_programme(actor, programme_id), activity_id)


def group_activity_public(intake: IntakeApplication, p: Programme, activity_id: UUID) -> GroupActivityPublic:
    e = intake.created_event(p.id, activity_id, events.GroupActivityHeld, "activity_id")
    if e is None:
        raise UnknownCentre(f"no group activity {activity_id} of this programme")
    return GroupActivityPublic(activity_id=activity_id, programme_id=p.id, kind=e.kind, held_on=e.held_on,
                               participants=e.participants, agency_ids=e.agency_ids, programme_version=p.version)


@router.post("/places", status_code=201, response_model=PlacePublic)
def open_place(body: PlaceCreate, actor: PrincipalDep, intake: IntakeDep, response: Response,
               idempotency_key: IdempotencyKey = None) -> PlacePublic:
    values = body.model_dump(mode="json", exclude={"programme_id"})
    values["schedule"] = {day: list(span) for day, span in values["schedule"].items()}
    place, created = intake.open_place(actor, programme_id=body.programme_id, idempotency_key=idempotency_key,
                                       **values)
    answer_created(response, created=created, location=f"/v1/places/{place.id}")
    return place_public(place)


@router.get("/places/{place_id}", response_model=PlacePublic)
def get_place(place_id: UUID, actor: PrincipalDep, intake: IntakeDep) -> PlacePublic:
    return place_public(intake.get_place(actor, place_id))


@router.post("/places/{place_id}/sessions", status_code=201, response_model=PlaceSessionPublic)
def hold_place_session(place_id: UUID, body: PlaceSessionCreate, actor: PrincipalDep, intake: IntakeDep,
                       response: Response, idempotency_key: IdempotencyKey = None) -> PlaceSessionPublic:
    made = intake.hold_place_session(actor, place_id, idempotency_key=idempotency_key, **body.model_dump())
    answer_created(response, created=made.created, version=made.aggregate.version,
                   location=f"/v1/places/{place_id}/sessions/{made.resource_id}")
    return place_session_public(intake, made.aggregate, made.resource_id)


@router.get("/places/{place_id}/sessions/{session_id}", response_model=PlaceSessionPublic)
def get_place_session(place_id: UUID, session_id: UUID, actor: PrincipalDep, intake: IntakeDep) -> PlaceSessionPublic:
    return place_session_public(intake, intake.get_place(actor, place_id), session_id)


def place_session_public(intake: IntakeApplication, p: Place, session_id: UUID) -> PlaceSessionPublic:
    e = intake.created_event(p.id, session_id, events.PlaceSessionHeld, "session_id")
    if e is None:
        raise UnknownCentre(f"no session {session_id} of this place")
    return PlaceSessionPublic(session_id=session_id, place_id=p.id, held_on=e.held_on, participants=e.participants,
                              registered_participants=e.registered_participants, staff=e.staff,
                              supporter_ids=e.supporter_ids, place_version=p.version)


@router.post("/places/{place_id}/closure", response_model=PlacePublic)
def close_place(place_id: UUID, body: PlaceClosure, actor: PrincipalDep, intake: IntakeDep) -> PlacePublic:
    """The place closes: out of the public directory; supporters deployed there stop."""
    return place_public(intake.close_place(actor, place_id, closed_on=body.closed_on))
