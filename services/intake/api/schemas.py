"""Request and response schemas of the intake API, one family per resource."""

from __future__ import annotations

from datetime import date, datetime
from typing import Annotated, Literal, get_args
from uuid import UUID

from pydantic import BaseModel, Field

from libs.domain import intake
from libs.domain.agencies import CATEGORIES
from libs.platform.web.code_lists import CodeOf
from libs.platform.web.inputs import BirthDate, Day, Flag, Hours, Instant, RequestBody
from services.intake.application.imports import MAX_IMPORT

CentreKind = Literal["child", "adult"]
CentreSite = Literal["main", "satellite", "window"]
# Code lists (libs/domain/code_lists): enums in OpenAPI, served at /v1/code-lists/{name}.
ClientKind = Annotated[str, CodeOf("client-kinds")]
AgeGroup = Annotated[str, CodeOf("age-groups")]
Channel = Annotated[str, CodeOf("channels")]
AgencyCategory = Annotated[str, CodeOf("agency-categories")]
Item = Annotated[str, CodeOf("share-items")]
SupportNeed = Annotated[str, CodeOf("support-needs")]
# Every string and list of a request is bounded (issue 13): no request within these bounds can make
# an event anywhere near the event size limit (libs/platform/limits; tests/contract/test_request_bounds).
LgCode = Annotated[str, Field(pattern=r"^[0-9]{6}$", max_length=6)]


_Strict = RequestBody


class CentreCreate(_Strict):
    name: str = Field(min_length=1, max_length=200)
    kind: CentreKind
    site: CentreSite = "main"
    prefecture: LgCode = Field(description="全国地方公共団体コード of the prefecture or "
                               "designated city (of the municipality, for a consultation window)")
    opened_on: Day | None = Field(default=None, description="開所日: reporting counts the centre in every "
                                  "fiscal year it is open (without one: the profile's opened_fy, else the "
                                  "year it was registered)")
    closed_on: Day | None = Field(default=None, description="廃止日, for a centre registered after it closed")
    demo: Flag = Field(default=False, description="a demo or training centre (e.g. `make run`'s): its local "
                       "government counts as a demo tenant, left out of the national tables")


class CentreDates(_Strict):
    opened_on: Day = Field(description="開所日")
    closed_on: Day | None = Field(default=None, description="廃止日; null: open")


class CentrePublic(BaseModel):
    id: UUID
    name: str
    kind: CentreKind
    site: CentreSite
    prefecture: str
    opened_on: date | None = Field(description="開所日 (null: not given; see the profile's opened_fy)")
    closed_on: date | None = Field(description="廃止日 (null: open)")
    demo: bool = Field(description="a demo centre: left out of the national tables")
    profile: dict | None
    coordinators: list[str]
    outreach_workers: int
    municipal_support_workers: int
    shortfalls: list[str] = Field(description="where the centre falls short of the guideline (flagged, not refused)")
    version: int


class PersonalDetails(_Strict):
    """Sealed per data subject before it enters any event."""

    name: str | None = Field(default=None, max_length=200)
    name_kana: str | None = Field(default=None, max_length=200)
    gender: str | None = Field(default=None, max_length=50)
    birth_date: BirthDate | None = None
    address: str | None = Field(default=None, max_length=500)
    phone: str | None = Field(default=None, max_length=50)
    email: str | None = Field(default=None, max_length=200)


class CaseCreate(_Strict):
    centre_id: UUID
    client_kind: ClientKind
    age_group: AgeGroup
    residence_municipality: LgCode | None = None
    personal_details: PersonalDetails | None = None


class CasePublic(BaseModel):
    id: UUID
    centre_id: UUID
    client_kind: ClientKind
    age_group: AgeGroup
    residence_municipality: str | None
    status: Literal["open", "closed"]
    personal_details: dict | str | None = Field(description="opened for staff of the centre; '[erased]' after erasure")
    consultation_count: int
    outreach_visits: int
    consents: dict[str, dict] = Field(description="current consents to share, by id")
    referrals: dict[str, dict]
    version: int


class ConsultationCreate(_Strict):
    channel: Channel
    consulted_by: ClientKind = "person"
    occurred_at: Instant
    summary: str | None = Field(default=None, max_length=8000)


