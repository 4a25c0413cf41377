"""Event contracts of the dispatch context: ひきこもりサポーター派遣 run by a municipality.

Source: 実施要領 第3 3 (seeds/000: 派遣目的・活動計画・活動内容を明確にし双方の同意を得る;
中止及び終了の希望が示された場合には速やかに中止及び終了; 名簿管理: 活動する意向を再度確認;
事故等への対応), 要綱例 第10条〜第12条 (seeds/004), 資料7 (本人の同意), 資料8 (活動報告書).
"""

from __future__ import annotations

from datetime import date, datetime
from typing import ClassVar
from uuid import UUID

from eventsourcing.domain import Aggregate

from libs.domain import consent
from libs.domain.consent import consent_record
from libs.domain.contracts import Contract

CONTEXT = "dispatch"

# 資料7: the items a municipality may give the supporter, each chosen separately.
# 氏名・性別・生年月日・住所・連絡先・相談内容・生活歴・既往歴
DISCLOSURE_ITEMS = ("name", "gender", "birth_date", "address", "contact", "consultation",
                    "life_history", "medical_history")
SENSITIVE_ITEMS = consent.SENSITIVE_ITEMS  # 要配慮個人情報
CONSENT_GIVERS = ("person", "legal_guardian")  # 本人 / 法定代理人
# 資料8 活動種別: 訪問・面接・外出同行・関係者会議等・その他
ACTIVITY_TYPES = ("visit", "interview", "accompanied_outing", "case_meeting", "other")
# 資料8 今後の方針: 継続・中断・終了・その他
NEXT_STEPS = ("continue", "pause", "end", "other")
END_REASONS = (
    "plan_completed", "subject_requested_stop", "subject_consent_withdrawn", "supporter_withdrew",
    "supporter_registration_revoked", "supporter_registration_expired", "other",
)
INCIDENT_SEVERITIES = ("minor", "moderate", "serious")
# Why a running dispatch pauses: the person's condition or wish, the supporter unable to act for a
# while, the supporter's 利用停止, or something else (told in the sealed note).
SUSPENSION_REASONS = ("subject_condition", "subject_requested_pause", "supporter_unavailable",
                      "supporter_use_suspended", "other")
# 居場所運営等へのサポーター派遣 (seeds/001 ひきこもりサポート事業; 003 支援機関が行う支援施策への協力):
# a supporter deployed to a place (居場所), a programme's activity or an agency, not to a person.
DEPLOYMENT_TARGETS = ("place", "programme", "agency")
# 居場所の運営協力 / 家族教室・当事者会等の運営協力 / 普及啓発への協力 / 関係機関でのスタッフ支援 / その他
DEPLOYMENT_ROLES = ("place_operation", "group_activity", "public_awareness", "agency_staff_support", "other")
DEPLOYMENT_END_REASONS = ("completed", "supporter_withdrew", "supporter_registration_revoked",
                          "supporter_registration_expired", "supporter_use_suspended", "target_closed", "other")


class _Dispatch(Contract):
    CONTEXT: ClassVar[str] = CONTEXT


# One base per aggregate names it for all its events (the third token of their NATS subject).
class RosterEntryEvent(_Dispatch):  # a supporter on a municipality's roster (名簿管理)
    AGGREGATE = "rosterentry"


class DispatchEvent(_Dispatch):  # a supporter sent to a person who asked (派遣)
    AGGREGATE = "dispatch"


class DeploymentEvent(_Dispatch):  # a supporter sent to a place, a programme or an agency
    AGGREGATE = "deployment"


# -- the municipality's roster (名簿管理) ---------------------------------------------------------
class RosterReceived(RosterEntryEvent, Aggregate.Created):
    """受領記録 of a roster entry (APPI 第30条): from which registrar, when, resting on which consent."""
    RECEIPT: ClassVar[dict[str, str] | None] = {"sender": "registrar", "subject": "supporter_id",
                                                "basis": "consent_id", "on": "received_on"}

    tenant: str
    supporter_id: UUID
    registrar: str
    roster_id: UUID
    registration_number: str
    term_ends_on: date
    consent_id: UUID
    received_on: date


