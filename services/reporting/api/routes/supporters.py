"""/v1/reports on ひきこもりサポーター: registration per registrar and dispatch per municipality."""

from __future__ import annotations

from fastapi import APIRouter

from libs.platform.web.deps import PrincipalDep, RuntimeDep
from libs.platform.web.routing import OneHopRoute
from services.reporting.api.deps import REPLAYING, AsOf, FiscalYear, SettledDep, TenantsScope
from services.reporting.api.schemas import DispatchReport, SupportersReport
from services.reporting.queries import dispatch_report, supporters_report

router = APIRouter(route_class=OneHopRoute, prefix="/v1/reports", tags=["reports"])


@router.get("/supporters", response_model=SupportersReport, responses=REPLAYING)
def get_supporters_report(actor: PrincipalDep, runtime: RuntimeDep, prefecture: TenantsScope,
                          settled: SettledDep, fy: FiscalYear, as_of: AsOf = None) -> dict:
    """新規登録・再登録・辞退・取消し・期間満了・名簿提供 and 年度末登録者数, per registrar."""
    return settled.answer(lambda: supporters_report(runtime.engine, actor, fy, as_of=as_of, prefecture=prefecture))


@router.get("/dispatch", response_model=DispatchReport, responses=REPLAYING)
def get_dispatch_report(actor: PrincipalDep, runtime: RuntimeDep, prefecture: TenantsScope,
                        settled: SettledDep, fy: FiscalYear, as_of: AsOf = None) -> dict:
    """派遣 and サポーターの活動件数 by activity type per municipality, against the previous year."""
    return settled.answer(lambda: dispatch_report(runtime.engine, actor, fy, as_of=as_of, prefecture=prefecture))