class ConsultationPublic(BaseModel):
    id: UUID
    case_id: UUID
    channel: Channel
    consulted_by: ClientKind
    occurred_at: datetime
    summary: str | None
    voided: bool = False
    case_version: int


class ConsultationsPublic(BaseModel):
    data: list[ConsultationPublic]
    count: int


class ConsultationImportItem(ConsultationCreate):
    case_id: UUID = Field(description="A case of the caller's centre, open")


class ConsultationImportCreate(_Strict):
    """A centre's history moved in from another system: every consultation recorded, or none."""

    consultations: list[ConsultationImportItem] = Field(
        min_length=1, max_length=MAX_IMPORT, json_schema_extra={"x-tsunagu-bulk": True},
        description="Each item is recorded as an event of its own. The request as a whole must fit the "
                    "body limit (1 MiB; larger ones are refused with 413): split a history into imports "
                    "by size as well as by count.")


class ConsultationImportPublic(BaseModel):
    """The consultations recorded, in the order sent; each also at
    /v1/cases/{case_id}/consultations/{id}."""

    data: list[ConsultationPublic]
    count: int


class SupporterRequestCreate(_Strict):
    """The person asks for a ひきこもりサポーター from the municipality that runs dispatch."""

    municipality: LgCode = Field(description="全国地方公共団体コード of the dispatching municipality")
    needs: list[SupportNeed] = Field(min_length=1, max_length=len(intake.SUPPORT_NEEDS))
    requested_by: ClientKind | None = Field(default=None, description="who asked (default: the case's client)")
    preferences: dict[Literal["supporter_gender", "peer_supporter", "time_of_day"],
                      Literal["female", "male", "any", "yes", "no", "morning", "afternoon", "evening"]] = Field(
        default_factory=dict, description="codes only, never free text (no personal data on the bus)")
    requested_on: Day


class SupporterRequestPublic(BaseModel):
    request_id: UUID
    case_id: UUID
    municipality: str
    case_version: int


Weekday = Literal["mon", "tue", "wed", "thu", "fri", "sat", "sun"]


class SatelliteTerm(_Strict):
    ORDER = (("starts_on", "ends_on"),)
    starts_on: Day
    ends_on: Day


class CentreProfile(_Strict):
    opened_fy: int = Field(ge=2009, le=2100, description="設置年度 (superseded by the centre's opened_on when "
                           "that is given: PUT /v1/centres/{id}/dates)")
    municipality: LgCode = Field(description="where the centre is")
    address: str = Field(min_length=1, max_length=500)
    phone: str = Field(min_length=1, max_length=50)
    hours: dict[Weekday, Hours] = Field(description='e.g. {"mon": ["09:00", "17:00"]}')
    satellite_term: SatelliteTerm | None = None


class CentreStaffing(_Strict):
    coordinators: list[Literal["social_worker", "psychiatric_social_worker", "public_health_nurse",
                               "equivalent", "none"]] = Field(max_length=100,
                                                             description="one qualification per コーディネーター")
    outreach_workers: int = Field(ge=0, le=100, description="訪問相談支援員")
    municipal_support_workers: int = Field(ge=0, le=100, description="市町村等支援員")


class BackOfficeSupportCreate(_Strict):
    given_on: Day
    recipient_kind: Literal["municipality", "agency"]
    recipient: str = Field(min_length=1, max_length=64, description="全国地方公共団体コード or agency id")
    kind: Literal["advice", "case_consultation", "training", "other"]
    note: str | None = Field(default=None, max_length=8000)


class BackOfficeSupportPublic(BaseModel):
    """後方支援 given by a centre (its note, sealed, is in the centre's log, not repeated here)."""

    support_id: UUID
    centre_id: UUID
    given_on: date
    recipient_kind: str
    recipient: str
    kind: str
    centre_version: int


class AgencyCreate(_Strict):
    name: str = Field(min_length=1, max_length=200)
    category: AgencyCategory = Field(description="関係機関の種別: GET /v1/code-lists/agency-categories")
    municipality: LgCode
    address: str = Field(min_length=1, max_length=500)
    phone: str = Field(min_length=1, max_length=50)


class AgencyPublic(BaseModel):
    id: UUID
    name: str
    category: str
    category_label: str
    municipality: str
    address: str
    phone: str
    retired_on: date | None = None
    retired: bool = Field(default=False, description="retired agencies take no new disclosure or referral")