class RosterEntryRefreshed(RosterEntryEvent, Aggregate.Event):
    """A later roster provision of the same supporter."""

    roster_id: UUID
    registration_number: str
    term_ends_on: date
    consent_id: UUID
    received_on: date


class SupporterIntentReconfirmed(RosterEntryEvent, Aggregate.Event):
    """名簿の提供を受けた実施主体は…活動する意向があることを再度確認した上で名簿を管理する."""

    confirmed_on: date


class SupporterTermRenewed(RosterEntryEvent, Aggregate.Event):
    term_ends_on: date


class SupporterRegistrationEnded(RosterEntryEvent, Aggregate.Event):
    """The registrar says the supporter withdrew, was revoked, expired or withdrew consent."""

    reason: str
    effective_on: date
    cause_event_id: str


class SupporterUseSuspensionReceived(RosterEntryEvent, Aggregate.Event):
    """The registrar says the supporter asked for 利用停止 (APPI 第35条): the municipality stops
    using the entry — no assignment or deployment, running dispatches suspended — until resumed."""

    suspended_on: date
    cause_event_id: str


class SupporterUseResumptionReceived(RosterEntryEvent, Aggregate.Event):
    resumed_on: date
    cause_event_id: str


# -- the dispatch (派遣) -------------------------------------------------------------------------
class DispatchRequested(DispatchEvent, Aggregate.Created):
    """A person (or their family) asked for a supporter: from intake or entered by the municipality."""
    SUBJECT_FIELD: ClassVar[str | None] = "subject_ref"

    tenant: str
    subject_ref: str
    source: str
    requested_by: str  # person / family / agency; the dispatch still needs the person's own consent
    intake_request_id: UUID | None
    referring_centre_id: UUID | None
    needs: list[str]
    preferences: dict
    requested_on: date


class SubjectDetailsRecorded(DispatchEvent, Aggregate.Event):
    """The person's details held by the municipality for disclosure under the consent; sealed."""

    SEALED_FIELDS: ClassVar[tuple[str, ...]] = ("details",)

    details: dict


class SubjectDetailsCorrected(DispatchEvent, Aggregate.Event):
    """訂正 (APPI 第34条): the person's details as corrected (sealed), e.g. on the person's request;
    possible as long as the municipality keeps them, after the dispatch ended too."""

    SEALED_FIELDS: ClassVar[tuple[str, ...]] = ("details",)

    details: dict
    corrected_on: date


class SupporterAssigned(DispatchEvent, Aggregate.Event):
    supporter_id: UUID
    registration_number: str
    roster_entry_id: UUID
    assigned_on: date


class SubjectConsented(DispatchEvent, Aggregate.Event):
    """資料7: which items may be given to the supporter, support meetings, self-paid costs.
    `record` is the ISO/IEC TS 27560 consent record (libs/domain/consent.py)."""
    CONSENT: ClassVar[tuple[str, str] | None] = ("given", "consent_id")
    # v2 added the consent record.
    SCHEMA_VERSION: ClassVar[int] = 2
    class_version: ClassVar[int] = 2

    consent_id: UUID
    given_by: str
    items: list[str]
    support_meetings: bool
    costs_self_paid: bool
    signed_on: date
    record: dict

    @staticmethod
    def upcast_v1_v2(state: dict) -> None:
        state["record"] = subject_consent_record(controller=None, given_by=state["given_by"], items=state["items"],
                                                 support_meetings=state["support_meetings"], supporter_id=None)


def subject_consent_record(*, controller: str | None, given_by: str, items: list[str], support_meetings: bool,
                           supporter_id: UUID | None) -> dict:
    """資料7 as a consent record: the items go to the assigned supporter (when one is assigned)."""
    purposes = (["ひきこもりサポーターによる支援 (資料7)"]
                + (["支援内容等を検討するための会議"] if support_meetings else []))
    return consent_record(controller=controller, given_by=given_by, purposes=purposes, items=items,
                          recipients=[str(supporter_id)] if supporter_id else [], method="written_signature",
                          notice_version="資料7", termination="until withdrawn (同意の撤回) or the dispatch ends")


