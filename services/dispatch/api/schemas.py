"""Request and response schemas of the dispatch API (資料7 and 資料8 as JSON)."""

from __future__ import annotations

from datetime import date
from typing import Annotated, Literal
from uuid import UUID

from pydantic import BaseModel, ConfigDict, Field, model_validator

from libs.domain import dispatch, intake
from libs.platform.web.code_lists import CodeOf
from libs.platform.web.inputs import BirthDate, Day, Flag, RequestBody

# Code lists (libs/domain/code_lists): enums in OpenAPI, served at /v1/code-lists/{name}.
Need = Annotated[str, CodeOf("support-needs")]
Item = Annotated[str, CodeOf("disclosure-items")]
ActivityType = Annotated[str, CodeOf("activity-types")]
NextStep = Annotated[str, CodeOf("next-steps")]
Status = Literal["requested", "active", "suspended", "ended"]
HHMM = Field(pattern=r"^([01][0-9]|2[0-3]):[0-5][0-9]$", max_length=5)
# Codes only: preferences travel on the bus, so no free text (no personal data) can be put there.
Preferences = dict[Literal["supporter_gender", "peer_supporter", "time_of_day"],
                   Literal["female", "male", "any", "yes", "no", "morning", "afternoon", "evening"]]


_Strict = RequestBody


class SubjectDetails(_Strict):
    """The person's details (資料7 items); sealed, given to the supporter only as consented."""

    name: str | None = Field(default=None, max_length=200)
    gender: str | None = Field(default=None, max_length=50)
    birth_date: BirthDate | None = None
    address: str | None = Field(default=None, max_length=500)
    contact: str | None = Field(default=None, max_length=200)
    consultation: str | None = Field(default=None, max_length=8000, description="相談内容")
    life_history: str | None = Field(default=None, max_length=8000, description="生活歴")
    medical_history: str | None = Field(default=None, max_length=8000, description="既往歴 (要配慮個人情報)")

    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True, json_schema_extra={"minProperties": 1})

    @model_validator(mode="after")
    def _not_empty(self) -> SubjectDetails:
        # `{}` seals to nothing: refused here rather than recorded as an empty (schema-breaking) event.
        if not self.model_dump(exclude_none=True):
            raise ValueError("send at least one of the person's items")
        return self


class DispatchCreate(_Strict):
    subject_ref: UUID | None = Field(default=None, description="pseudonymous id of the person (never a name)")
    requested_by: Literal["person", "family", "agency"] = Field(
        default="person", description="who asked; the dispatch still needs the person's own consent (資料7)")
    needs: list[Need] = Field(min_length=1, max_length=len(intake.SUPPORT_NEEDS))
    preferences: Preferences = Field(default_factory=dict)
    requested_on: Day
    subject_details: SubjectDetails | None = None


class DetailsCreate(_Strict):
    details: SubjectDetails


class CorrectionCreate(_Strict):
    """訂正: the person's details as corrected (sealed again under this dispatch's key)."""

    details: SubjectDetails
    on: Day


class AssignmentCreate(_Strict):
    supporter_id: UUID
    assigned_on: Day


class SubjectConsentCreate(_Strict):
    """資料7: each item chosen separately; meetings; acknowledgement that costs are self-paid."""

    given_by: Literal["person", "legal_guardian"] = "person"
    items: list[Item] = Field(max_length=len(dispatch.DISCLOSURE_ITEMS))
    support_meetings: Flag
    costs_self_paid: Flag
    signed_on: Day


class AcceptanceCreate(_Strict):
    accepted_on: Day


class PlanCreate(_Strict):
    """派遣目的・活動計画・活動内容 (sealed: they describe the person)."""

    activities: list[ActivityType] = Field(min_length=1, max_length=len(dispatch.ACTIVITY_TYPES))
    purpose: str = Field(min_length=1, max_length=4000)
    activity_plan: str = Field(min_length=1, max_length=8000)
    content: str = Field(min_length=1, max_length=8000)
    agreed_on: Day


class DatedCreate(_Strict):
    on: Day


class SuspensionCreate(_Strict):
    reason: Literal["subject_condition", "subject_requested_pause", "supporter_unavailable", "other"]
    note: str | None = Field(default=None, max_length=4000, description="why, in words (sealed)")
    on: Day


class EndCreate(_Strict):
    reason: Literal["plan_completed", "other"]
    on: Day


class ActivityReportCreate(_Strict):
    """活動報告書 (資料8)."""

    ORDER = (("activity_date", "reported_on"), ("starts_at", "ends_at"))

    reported_on: Day
    activity_date: Day
    starts_at: str = HHMM
    ends_at: str = HHMM
    place: str = Field(min_length=1, max_length=500)
    activity_type: ActivityType
    activity_type_other: str | None = Field(default=None, max_length=200, description="その他の内容 (sealed)")
    content: str = Field(min_length=1, max_length=8000, description="具体的活動内容")
    record: str | None = Field(default=None, max_length=8000, description="記録")
    next_appointment: str | None = Field(default=None, max_length=4000, description="次回")
    plan_with_officer: str | None = Field(default=None, max_length=4000, description="今後の活動内容")
    next_step: NextStep
    next_step_other: str | None = Field(default=None, max_length=200, description="その他の内容 (sealed)")
    note: str | None = Field(default=None, max_length=4000, description="備考")


class GuidanceCreate(_Strict):
    given_by: Literal["municipal_officer", "centre"] = "municipal_officer"
    given_on: Day
    guidance: str = Field(min_length=1, max_length=8000)


class IncidentCreate(_Strict):
    occurred_on: Day
    severity: Literal["minor", "moderate", "serious"]
    description: str = Field(min_length=1, max_length=8000)
    follow_up: str | None = Field(default=None, max_length=8000)


