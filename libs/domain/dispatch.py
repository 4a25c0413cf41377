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
# Why a supporter's registration ended, as dispatch learns it from REGISTRY.
REGISTRATION_ENDINGS = ("withdrawn", "revoked", "expired", "consent_withdrawn")
# 居場所運営等へのサポーター派遣 (seeds/001 ひきこもりサポート事業; 003 支援機関が行う支援施策への協力):
# a supporter deployed to a place (居場所), a programme's activity or an agency, not to a person.
DEPLOYMENT_TARGETS = ("place", "programme", "agency")
# 居場所の運営協力 / 家族教室・当事者会等の運営協力 / 普及啓発への協力 / 関係機関でのスタッフ支援 / その他
DEPLOYMENT_ROLES = ("place_operation", "group_activity", "public_awareness", "agency_staff_support", "other")
DEPLOYMENT_END_REASONS = ("completed", "supporter_withdrew", "supporter_registration_revoked",
                          "supporter_registration_expired", "supporter_use_suspended", "target_closed", "other")
# サポーターの活動件数 by whom the supporter acted for: a person (派遣) or a deployment's target.
ACTIVITY_KINDS = ("person", *DEPLOYMENT_TARGETS)


class _Dispatch(Contract):
    CONTEXT: ClassVar[str] = CONTEXT


# -- the municipality's roster (名簿管理) ---------------------------------------------------------
class RosterReceived(_Dispatch, Aggregate.Created):
    """受領記録 of a roster entry (APPI 第30条): from which registrar, when, resting on which consent."""
    RECEIPT: ClassVar[dict[str, str] | None] = {"sender": "registrar", "subject": "supporter_id", "basis": "consent_id", "on": "received_on"}

    AGGREGATE: ClassVar[str] = "rosterentry"

    tenant: str
    supporter_id: UUID
    registrar: str
    roster_id: UUID
    registration_number: str
    term_ends_on: date
    consent_id: UUID
    received_on: date


class RosterEntryRefreshed(_Dispatch, Aggregate.Event):
    """A later roster provision of the same supporter."""

    AGGREGATE: ClassVar[str] = "rosterentry"

    roster_id: UUID
    registration_number: str
    term_ends_on: date
    consent_id: UUID
    received_on: date


class SupporterIntentReconfirmed(_Dispatch, Aggregate.Event):
    """名簿の提供を受けた実施主体は…活動する意向があることを再度確認した上で名簿を管理する."""

    AGGREGATE: ClassVar[str] = "rosterentry"

    confirmed_on: date


class SupporterTermRenewed(_Dispatch, Aggregate.Event):
    AGGREGATE: ClassVar[str] = "rosterentry"

    term_ends_on: date


class SupporterRegistrationEnded(_Dispatch, Aggregate.Event):
    """The registrar says the supporter withdrew, was revoked, expired or withdrew consent."""

    AGGREGATE: ClassVar[str] = "rosterentry"

    reason: str
    effective_on: date
    cause_event_id: str


class SupporterUseSuspensionReceived(_Dispatch, Aggregate.Event):
    """The registrar says the supporter asked for 利用停止 (APPI 第35条): the municipality stops
    using the entry — no assignment or deployment, running dispatches suspended — until resumed."""

    AGGREGATE: ClassVar[str] = "rosterentry"

    suspended_on: date
    cause_event_id: str


class SupporterUseResumptionReceived(_Dispatch, Aggregate.Event):
    AGGREGATE: ClassVar[str] = "rosterentry"

    resumed_on: date
    cause_event_id: str


# -- the dispatch (派遣) -------------------------------------------------------------------------
class DispatchRequested(_Dispatch, Aggregate.Created):
    """A person (or their family) asked for a supporter: from intake or entered by the municipality."""
    SUBJECT_FIELD: ClassVar[str | None] = "subject_ref"

    AGGREGATE: ClassVar[str] = "dispatch"

    tenant: str
    subject_ref: str
    source: str
    requested_by: str  # person / family / agency; the dispatch still needs the person's own consent
    intake_request_id: UUID | None
    referring_centre_id: UUID | None
    needs: list[str]
    preferences: dict
    requested_on: date


