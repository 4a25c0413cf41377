"""/v1/reports"""

from __future__ import annotations

from fastapi import APIRouter, Query
from pydantic import BaseModel

from libs.platform.deps import PrincipalDep, RuntimeDep
from services.reporting.queries import consultation_report

router = APIRouter(prefix="/v1/reports", tags=["reports"])


class CentreConsultations(BaseModel):
    centre_id: str
    name: str
    kind: str
    site: str
    tenant: str
    consultations: int


class ConsultationReport(BaseModel):
    """延べ相談件数 of one fiscal year (年度)."""

    fy: int
    label: str
    centres: list[CentreConsultations]
    total: int


@router.get("/consultations", response_model=ConsultationReport)
def get_consultation_report(
    actor: PrincipalDep, runtime: RuntimeDep,
    fy: int = Query(ge=2009, le=2100, description="fiscal year (April–March), e.g. 2016 = 平成28年度"),
) -> dict:
    return consultation_report(runtime.engine, actor, fy)
