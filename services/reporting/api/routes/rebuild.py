"""/v1/ops/rebuild: rebuild the reporting read models while the service runs (role `operator`),
and follow the replay. See services/reporting/rebuild.py for why and how."""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from fastapi import APIRouter
from pydantic import BaseModel, Field

from libs.platform.web.deps import PrincipalDep, RuntimeDep
from libs.platform.web.routing import OneHopRoute
from services.reporting.projections import ReportingProjection
from services.reporting.rebuild import rebuild_online, rebuild_progress

router = APIRouter(route_class=OneHopRoute, prefix="/v1/ops", tags=["operations"])


class ReplayStream(BaseModel):
    stream: str
    position: int
    target: int | None = Field(description="the stream's end when the replay began (None: not read yet)")
    remaining: int | None


class RebuildPublic(BaseModel):
    projection: str
    generation: int = Field(description="how many times the read models were rebuilt")
    state: Literal["replaying", "done", "never-rebuilt"]
    started_at: datetime | None
    started_by: str | None
    finished_at: datetime | None
    seconds_left: float | None = Field(description="estimate at the pace so far (None: not known yet)")
    streams: list[ReplayStream]


@router.post("/rebuild", status_code=202, response_model=RebuildPublic)
def rebuild_read_models(actor: PrincipalDep, runtime: RuntimeDep) -> dict:
    """Empty the read models and replay every stream from its start. Until the replay reaches each
    stream's end as it was now, the reports answer 503 projection-replaying (409 while one runs)."""
    return rebuild_online(runtime.get(ReportingProjection), actor).public()


@router.get("/rebuild", response_model=RebuildPublic)
def get_rebuild(actor: PrincipalDep, runtime: RuntimeDep) -> dict:
    """The last rebuild (or replay after a start on empty read models) and its progress per stream."""
    return rebuild_progress(runtime.get(ReportingProjection), actor).public()
