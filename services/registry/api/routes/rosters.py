"""/v1/rosters (provide 登録名簿 to a municipality) and /v1/roster (what a municipality received)."""

from __future__ import annotations

from uuid import UUID

from fastapi import APIRouter, Query, Response

from libs.domain.codes import validate_lg_code
from libs.platform.web.auth import NotAllowed
from libs.platform.web.deps import IdempotencyKey, PrincipalDep, RuntimeDep
from services.registry.api.deps import RegistryDep
from services.registry.api.schemas import RosterCreate, RosterProvisionPublic, RosterReceived
from services.registry.application import OFFICERS, details_of, today_jst
from services.registry.domain.supporter import Supporter
from services.registry.queries import current_supporters, roster_received

router = APIRouter(prefix="/v1", tags=["roster"])

# 資料6 columns → the applicant fields that carry them.
ITEM_FIELDS = {
    "name": ("furigana", "name"), "gender": ("gender",), "birth_date": ("birth_date",),
    "address": ("postal_code", "address"), "contact": ("phone", "mobile", "email"),
}


@router.post("/rosters", status_code=201, response_model=RosterProvisionPublic)
def provide_roster(body: RosterCreate, actor: PrincipalDep, app: RegistryDep, runtime: RuntimeDep,
                   response: Response, idempotency_key: IdempotencyKey = None) -> RosterProvisionPublic:
    tenant = app.officer_tenant(actor)
    runtime.catch_up()
    ids = body.supporter_ids if body.supporter_ids is not None else current_supporters(
        runtime.engine, tenant, body.provided_on)
    roster, created = app.provide_roster(actor, recipient=body.municipality, provided_on=body.provided_on,
                                         items=list(body.items), supporter_ids=list(ids),
                                         idempotency_key=idempotency_key)
    response.status_code = 201 if created else 200
    return RosterProvisionPublic(id=roster.id, registrar=roster.tenant, recipient=roster.recipient,
                                 provided_on=roster.provided_on, items=roster.items, entries=roster.entries)


@router.get("/roster", response_model=RosterReceived)
def roster_of_municipality(actor: PrincipalDep, app: RegistryDep, runtime: RuntimeDep,
                           municipality: str = Query(pattern=r"^[0-9]{6}$", max_length=6)) -> RosterReceived:
    """What a municipality has received: its own officers see the provided items of supporters
    who are still current; the registrar's officers see what they provided to it."""
    validate_lg_code(municipality)
    actor.require(*OFFICERS, "auditor")
    if actor.org == municipality:
        rows = roster_received(runtime.engine, municipality)
    elif actor.has(*OFFICERS, "auditor"):
        rows = roster_received(runtime.engine, municipality, registrar=actor.org)
    else:
        raise NotAllowed("only the municipality or its registrar")
    runtime.catch_up()
    today = today_jst()
    entries = []
    for row in rows:
        supporter = app.existing(Supporter, UUID(row["supporter_id"]))
        items = row["items"].split(",")
        current = supporter.is_current(today)
        details = None
        if current and actor.org == municipality:
            opened = details_of(app, supporter)
            if isinstance(opened, dict):
                details = {f: opened[f] for i in items for f in ITEM_FIELDS.get(i, ()) if f in opened}
        entries.append({**row, "registrar": row["tenant"], "items": items, "current": current,
                        "status": supporter.status, "term_ends_on": supporter.term_ends_on, "details": details})
    return RosterReceived(municipality=municipality, entries=entries)