class SubjectDetailsRecorded(_Dispatch, Aggregate.Event):
    """The person's details held by the municipality for disclosure under the consent; sealed."""

    AGGREGATE: ClassVar[str] = "dispatch"
    SEALED_FIELDS: ClassVar[tuple[str, ...]] = ("details",)

    details: dict


class SubjectDetailsCorrected(_Dispatch, Aggregate.Event):
    """訂正 (APPI 第34条): the person's details as corrected (sealed), e.g. on the person's request;
    possible as long as the municipality keeps them, after the dispatch ended too."""

    AGGREGATE: ClassVar[str] = "dispatch"
    SEALED_FIELDS: ClassVar[tuple[str, ...]] = ("details",)

    details: dict
    corrected_on: date


class SupporterAssigned(_Dispatch, Aggregate.Event):
    AGGREGATE: ClassVar[str] = "dispatch"

    supporter_id: UUID
    registration_number: str
    roster_entry_id: UUID
    assigned_on: date


class SubjectConsented(_Dispatch, Aggregate.Event):
    """資料7: which items may be given to the supporter, support meetings, self-paid costs.
    `record` is the ISO/IEC TS 27560 consent record (libs/domain/consent.py)."""
    CONSENT: ClassVar[tuple[str, str] | None] = ("given", "consent_id")
    # v2 added the consent record.
    SCHEMA_VERSION: ClassVar[int] = 2
    class_version: ClassVar[int] = 2

    AGGREGATE: ClassVar[str] = "dispatch"

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
    purposes = ["ひきこもりサポーターによる支援 (資料7)"] + (["支援内容等を検討するための会議"] if support_meetings else [])
    return consent_record(controller=controller, given_by=given_by, purposes=purposes, items=items,
                          recipients=[str(supporter_id)] if supporter_id else [], method="written_signature",
                          notice_version="資料7", termination="until withdrawn (同意の撤回) or the dispatch ends")


class SupporterConsented(_Dispatch, Aggregate.Event):
    AGGREGATE: ClassVar[str] = "dispatch"

    supporter_id: UUID
    accepted_on: date


class ActivityPlanAgreed(_Dispatch, Aggregate.Event):
    """派遣目的・活動計画・活動内容, agreed by both sides."""

    AGGREGATE: ClassVar[str] = "dispatch"
    SEALED_FIELDS: ClassVar[tuple[str, ...]] = ("plan",)

    activities: list[str]
    plan: dict
    agreed_on: date


class DispatchStarted(_Dispatch, Aggregate.Event):
    AGGREGATE: ClassVar[str] = "dispatch"

    supporter_id: UUID
    started_on: date


class InformationDisclosed(_Dispatch, Aggregate.Event):
    """Personal information given to the supporter: recipient, items, the consent it rests on."""
    PROVISION: ClassVar[dict[str, str] | None] = {"recipient": "recipient_supporter_id", "items": "items", "basis": "consent_id", "on": "disclosed_at"}

    AGGREGATE: ClassVar[str] = "dispatch"

    recipient_supporter_id: UUID
    items: list[str]
    consent_id: UUID
    disclosed_at: datetime


class ActivityReported(_Dispatch, Aggregate.Event):
    """活動報告書 (資料8). Narrative fields (place, content, record, next, plan) are sealed, and so
    are the その他 texts of 活動種別 and 今後の方針: free text may speak of the person."""

    AGGREGATE: ClassVar[str] = "dispatch"
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


class ReportReviewed(_Dispatch, Aggregate.Event):
    """The officer closed the task a report opened (方針 中断・終了・その他)."""

    AGGREGATE: ClassVar[str] = "dispatch"

    report_id: UUID
    reviewed_on: date


class GuidanceGiven(_Dispatch, Aggregate.Event):
    """助言及び指導 to the supporter from the municipal officer or the support centre."""

    AGGREGATE: ClassVar[str] = "dispatch"
    SEALED_FIELDS: ClassVar[tuple[str, ...]] = ("guidance",)

    given_by: str
    given_on: date
    guidance: dict