class ReviewCreate(_Strict):
    reviewed_on: Day


class DispatchPublic(BaseModel):
    id: UUID
    tenant: str
    status: Status
    source: str
    subject_ref: str
    requested_by: str
    referring_centre_id: UUID | None
    needs: list[str]
    requested_on: date
    supporter_id: UUID | None
    supporter_consented: bool
    subject_consent_items: list[str] | None
    plan_agreed: bool
    missing_for_start: list[str]
    open_tasks: list[UUID]
    end_reason: str | None
    # The person's data here was erased (crypto-shredded); erasure_at_source: the day the
    # referring centre erased it while this dispatch ran (消去の通知), until it is erased here too.
    erased: bool
    erasure_at_source: date | None
    version: int


class ActivityReportPublic(BaseModel):
    """An activity report (活動報告書) as filed (its narrative and その他 texts, sealed, are in the
    dispatch's timeline, not repeated here)."""

    report_id: UUID
    dispatch_id: UUID
    supporter_id: UUID
    reported_on: date
    activity_date: date
    starts_at: str
    ends_at: str
    activity_type: str
    next_step: str
    dispatch_version: int


class IncidentPublic(BaseModel):
    """An incident report (事故報告); its account, sealed, is in the dispatch's timeline."""

    incident_id: UUID
    dispatch_id: UUID
    occurred_on: date
    severity: str
    dispatch_version: int


class DispatchSummary(BaseModel):
    dispatch_id: UUID
    status: Status
    source: str
    subject_ref: str
    supporter_id: UUID | None
    requested_on: date
    started_on: date | None
    ended_on: date | None
    end_reason: str | None


class DispatchesPublic(BaseModel):
    data: list[DispatchSummary]
    next_cursor: str | None


class TimelineEvent(BaseModel):
    version: int
    type: str
    time: str
    data: dict


class TimelinePublic(BaseModel):
    dispatch_id: UUID
    events: list[TimelineEvent]


class Disclosure(BaseModel):
    dispatch_id: UUID
    items: list[str]
    details: dict


class TaskPublic(BaseModel):
    report_id: UUID
    dispatch_id: UUID
    supporter_id: UUID
    next_step: NextStep
    reported_on: date


class ErasureTaskPublic(BaseModel):
    """消去の通知: the person's data was erased at `source` while the dispatch ran."""
    dispatch_id: UUID
    source: str
    erased_at_source_on: date
    notified_on: date


class TasksPublic(BaseModel):
    data: list[TaskPublic]
    erasures: list[ErasureTaskPublic]


class RosterEntryPublic(BaseModel):
    supporter_id: UUID
    registrar: str
    registration_number: str
    term_ends_on: date
    received_on: date
    intent_reconfirmed_on: date | None
    ended: str | None
    use_suspended: bool = Field(default=False, description="利用停止 asked by the supporter at the registrar")


class RosterPublic(BaseModel):
    data: list[RosterEntryPublic]


class ErasureCreate(_Strict):
    basis: Literal["retention_ended", "request_granted"]
    on: Day


# -- deployments (居場所運営等へのサポーター派遣) ----------------------------------------------------
DeploymentTarget = Literal["place", "programme", "agency"]
DeploymentRole = Literal["place_operation", "group_activity", "public_awareness", "agency_staff_support", "other"]
DeploymentStatus = Literal["planned", "active", "ended"]


class DeploymentCreate(_Strict):
    ORDER = (("starts_on", "ends_on"),)
    supporter_id: UUID
    target_kind: DeploymentTarget = Field(description="居場所 / 事業の活動 / 関係機関")
    target_id: UUID = Field(description="the place, programme or agency id as intake publishes it")
    role: DeploymentRole
    starts_on: Day
    ends_on: Day | None = None


class DeploymentAcceptanceCreate(_Strict):
    accepted_on: Day


class DeploymentReportCreate(_Strict):
    """活動報告: counted as ひきこもりサポーターの活動件数; what was done is sealed."""

    ORDER = (("activity_date", "reported_on"), ("starts_at", "ends_at"))

    reported_on: Day
    activity_date: Day
    starts_at: str = HHMM
    ends_at: str = HHMM
    participants: int | None = Field(default=None, ge=0, le=10000, description="how many took part (no names)")
    content: str = Field(min_length=1, max_length=8000, description="活動内容")
    note: str | None = Field(default=None, max_length=4000, description="備考")


class DeploymentEndCreate(_Strict):
    reason: Literal["completed", "target_closed", "other"]
    on: Day


class DeploymentPublic(BaseModel):
    id: UUID
    tenant: str
    status: DeploymentStatus
    supporter_id: UUID
    registration_number: str
    target_kind: DeploymentTarget
    target_id: UUID
    target_name: str
    role: DeploymentRole
    starts_on: date
    ends_on: date | None
    accepted_on: date | None
    reports: int
    end_reason: str | None
    version: int


class DeploymentReportPublic(BaseModel):
    """An activity report of a deployment (its narrative, sealed, is not repeated here)."""

    report_id: UUID
    deployment_id: UUID
    supporter_id: UUID
    reported_on: date
    activity_date: date
    starts_at: str
    ends_at: str
    participants: int | None
    deployment_version: int


class DeploymentSummary(BaseModel):
    deployment_id: UUID
    status: DeploymentStatus
    supporter_id: UUID
    target_kind: DeploymentTarget
    target_id: UUID
    target_name: str
    role: DeploymentRole
    starts_on: date
    ends_on: date | None
    end_reason: str | None


class DeploymentsPublic(BaseModel):
    data: list[DeploymentSummary]
    next_cursor: str | None
