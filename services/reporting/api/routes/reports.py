"""/v1/reports: the ministry's yearly statistics of the support centres (活動指標・成果目標)."""

from __future__ import annotations

from fastapi import APIRouter

from libs.platform.web.deps import PrincipalDep, RuntimeDep
from libs.platform.web.routing import OneHopRoute
from services.reporting.api.deps import REPLAYING, AsOf, CentresScope, FiscalYear, SettledDep, TenantsScope
from services.reporting.api.schemas import (
    CentresReport,
    ConsultationReport,
    OutcomeReport,
    ProgrammesReport,
    ReferralReport,
)
from services.reporting.queries import (
    centres_report,
    consultation_report,
    outcome_report,
    programmes_report,
    referral_report,
)

router = APIRouter(route_class=OneHopRoute, prefix="/v1/reports", tags=["reports"])


@router.get("/consultations", response_model=ConsultationReport, responses=REPLAYING)
def get_consultation_report(actor: PrincipalDep, runtime: RuntimeDep, prefecture: CentresScope,
                            settled: SettledDep, fy: FiscalYear, as_of: AsOf = None) -> dict:
    """延べ相談件数 per centre, by channel, client kind and age group; 訪問支援 separately."""
    return settled.answer(lambda: consultation_report(runtime.engine, actor, fy, as_of=as_of, prefecture=prefecture))


@router.get("/referrals", response_model=ReferralReport, responses=REPLAYING)
def get_referral_report(actor: PrincipalDep, runtime: RuntimeDep, prefecture: CentresScope,
                        settled: SettledDep, fy: FiscalYear, as_of: AsOf = None) -> dict:
    """関係機関につないだ件数: 9-column summary and 21-category detailed table, with 率."""
    return settled.answer(lambda: referral_report(runtime.engine, actor, fy, as_of=as_of, prefecture=prefecture))


@router.get("/outcome", response_model=OutcomeReport, responses=REPLAYING)
def get_outcome_report(actor: PrincipalDep, runtime: RuntimeDep, prefecture: CentresScope,
                       settled: SettledDep, fy: FiscalYear, as_of: AsOf = None) -> dict:
    """成果目標: 専門機関での支援が決定した件数 against 前年度の1センターあたりの決定件数×設置数."""
    return settled.answer(lambda: outcome_report(runtime.engine, actor, fy, as_of=as_of, prefecture=prefecture))


@router.get("/centres", response_model=CentresReport, responses=REPLAYING)
def get_centres_report(actor: PrincipalDep, runtime: RuntimeDep, prefecture: CentresScope,
                       settled: SettledDep, fy: FiscalYear, as_of: AsOf = None) -> dict:
    """年度別設置自治体数 (新規・累計) up to the fiscal year, and site counts."""
    return settled.answer(lambda: centres_report(runtime.engine, actor, fy, as_of=as_of, prefecture=prefecture))


@router.get("/programmes", response_model=ProgrammesReport, responses=REPLAYING)
def get_programmes_report(actor: PrincipalDep, runtime: RuntimeDep, prefecture: TenantsScope,
                          settled: SettledDep, fy: FiscalYear, as_of: AsOf = None) -> dict:
    """市町村等の実施体制 (local governments running each programme), 居場所, group activities, 後方支援."""
    return settled.answer(lambda: programmes_report(runtime.engine, actor, fy, as_of=as_of, prefecture=prefecture))
