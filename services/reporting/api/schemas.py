"""Response models of /v1/reports: one per report, each of one fiscal year (`fy`, 和暦 `label`)."""

from __future__ import annotations

from datetime import date
from typing import Literal

from pydantic import BaseModel, Field


class ComputedFrom(BaseModel):
    """What a report was computed from: never from read models being replayed (that is a 503)."""

    positions: dict[str, int] = Field(description="per stream, the position up to which every event is counted "
                                                  "(some applied while the report was computed may count too); "
                                                  "also in the Tsunagu-Stream-Positions header")
    lag: dict[str, int] = Field(description="per stream, messages not yet applied when the report was asked for")


class CentreConsultations(BaseModel):
    centre_id: str
    name: str
    kind: str
    site: str
    tenant: str
    consultations: int


class ConsultationReport(BaseModel):
    """延べ相談件数 of one fiscal year (年度), with breakdowns; 訪問支援 counted separately."""

    fy: int
    label: str
    centres: list[CentreConsultations]
    total: int
    by_channel: dict[str, int] = Field(description="電話・来所・メール・訪問・その他")
    by_client_kind: dict[str, int] = Field(description="本人・家族・関係機関 (the case's client kind)")
    by_age_group: dict[str, int] = Field(description="child (< 18) / adult (≥ 18)")
    outreach_visits: int = Field(description="訪問支援 (OutreachVisitRecorded) in the fiscal year")
    outreach_visits_by_staff_role: dict[str, int]
    computed_from: ComputedFrom


class RateColumn(BaseModel):
    code: str
    label: str
    count: int
    rate: float | None = Field(description="率 in percent, one decimal; None when the row's total is 0")


class RateTable(BaseModel):
    columns: list[RateColumn]
    total: int


class ReferralReport(BaseModel):
    """関係機関につないだ件数: the 9-column summary and the 21-category detailed table."""

    fy: int
    label: str
    category_version: str
    rounding: str
    summary: RateTable
    detailed: RateTable
    unknown_categories: dict[str, int]
    computed_from: ComputedFrom


class PreviousYearOutcome(BaseModel):
    fy: int
    label: str
    decided: int
    centres: int
    per_centre: float | None = Field(description="前年度の1センターあたりの決定件数 (2 decimals)")


class OutcomeReport(BaseModel):
    """成果目標: 専門機関での支援が決定した件数 > 前年度の1センターあたりの決定件数 × 設置数."""

    fy: int
    label: str
    decided: int
    centres: int = Field(description="設置数: main sites and satellites open during the year "
                         "(開所日 to 廃止日)")
    previous: PreviousYearOutcome
    target: float | None = Field(description="目標値, 2 decimals (the verdict uses the exact value)")
    target_exact: str | None = Field(description="目標値 as an exact fraction")
    met: bool | None
    verdict: Literal["met", "not_met", "no_baseline"]
    computed_from: ComputedFrom


class YearOfCentres(BaseModel):
    fy: int
    label: str
    new: int
    cumulative: int


class SiteCounts(BaseModel):
    main: int
    satellite: int
    window: int


class CentresReport(BaseModel):
    """年度別設置自治体数 (新規・累計) and the sites open at the end of the fiscal year."""

    fy: int
    label: str
    years: list[YearOfCentres]
    local_governments: int
    sites: SiteCounts
    centres: int
    multi_site_local_governments: int
    computed_from: ComputedFrom


class SupporterCounts(BaseModel):
    newly_registered: int
    renewed: int
    withdrawn: int
    revoked: int
    expired: int
    registered_at_fy_end: int
    rosters_provided: int
    roster_entries: int


class RegistrarSupporters(SupporterCounts):
    tenant: str


class SupportersReport(BaseModel):
    """ひきこもりサポーターの登録状況 per registrar (実施主体)."""

    fy: int
    label: str
    fy_end: date
    registrars: list[RegistrarSupporters]
    total: SupporterCounts
    computed_from: ComputedFrom


class DispatchCounts(BaseModel):
    started: int
    ended: int
    ended_by_reason: dict[str, int]
    activities: dict[str, int] = Field(description="サポーターの活動件数 for persons (派遣) by 活動種別 (資料8)")
    activities_by_kind: dict[str, int] = Field(
        description="サポーターの活動件数 by whom the supporter acted for: person / place / programme / agency")
    activity_total: int = Field(description="all activities: persons and deployments")
    previous_activity_total: int
    met: bool = Field(description="活動件数が前年度を上回ること")


class MunicipalityDispatch(DispatchCounts):
    tenant: str


class DispatchReport(BaseModel):
    """ひきこもりサポーター派遣 per municipality, and 活動件数 against the previous year."""

    fy: int
    label: str
    previous_fy: int
    previous_label: str
    municipalities: list[MunicipalityDispatch]
    total: DispatchCounts
    computed_from: ComputedFrom


class ProgrammesReport(BaseModel):
    """市町村等の実施体制 and the programme's group work in one fiscal year."""

    fy: int
    label: str
    local_governments_by_programme: dict[str, int] = Field(
        description="local governments running each kind in the year")
    local_governments: int
    places: int
    place_sessions: int
    place_participants: int
    supporters_at_places: int
    group_activities: dict[str, int]
    backoffice_supports: dict[str, int] = Field(description="後方支援 given by centres, by kind")
    prefectural_backups: dict[str, int] = Field(description="後方支援・立ち上げ支援 given by prefectures, by kind")
    municipalities_backed_up: int
    staff_days_dispatched: int = Field(description="days of staff (e.g. 市町村等支援員) dispatched to municipalities")
    computed_from: ComputedFrom