class SupporterConsented(DispatchEvent, Aggregate.Event):
    supporter_id: UUID
    accepted_on: date


class ActivityPlanAgreed(DispatchEvent, Aggregate.Event):
    """派遣目的・活動計画・活動内容, agreed by both sides."""

    SEALED_FIELDS: ClassVar[tuple[str, ...]] = ("plan",)

    activities: list[str]
    plan: dict
    agreed_on: date


class DispatchStarted(DispatchEvent, Aggregate.Event):
    supporter_id: UUID
    started_on: date


class InformationDisclosed(DispatchEvent, Aggregate.Event):
    """Personal information given to the supporter: recipient, items, the consent it rests on."""
    PROVISION: ClassVar[dict[str, str] | None] = {"recipient": "recipient_supporter_id", "items": "items",
                                                  "basis": "consent_id", "on": "disclosed_at"}

    recipient_supporter_id: UUID
    items: list[str]
    consent_id: UUID
    disclosed_at: datetime


class ActivityReported(DispatchEvent, Aggregate.Event):
    """活動報告書 (資料8). Narrative fields (place, content, record, next, plan) are sealed, and so
    are the その他 texts of 活動種別 and 今後の方針: free text may speak of the person."""

    SEALED_FIELDS: ClassVar[tuple[str, ...]] = ("narrative", "activity_type_other", "next_step_other")
    # v2 sealed activity_type_other and next_step_other (v1 published them in clear).
    SCHEMA_VERSION: ClassVar[int] = 2
    class_version: ClassVar[int] = 2

    report_id: UUID
    supporter_id: UUID
    reported_on: date
    activity_date: date
    starts_at: str
    ends_at: str
    activity_type: str
    activity_type_other: dict | None
    next_step: str
    next_step_other: dict | None
    narrative: dict

    @staticmethod
    def upcast_v1_v2(state: dict) -> None:
        """A v1 その他 text stays in its stored v1 record (and what v1 published); from v2 on the
        event only carries it sealed, so an old text is not repeated in the clear."""
        state["activity_type_other"] = None
        state["next_step_other"] = None


class ReportReviewed(DispatchEvent, Aggregate.Event):
    """The officer closed the task a report opened (方針 中断・終了・その他)."""

    report_id: UUID
    reviewed_on: date


class GuidanceGiven(DispatchEvent, Aggregate.Event):
    """助言及び指導 to the supporter from the municipal officer or the support centre."""

    SEALED_FIELDS: ClassVar[tuple[str, ...]] = ("guidance",)

    given_by: str
    given_on: date
    guidance: dict


class IncidentReported(DispatchEvent, Aggregate.Event):
    """事故報告 with severity and follow-up."""

    SEALED_FIELDS: ClassVar[tuple[str, ...]] = ("account",)

    incident_id: UUID
    occurred_on: date
    severity: str
    account: dict


class DispatchSuspended(DispatchEvent, Aggregate.Event):
    """A pause of a running dispatch: the reason as a code, anything more in the sealed note."""

    SEALED_FIELDS: ClassVar[tuple[str, ...]] = ("note",)
    # v2: the reason is a code of SUSPENSION_REASONS (v1 took free text, which could speak of the
    # person's health) and free text goes to the sealed note.
    SCHEMA_VERSION: ClassVar[int] = 2
    class_version: ClassVar[int] = 2

    reason: str
    note: dict | None
    suspended_on: date

    @staticmethod
    def upcast_v1_v2(state: dict) -> None:
        """v1's free-text reason stays in its stored v1 record only: it is read as "other"."""
        state["reason"] = state["reason"] if state["reason"] in SUSPENSION_REASONS else "other"
        state["note"] = None


class DispatchResumed(DispatchEvent, Aggregate.Event):
    resumed_on: date


class SubjectConsentWithdrawn(DispatchEvent, Aggregate.Event):
    CONSENT: ClassVar[tuple[str, str] | None] = ("withdrawn", "consent_id")

    consent_id: UUID
    withdrawn_on: date


