"""Request and response schemas of the registry API (資料3〜6 as JSON)."""

from __future__ import annotations

from datetime import date
from typing import Annotated, Literal
from uuid import UUID

from pydantic import BaseModel, Field

from libs.domain import registry
from libs.platform.web.code_lists import CodeOf
from libs.platform.web.inputs import BirthDate, Day, Flag, RequestBody

CourseKind = Literal["initial", "continuing"]
Status = Literal["applied", "registered", "refused", "expired", "withdrawn", "revoked"]
RosterItem = Annotated[str, CodeOf("roster-items")]  # libs/domain/code_lists, GET /v1/code-lists/roster-items


_Strict = RequestBody


class RegistrarSettings(_Strict):
    max_term_years: int = Field(ge=1, le=10, description="第9条: 登録証の交付日から〇年を超えない範囲")
    default_term_years: int = Field(ge=1, le=10)
    consent_text_version: str = Field(min_length=1, max_length=64)


class RegistrarPublic(RegistrarSettings):
    tenant: str
    version: int


class CourseCreate(_Strict):
    ORDER = (("starts_on", "ends_on"),)
    kind: CourseKind
    title: str = Field(min_length=1, max_length=200)
    starts_on: Day
    ends_on: Day
    venue: str = Field(default="", max_length=200)


class CoursePublic(BaseModel):
    id: UUID
    kind: CourseKind
    fy: int
    title: str
    starts_on: date
    ends_on: date
    venue: str
    attendees: int
    completed: dict[str, str] = Field(description="trainee id → 修了番号")
    version: int


class Trainee(_Strict):
    name: str = Field(min_length=1, max_length=200)
    address_or_affiliation: str | None = Field(default=None, max_length=500)
    contact: str | None = Field(default=None, max_length=200)


class AttendanceCreate(_Strict):
    attended_on: Day
    trainee: Trainee | None = Field(default=None, description="養成研修: the trainee (参加申込書)")
    supporter_id: UUID | None = Field(default=None, description="継続研修: the registered supporter")


class AttendancePublic(BaseModel):
    course_id: UUID
    trainee_id: UUID
    course_version: int


class CompletionCreate(_Strict):
    trainee_id: UUID
    completed_on: Day


class CompletionPublic(BaseModel):
    course_id: UUID
    trainee_id: UUID
    certificate_number: str = Field(description="修了番号")


class Applicant(_Strict):
    """登録申込書 (資料3); sealed per data subject before it enters an event."""

    furigana: str = Field(min_length=1, max_length=200)
    name: str = Field(min_length=1, max_length=200)
    gender: Literal["male", "female", "other", "unspecified"]
    birth_date: BirthDate
    postal_code: str | None = Field(default=None, pattern=r"^[0-9]{3}-?[0-9]{4}$", max_length=8)
    address: str = Field(min_length=1, max_length=500)
    phone: str | None = Field(default=None, max_length=50)
    mobile: str | None = Field(default=None, max_length=50)
    email: str | None = Field(default=None, max_length=200)
    motive: str | None = Field(default=None, max_length=4000)
    qualifications: str | None = Field(default=None, max_length=2000)
    skills: str | None = Field(default=None, max_length=2000)


class ConsentForm(_Strict):
    """同意書 (資料4): every item must be true."""

    roster_listing: Flag
    follow_instructions: Flag
    confidentiality: Flag
    no_discrediting_conduct: Flag
    continuing_training: Flag
    consent_text_version: str = Field(min_length=1, max_length=64)
    signed_on: Day


class RegistrationCreate(_Strict):
    certificate_number: str = Field(min_length=1, max_length=32, description="修了番号")
    applied_on: Day
    applicant: Applicant
    consent: ConsentForm


class ScreeningCreate(_Strict):
    kind: Literal["lecture", "interview"]
    held_on: Day
    note: str | None = Field(default=None, max_length=4000)


class ApprovalCreate(_Strict):
    issued_on: Day
    term_years: int | None = Field(default=None, ge=1, le=10)


class RefusalCreate(_Strict):
    refused_on: Day
    reason: str = Field(min_length=1, max_length=4000)


