"""/v1/rosters (provide 登録名簿 to a municipality) and /v1/roster (what a municipality received)."""

from __future__ import annotations

from uuid import UUID

from fastapi import APIRouter, Query, Response

from libs.platform.web.created import answer_created
from libs.platform.web.deps import IdempotencyKey, PrincipalDep
from libs.platform.web.routing import OneHopRoute
from services.registry.api.deps import RegistryDep
from services.registry.api.schemas import RosterCreate, RosterProvisionPublic, RosterReceived
from services.registry.domain.roster import RosterProvision

router = APIRouter(route_class=OneHopRoute, prefix="/v1", tags=["roster"])


@router.post("/rosters", status_code=201, response_model=RosterProvisionPublic)
def provide_roster(body: RosterCreate, actor: PrincipalDep, app: RegistryDep, response: Response,
                   idempotency_key: IdempotencyKey = None) -> RosterProvisionPublic:
    roster, created = app.provide_roster(
        actor, recipient=body.municipality, provided_on=body.provided_on, items=list(body.items),
        supporter_ids=list(body.supporter_ids) if body.supporter_ids is not None else None,
        idempotency_key=idempotency_key)
    answer_created(response, created=created, location=f"/v1/rosters/{roster.id}")
    return roster_public(roster)


@router.get("/rosters/{roster_id}", response_model=RosterProvisionPublic)
def get_roster(roster_id: UUID, actor: PrincipalDep, app: RegistryDep) -> RosterProvisionPublic:
    return roster_public(app.get_roster(actor, roster_id))


def roster_public(roster: RosterProvision) -> RosterProvisionPublic:
    return RosterProvisionPublic.model_validate({
        "id": roster.id, "registrar": roster.tenant, "recipient": roster.recipient,
        "provided_on": roster.provided_on, "items": roster.items, "entries": roster.entries})


@router.get("/roster", response_model=RosterReceived)
def roster_of_municipality(actor: PrincipalDep, app: RegistryDep,
                           municipality: str = Query(pattern=r"^[0-9]{6}$", max_length=6)) -> RosterReceived:
    """What a municipality has received: its own officers see the provided items of supporters
    who are still current; the registrar's officers see what they provided to it."""
    return RosterReceived.model_validate({"municipality": municipality,
                                          "entries": app.roster_received(actor, municipality)})