class AgenciesPublic(BaseModel):
    data: list[AgencyPublic]
    next_cursor: str | None = Field(description="pass as ?cursor= for the next page; null on the last")


class AgencyRetirement(_Strict):
    retired_on: Day


class OutreachCreate(_Strict):
    staff_role: Literal["coordinator", "outreach_worker", "municipal_support_worker"]
    occurred_at: Instant
    summary: str | None = Field(default=None, max_length=8000)


class ShareConsentCreate(_Strict):
    """説明した上での了承: recipients (agencies and/or categories) and items."""

    given_by: Literal["person", "legal_guardian"] = "person"
    agency_ids: list[UUID] = Field(default_factory=list, max_length=100)
    categories: list[AgencyCategory] = Field(default_factory=list, max_length=len(CATEGORIES))
    items: list[Item] = Field(min_length=1, max_length=len(intake.SHARE_ITEMS))
    explained_on: Day
    consent_text_version: str = Field(min_length=1, max_length=64)


class ShareConsentPublic(BaseModel):
    """A consent to share, as recorded (its receipt: …/share-consents/{id}/receipt)."""

    consent_id: UUID
    case_id: UUID
    given_by: str | None = Field(description="null only for consents recorded before the case kept it")
    agency_ids: list[UUID]
    categories: list[str]
    items: list[str]
    explained_on: date | None
    consent_text_version: str | None
    withdrawn_on: date | None
    case_version: int


class ReferralPublic(BaseModel):
    """A referral (つなぎ) of a case to an agency, and what became of it."""

    referral_id: UUID
    case_id: UUID
    agency_id: UUID
    category: str
    referred_on: date
    outcome: Literal["support_decided", "declined"] | None
    closed: bool
    case_version: int


class OutreachVisitPublic(BaseModel):
    """An outreach visit (訪問支援) as recorded."""

    visit_id: UUID
    case_id: UUID
    staff_role: str
    occurred_at: datetime
    summary: str | None
    case_version: int


class DisclosurePublic(BaseModel):
    """Case information given to an agency, and what it rests on (a consent or a legal basis)."""

    disclosure_id: UUID
    case_id: UUID
    agency_id: UUID
    items: list[str]
    disclosed_on: date
    purpose: str
    consent_id: UUID | None
    legal_basis: str | None
    case_version: int


class MeetingPublic(BaseModel):
    """A support meeting (支援会議) on the case."""

    meeting_id: UUID
    case_id: UUID
    held_on: date
    agency_ids: list[UUID]
    note: str | None
    case_version: int


class DatedCreate(_Strict):
    on: Day


class LegalBasisCreate(_Strict):
    """A provision without consent, as APPI 第27条第1項 各号 allows (libs/domain/legal_bases)."""

    code: Annotated[str, CodeOf("legal-bases")]
    statute: Annotated[str, CodeOf("statutes")] | None = Field(
        default=None,
        description="the law relied on, a code of libs/domain/legal_bases.STATUTES, e.g. child_abuse_notification "
                    "(児童虐待の防止等に関する法律 第6条第1項); required for required_by_law and "
                    "cooperation_with_authority, and only for the bases, recipients and age groups it allows")
    reason: str | None = Field(
        default=None, min_length=1, max_length=4000,
        description="why the person's consent could not be obtained, or would impede the authority's duty "
                    "(required except for required_by_law); sealed under the person's key")


class ShareCreate(_Strict):
    agency_id: UUID
    items: list[Item] = Field(min_length=1, max_length=len(intake.SHARE_ITEMS))
    on: Day
    purpose: Annotated[str, CodeOf("disclosure-purposes")] = Field(
        description="a code: the disclosure record travels on the bus, so no free text")
    legal_basis: LegalBasisCreate | None = Field(
        default=None, description="instead of the person's consent: the legal basis and its justification")


class ReferralCreate(_Strict):
    agency_id: UUID
    items: list[Item] = Field(default_factory=list, max_length=len(intake.SHARE_ITEMS),
                              description="what the agency receives with the referral")
    referred_on: Day
    legal_basis: LegalBasisCreate | None = Field(
        default=None, description="instead of the person's consent: the legal basis and its justification")


class FollowUpCreate(_Strict):
    followed_up_on: Day
    note: str | None = Field(default=None, max_length=8000)


