"""/v1/roster: the supporters provided to this municipality (名簿管理) and /v1/tasks."""

from __future__ import annotations

from uuid import UUID

from fastapi import APIRouter

from libs.platform.web.deps import PrincipalDep
from libs.platform.web.routing import OneHopRoute
from services.dispatch.api.deps import DispatchDep
from services.dispatch.api.schemas import DatedCreate, RosterEntryPublic, RosterPublic, TasksPublic

router = APIRouter(route_class=OneHopRoute, prefix="/v1", tags=["roster"])


@router.get("/roster", response_model=RosterPublic)
def get_roster(actor: PrincipalDep, app: DispatchDep) -> RosterPublic:
    return RosterPublic.model_validate({"data": app.roster(actor)})


@router.post("/roster/{supporter_id}/intent-reconfirmation", response_model=RosterEntryPublic)
def reconfirm_intent(supporter_id: UUID, body: DatedCreate, actor: PrincipalDep, app: DispatchDep) -> RosterEntryPublic:
    e = app.reconfirm_intent(actor, supporter_id, confirmed_on=body.on)
    return RosterEntryPublic(supporter_id=e.supporter_id, registrar=e.registrar,
                             registration_number=e.registration_number, term_ends_on=e.term_ends_on,
                             received_on=e.received_on, intent_reconfirmed_on=e.intent_reconfirmed_on,
                             ended=e.ended, use_suspended=e.use_suspended)


@router.get("/tasks", response_model=TasksPublic)
def get_open_tasks(actor: PrincipalDep, app: DispatchDep) -> TasksPublic:
    """Reports whose 今後の方針 is 中断・終了・その他, and 消去の通知, waiting for the officer."""
    return TasksPublic.model_validate(app.open_tasks(actor))