# Why dispatch erased without an officer asking: the person's data was erased at the centre that
# referred them (INTAKE's SubjectErased, basis request_granted) and the dispatch had ended.
ERASURE_CAUSES = ("erased_at_intake",)


class SubjectDataErased(DispatchEvent, Aggregate.Event):
    """The person's key in dispatch was destroyed after the dispatch ended: their details, plan
    and report narratives read as erased; dates, codes and disclosure records remain."""

    # v2: `cause` (a code of ERASURE_CAUSES) and `cause_event_id` say when another service's event
    # caused the erasure; both None when the municipality erased on its own decision.
    SCHEMA_VERSION: ClassVar[int] = 2
    class_version: ClassVar[int] = 2

    erased_on: date
    basis: str
    cause: str | None
    cause_event_id: str | None

    @staticmethod
    def upcast_v1_v2(state: dict) -> None:
        """Every v1 erasure was the municipality's own."""
        state["cause"] = None
        state["cause_event_id"] = None


class SourceErasureNotified(DispatchEvent, Aggregate.Event):
    """消去の通知: the person's data was erased at the centre that referred them (INTAKE's
    SubjectErased) while this dispatch was still running. The municipality decides (end the
    dispatch and erase, or keep what it must keep); until its data is erased the dispatch shows
    an open erasure task. Carries no personal data."""

    source: str  # the service where the data was erased: intake
    cause_event_id: str
    erased_at_source_on: date
    notified_on: date


class DispatchEnded(DispatchEvent, Aggregate.Event):
    reason: str
    ended_on: date
    supporter_id: UUID | None
    cause_event_id: str | None


# -- deployments (居場所運営等へのサポーター派遣) ------------------------------------------------------
class SupporterDeployed(DeploymentEvent, Aggregate.Created):
    """A supporter on the municipality's roster deployed to a place, a programme or an agency.
    No person's data is given to the supporter, so no subject consent is needed; the supporter's
    eligibility (current registration, roster provided, intent re-confirmed) is checked as for 派遣."""

    tenant: str
    supporter_id: UUID
    registration_number: str
    roster_entry_id: UUID
    target_kind: str
    target_id: UUID
    target_name: str
    role: str
    starts_on: date
    ends_on: date | None


class DeploymentAccepted(DeploymentEvent, Aggregate.Event):
    """The supporter agreed to act (活動することへの同意): the deployment is running from then."""

    supporter_id: UUID
    accepted_on: date


class DeploymentActivityReported(DeploymentEvent, Aggregate.Event):
    """One activity at the place or programme, counted as ひきこもりサポーターの活動件数.
    The narrative (what was done) is sealed under the deployment's key."""

    SEALED_FIELDS: ClassVar[tuple[str, ...]] = ("narrative",)

    report_id: UUID
    supporter_id: UUID
    reported_on: date
    activity_date: date
    starts_at: str
    ends_at: str
    participants: int | None
    narrative: dict


class DeploymentEnded(DeploymentEvent, Aggregate.Event):
    reason: str
    ended_on: date
    supporter_id: UUID
    cause_event_id: str | None


EVENTS: tuple[type[Contract], ...] = (
    RosterReceived, RosterEntryRefreshed, SupporterIntentReconfirmed, SupporterTermRenewed,
    SupporterRegistrationEnded, SupporterUseSuspensionReceived, SupporterUseResumptionReceived,
    DispatchRequested, SubjectDetailsRecorded, SubjectDetailsCorrected, SupporterAssigned,
    SubjectConsented, SupporterConsented, ActivityPlanAgreed, DispatchStarted, InformationDisclosed,
    ActivityReported, ReportReviewed, GuidanceGiven, IncidentReported, DispatchSuspended,
    DispatchResumed, SubjectConsentWithdrawn, DispatchEnded, SubjectDataErased, SourceErasureNotified,
    SupporterDeployed, DeploymentAccepted, DeploymentActivityReported, DeploymentEnded,
)