class DetailsChange(_Strict):
    changed_on: Day
    furigana: str | None = Field(default=None, max_length=200)
    name: str | None = Field(default=None, max_length=200)
    postal_code: str | None = Field(default=None, pattern=r"^[0-9]{3}-?[0-9]{4}$", max_length=8)
    address: str | None = Field(default=None, max_length=500)
    phone: str | None = Field(default=None, max_length=50)
    mobile: str | None = Field(default=None, max_length=50)
    email: str | None = Field(default=None, max_length=200)
    qualifications: str | None = Field(default=None, max_length=2000)
    skills: str | None = Field(default=None, max_length=2000)


class RenewalCreate(_Strict):
    issued_on: Day
    term_years: int | None = Field(default=None, ge=1, le=10)
    consent: ConsentForm


class ConsentWithdrawalCreate(_Strict):
    withdrawn_on: Day


class WithdrawalCreate(_Strict):
    withdrawn_on: Day
    reason: str = Field(min_length=1, max_length=4000, description="理由等を確認 (第15条2)")


class InquiryCreate(_Strict):
    kind: Literal["investigation", "interview"]
    held_on: Day
    findings: str = Field(min_length=1, max_length=8000)


class RevocationCreate(_Strict):
    revoked_on: Day
    grounds: str = Field(min_length=1, max_length=8000)


class SupporterPublic(BaseModel):
    id: UUID
    tenant: str
    status: Status
    certificate_number: str
    registration_number: str | None
    applied_on: date
    term_starts_on: date | None
    term_ends_on: date | None
    consent_active: bool
    consent_text_version: str | None
    continuing_trainings: int
    use_suspended: bool = Field(description="利用停止: not provided on any roster while true")
    details: dict | str | None = Field(
        description="opened for the registrar and the supporter; '[erased]' after erasure")
    version: int


class SupporterSummary(BaseModel):
    supporter_id: UUID
    status: Status
    certificate_number: str
    registration_number: str | None
    applied_on: date
    term_starts_on: date | None
    term_ends_on: date | None
    consent_active: bool


class SupportersPublic(BaseModel):
    data: list[SupporterSummary]
    next_cursor: str | None


class HistoryEvent(BaseModel):
    version: int
    type: str
    time: str
    data: dict


class HistoryPublic(BaseModel):
    supporter_id: UUID
    events: list[HistoryEvent]


class RosterCreate(_Strict):
    municipality: str = Field(pattern=r"^[0-9]{6}$", max_length=6,
                              description="全国地方公共団体コード of the recipient")
    provided_on: Day
    items: list[RosterItem] = Field(default_factory=lambda: list(registry.ROSTER_ITEMS), min_length=1,
                                    max_length=len(registry.ROSTER_ITEMS))
    # One entry is ~170 bytes of the RosterProvided event: 1,000 stay far under the event limit.
    supporter_ids: list[UUID] | None = Field(default=None, max_length=1000,
                                             description="default: every current supporter")


class RosterEntryPublic(BaseModel):
    supporter_id: UUID
    registration_number: str
    consent_id: UUID
    term_ends_on: date | None = None


class RosterProvisionPublic(BaseModel):
    id: UUID
    registrar: str
    recipient: str
    provided_on: date
    items: list[str]
    entries: list[RosterEntryPublic]


class RosterReceivedEntry(BaseModel):
    roster_id: UUID
    registrar: str
    provided_on: date
    supporter_id: UUID
    registration_number: str
    consent_id: UUID
    items: list[str]
    current: bool = Field(description="registration current and consent unwithdrawn today")
    status: str
    term_ends_on: date | None
    details: dict | None = Field(description="the provided items, only while current")


class RosterReceived(BaseModel):
    municipality: str
    entries: list[RosterReceivedEntry]


class RegistrationCard(BaseModel):
    """登録証 (資料5)."""

    registrar: str
    registration_number: str = Field(description="登録番号")
    term_starts_on: date = Field(description="登録期間（から）")
    term_ends_on: date = Field(description="登録期間（まで）")
    furigana: str | None
    name: str | None
    birth_date: date | None
    gender: str | None
    postal_code: str | None
    address: str | None
    phone: str | None


class DatedCreate(_Strict):
    on: Day


class ErasureCreate(_Strict):
    basis: Literal["retention_ended", "request_granted"]
    on: Day