class OutcomeCreate(_Strict):
    outcome: Literal["support_decided", "declined"]
    on: Day
    reason: str | None = Field(default=None, max_length=4000)


class MeetingCreate(_Strict):
    held_on: Day
    agency_ids: list[UUID] = Field(default_factory=list, max_length=100)
    note: str | None = Field(default=None, max_length=8000)


class CloseCreate(_Strict):
    reason: Annotated[str, CodeOf("close-reasons")]
    on: Day


class TimelineEvent(BaseModel):
    version: int
    type: str
    time: str
    data: dict


class TimelinePublic(BaseModel):
    case_id: UUID
    events: list[TimelineEvent]


class ReferralSummary(BaseModel):
    referral_id: UUID
    case_id: UUID
    agency_id: UUID
    category: str
    referred_on: date


class ReferralsPublic(BaseModel):
    data: list[ReferralSummary]


class Workload(BaseModel):
    centre_id: UUID
    fy: int
    open_cases: int
    referrals_awaiting_outcome: int
    consultations: int
    outreach_visits: int
    support_meetings: int
    backoffice_supports: int


class DirectoryCentre(BaseModel):
    centre_id: UUID
    name: str
    kind: str
    site: str
    tenant: str
    municipality: str | None
    address: str | None
    phone: str | None
    hours: dict | None


class DirectoryCentres(BaseModel):
    data: list[DirectoryCentre]


class DirectoryAgency(BaseModel):
    agency_id: UUID
    name: str
    category: str
    category_label: str
    municipality: str
    address: str
    phone: str


class DirectoryAgencies(BaseModel):
    data: list[DirectoryAgency]


class VoidCreate(_Strict):
    reason: Annotated[str, CodeOf("void-reasons")]
    on: Day


class ErasureCreate(_Strict):
    basis: Literal["retention_ended", "request_granted"]
    on: Day


class CorrectionCreate(_Strict):
    personal_details: PersonalDetails
    on: Day


class RightsRequestCreate(_Strict):
    case_id: UUID
    kind: Literal["disclosure", "correction", "suspension", "erasure"]
    received_on: Day


class RightsAnswerCreate(_Strict):
    answered_on: Day
    outcome: Literal["granted", "partially_granted", "refused"]


class RightsRequestPublic(BaseModel):
    request_id: UUID
    case_id: UUID
    centre_id: UUID
    kind: str
    received_on: date
    due_on: date
    answered_on: date | None
    outcome: str | None
    overdue: bool


class RightsRequestsPublic(BaseModel):
    data: list[RightsRequestPublic]


ProgrammeKind = Literal["prefectural_centre", "municipal_centre", "station", "support_programme", "satellite",
                        "acceleration_support"]
SupportActivity = Literal["place", "network", "family_class", "peer_meeting", "supporter_training_dispatch",
                          "private_group_liaison", "public_lecture", "startup_preparation"]
Funder = Literal["national", "prefecture", "municipality"]
Share = Annotated[str, Field(pattern=r"^[0-9]+/[0-9]+$", max_length=9)]


class ProgrammeCreate(_Strict):
    ORDER = (("starts_on", "ends_on"),)
    kind: ProgrammeKind
    name: str = Field(min_length=1, max_length=200)
    # Up to every municipality of the largest prefecture (北海道: 179).
    operators: list[LgCode] = Field(default_factory=list, max_length=200,
                                    description="other local governments running it jointly")
    activities: list[SupportActivity] = Field(default_factory=list, max_length=len(get_args(SupportActivity)),
                                              description="サポート事業: the activities chosen")
    starts_on: Day
    ends_on: Day | None = Field(default=None, description="fixed-term kinds default to 2 years")
    funding: dict[Funder, Share] = Field(
        description='e.g. {"national": "1/2", "prefecture": "1/4", "municipality": "1/4"}')


class ProgrammeChange(_Strict):
    activities: list[SupportActivity] = Field(default_factory=list, max_length=len(get_args(SupportActivity)))
    funding: dict[Funder, Share]
    changed_on: Day


class ProgrammeEnd(_Strict):
    ended_on: Day
    handed_over_to: LgCode | None = None


class GroupActivityCreate(_Strict):
    kind: Literal["family_class", "peer_meeting", "family_meeting", "public_lecture", "leaflet", "staff_training",
                  "network_meeting"]
    held_on: Day
    participants: int = Field(ge=0, le=100_000)
    agency_ids: list[UUID] = Field(default_factory=list, max_length=100)