class IncidentReported(_Dispatch, Aggregate.Event):
    """事故報告 with severity and follow-up."""

    AGGREGATE: ClassVar[str] = "dispatch"
    SEALED_FIELDS: ClassVar[tuple[str, ...]] = ("account",)

    incident_id: UUID
    occurred_on: date
    severity: str
    account: dict


class DispatchSuspended(_Dispatch, Aggregate.Event):
    """A pause of a running dispatch: the reason as a code, anything more in the sealed note."""

    AGGREGATE: ClassVar[str] = "dispatch"
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


class DispatchResumed(_Dispatch, Aggregate.Event):
    AGGREGATE: ClassVar[str] = "dispatch"

    resumed_on: date


class SubjectConsentWithdrawn(_Dispatch, Aggregate.Event):
    CONSENT: ClassVar[tuple[str, str] | None] = ("withdrawn", "consent_id")
    AGGREGATE: ClassVar[str] = "dispatch"

    consent_id: UUID
    withdrawn_on: date


class SubjectDataErased(_Dispatch, Aggregate.Event):
    """The person's key in dispatch was destroyed after the dispatch ended: their details, plan
    and report narratives read as erased; dates, codes and disclosure records remain."""

    AGGREGATE: ClassVar[str] = "dispatch"

    erased_on: date
    basis: str


class DispatchEnded(_Dispatch, Aggregate.Event):
    AGGREGATE: ClassVar[str] = "dispatch"

    reason: str
    ended_on: date
    supporter_id: UUID | None
    cause_event_id: str | None


# -- deployments (居場所運営等へのサポーター派遣) ------------------------------------------------------
class SupporterDeployed(_Dispatch, Aggregate.Created):
    """A supporter on the municipality's roster deployed to a place, a programme or an agency.
    No person's data is given to the supporter, so no subject consent is needed; the supporter's
    eligibility (current registration, roster provided, intent re-confirmed) is checked as for 派遣."""

    AGGREGATE: ClassVar[str] = "deployment"

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


class DeploymentAccepted(_Dispatch, Aggregate.Event):
    """The supporter agreed to act (活動することへの同意): the deployment is running from then."""

    AGGREGATE: ClassVar[str] = "deployment"

    supporter_id: UUID
    accepted_on: date


class DeploymentActivityReported(_Dispatch, Aggregate.Event):
    """One activity at the place or programme, counted as ひきこもりサポーターの活動件数.
    The narrative (what was done) is sealed under the deployment's key."""

    AGGREGATE: ClassVar[str] = "deployment"
    SEALED_FIELDS: ClassVar[tuple[str, ...]] = ("narrative",)

    report_id: UUID
    supporter_id: UUID
    reported_on: date
    activity_date: date
    starts_at: str
    ends_at: str
    participants: int | None
    narrative: dict


class DeploymentEnded(_Dispatch, Aggregate.Event):
    AGGREGATE: ClassVar[str] = "deployment"

    reason: str
    ended_on: date
    supporter_id: UUID
    cause_event_id: str | None


EVENTS: tuple[type[Contract], ...] = (
    RosterReceived, RosterEntryRefreshed, SupporterIntentReconfirmed, SupporterTermRenewed,
    SupporterRegistrationEnded, SupporterUseSuspensionReceived, SupporterUseResumptionReceived, DispatchRequested, SubjectDetailsRecorded, SubjectDetailsCorrected,
    SupporterAssigned,
    SubjectConsented, SupporterConsented, ActivityPlanAgreed, DispatchStarted, InformationDisclosed,
    ActivityReported, ReportReviewed, GuidanceGiven, IncidentReported, DispatchSuspended,
    DispatchResumed, SubjectConsentWithdrawn, DispatchEnded, SubjectDataErased,
    SupporterDeployed, DeploymentAccepted, DeploymentActivityReported, DeploymentEnded,
)