class GroupActivityPublic(BaseModel):
    """A group activity of a programme (家族教室, 当事者会, ...)."""

    activity_id: UUID
    programme_id: UUID
    kind: str
    held_on: date
    participants: int
    agency_ids: list[UUID]
    programme_version: int


class OperatorAnswer(_Strict):
    on: Day


class ProgrammePublic(BaseModel):
    id: UUID
    tenant: str
    kind: ProgrammeKind
    name: str
    status: Literal["pending", "declined", "running", "ended"] = Field(
        description="pending until every government named as operator accepted")
    operators: list[str] = Field(description="the governments running it")
    invited: list[str] = Field(description="named as operators, not answered yet")
    activities: list[str]
    starts_on: date
    ends_on: date | None
    funding: dict[str, str]
    ended_on: date | None
    handed_over_to: str | None
    group_activities: int
    version: int


class PlaceCreate(_Strict):
    programme_id: UUID | None = None
    name: str = Field(min_length=1, max_length=200)
    operator: str = Field(min_length=1, max_length=200)
    municipality: LgCode
    address: str = Field(min_length=1, max_length=500)
    schedule: dict[Weekday, Hours]


class PlaceSessionCreate(_Strict):
    held_on: Day
    participants: int = Field(ge=0, le=10_000)
    # A place's session, not a lecture hall: 300 linked participants is far beyond any seen.
    registered_participants: list[Annotated[str, Field(min_length=1, max_length=64)]] = Field(
        default_factory=list, max_length=300,
        description="pseudonymous ids; sealed under the session, only their count travels in clear")
    staff: int = Field(ge=0, le=1000)
    supporter_ids: list[UUID] = Field(default_factory=list, max_length=100)


class PlaceSessionPublic(BaseModel):
    """A session of a place (its participants' refs, sealed, are not repeated here)."""

    session_id: UUID
    place_id: UUID
    held_on: date
    participants: int
    registered_participants: int
    staff: int
    supporter_ids: list[UUID]
    place_version: int


class PlaceClosure(_Strict):
    closed_on: Day


class PlacePublic(BaseModel):
    id: UUID
    tenant: str
    name: str
    municipality: str
    sessions: int
    closed_on: date | None = None
    version: int


class DirectoryPlace(BaseModel):
    place_id: UUID
    name: str
    operator: str
    municipality: str
    address: str
    schedule: dict


class DirectoryPlaces(BaseModel):
    data: list[DirectoryPlace]


# -- prefectural back-up (後方支援・立ち上げ支援) ----------------------------------------------------
BackupKind = Literal["advice", "case_consultation", "staff_dispatched", "startup_support", "training", "information"]


class BackupCreate(_Strict):
    municipality: LgCode = Field(description="the municipality backed up (inside the prefecture)")
    kind: BackupKind = Field(description="助言 / 事例相談 / 職員の派遣 / 立ち上げ支援 / 研修 / 情報提供")
    given_on: Day
    centre_id: UUID | None = Field(default=None, description="the prefecture's centre that gave it, if one did")
    programme_id: UUID | None = Field(default=None, description="the municipality's programme it concerns")
    staff_role: Literal["coordinator", "outreach_worker", "municipal_support_worker"] | None = Field(
        default=None, description="for staff_dispatched: e.g. 市町村等支援員 (municipal_support_worker)")
    staff_days: int | None = Field(default=None, ge=1, le=366, description="for staff_dispatched: days on site")
    note: str | None = Field(default=None, max_length=8000, description="sealed: may speak of persons")


class BackupPublic(BaseModel):
    id: UUID
    tenant: str
    municipality: str
    kind: BackupKind
    given_on: date
    centre_id: UUID | None
    programme_id: UUID | None
    staff_role: str | None
    staff_days: int | None
    note: str | None = Field(description="opened for the prefecture and the municipality")


class BackupSummary(BaseModel):
    backup_id: UUID
    tenant: str
    municipality: str
    kind: BackupKind
    given_on: date
    programme_id: UUID | None
    staff_role: str | None
    staff_days: int | None


class BackupsPublic(BaseModel):
    data: list[BackupSummary]
    next_cursor: str | None
