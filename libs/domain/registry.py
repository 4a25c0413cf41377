"""Event contracts of the registry context: ひきこもりサポーター training and registration.

Source: ひきこもりサポーター養成・派遣事業実施要綱（例） (seeds/004): 第5条 養成研修 and 修了証書,
第6条 登録申込書・同意書 and 講義・面談, 第7条 登録証, 第8条 登録名簿, 第9条 登録期間 (再登録),
第13条 継続研修, 第14条 登録事項の変更, 第15条 登録の辞退, 第16条 登録の取消し, 第17条 秘密の保持;
資料3 登録申込書, 資料4 同意書, 資料5 登録証, 資料6 登録名簿.
"""

from __future__ import annotations

from datetime import date
from typing import ClassVar
from uuid import UUID

from eventsourcing.domain import Aggregate

from libs.domain.consent import consent_record
from libs.domain.contracts import ClientKey, Contract, idempotency_digest

CONTEXT = "registry"

COURSE_KINDS = ("initial", "continuing")  # 養成研修 / 継続研修 (第13条)
SCREENING_KINDS = ("lecture", "interview")  # 講義 / 面談 (第6条2)

# 同意書 (資料4): the five items a supporter must affirm, in the form's order.
CONSENT_ITEMS = (
    "roster_listing",  # 1 氏名・性別・生年月日・住所・連絡先等を名簿に登載し派遣事業に供用
    "follow_instructions",  # 2 実施機関の指示のもとに活動し、約束・時間等を遵守
    "confidentiality",  # 3 知り得た個人情報等を外部に漏らさない（辞めた後も同様）
    "no_discrediting_conduct",  # 4 サポーターの信用を失墜する行為をしない
    "continuing_training",  # 5 研修等に積極的に参加
)
# 登録名簿 (資料6): the items a roster entry may carry to a municipality.
ROSTER_ITEMS = ("registration_number", "term", "name", "gender", "birth_date", "address", "contact")
CONFIDENTIALITY_NOTE = "第17条: 活動により知り得た秘密の保持義務は辞退・取消し後も存続する"


class _Registry(Contract):
    CONTEXT: ClassVar[str] = CONTEXT


# One base per aggregate names it for all its events (the third token of their NATS subject).
class RegistrarEvent(_Registry):  # 実施主体 that trains and registers supporters
    AGGREGATE = "registrar"


class CourseEvent(_Registry):  # 養成研修 or 継続研修
    AGGREGATE = "course"


class SupporterEvent(_Registry):  # ひきこもりサポーター from application to the end of registration
    AGGREGATE = "supporter"


class RosterEvent(_Registry):  # 登録名簿 provided to a municipality
    AGGREGATE = "roster"


# -- registrar (実施主体) -----------------------------------------------------------------------
class RegistrarOpened(RegistrarEvent, Aggregate.Created):
    """The local government that trains and registers supporters (実施主体, 第3条)."""

    tenant: str
    max_term_years: int
    default_term_years: int
    consent_text_version: str


class RegistrarConfigured(RegistrarEvent, Aggregate.Event):
    """登録期間 limit (第9条: 交付日から〇年を超えない範囲内) and the current consent text."""

    max_term_years: int
    default_term_years: int
    consent_text_version: str


class NumberAllocated(RegistrarEvent, Aggregate.Event):
    """A 修了番号 (per fiscal year) or 登録番号 allocated once, never reused."""

    series: str
    fy: int | None
    number: str
    allocated_to: UUID


# -- training (養成研修・継続研修) --------------------------------------------------------------
class TrainingCourseScheduled(CourseEvent, Aggregate.Created):
    tenant: str
    kind: str
    fy: int
    title: str
    starts_on: date
    ends_on: date
    venue: str


class TrainingAttended(CourseEvent, Aggregate.Event):
    """A trainee (or, in a continuing course, a registered supporter) attended.

    Their name, affiliation and phone are sealed; a 開示請求 of the supporter discloses them."""

    SEALED_FIELDS: ClassVar[tuple[str, ...]] = ("trainee",)
    ABOUT_FIELD: ClassVar[str | None] = "trainee_id"

    trainee_id: UUID
    attended_on: date
    trainee: dict | None


class TrainingCompleted(CourseEvent, Aggregate.Event):
    """修了証書 issued with its 修了番号 (第5条2)."""
    ABOUT_FIELD: ClassVar[str | None] = "trainee_id"

    trainee_id: UUID
    certificate_number: str
    completed_on: date


# -- supporter (ひきこもりサポーター) ----------------------------------------------------------
class RegistrationApplied(SupporterEvent, Aggregate.Created):
    """登録申込書 (資料3) received; the applicant's details are sealed. The supporter's id is the
    trainee id of the training that issued the 修了番号: one data subject, one key."""

    SEALED_FIELDS: ClassVar[tuple[str, ...]] = ("applicant",)

    # v2 records the digest of the client's Idempotency-Key (contracts.idempotency_digest, scoped
    # by the registrar), never the key: v1 carried the client's string in clear.
    SCHEMA_VERSION: ClassVar[int] = 2
    class_version: ClassVar[int] = 2

    tenant: str
    certificate_number: str
    applied_on: date
    applicant: dict
    idempotency_digest: str | None

    @staticmethod
    def upcast_v1_v2(state: dict) -> None:
        key = state.pop("idempotency_key", None)
        # An upcaster holds no secret: the unkeyed digest, which a retry still matches.
        state["idempotency_digest"] = idempotency_digest(CONTEXT, state["tenant"], key, None) if key else None


def application_key_digests(tenant: str, key: ClientKey) -> tuple[str, str]:
    """A registration application's Idempotency-Key as its event records it (the keyed digest),
    then as events recorded before the digest was keyed did."""
    return key.digests(CONTEXT, tenant)


class RegistrationConsented(SupporterEvent, Aggregate.Event):
    """同意書 (資料4): all five items affirmed, with the consent text version shown. `record` is the
    ISO/IEC TS 27560 consent record (libs/domain/consent.py): the roster's data to municipalities."""
    CONSENT: ClassVar[tuple[str, str] | None] = ("given", "consent_id")
    # v2 added the consent record.
    SCHEMA_VERSION: ClassVar[int] = 2
    class_version: ClassVar[int] = 2

    consent_id: UUID
    items: list[str]
    consent_text_version: str
    signed_on: date
    purpose: str
    record: dict

    @staticmethod
    def upcast_v1_v2(state: dict) -> None:
        state["record"] = registration_consent_record(controller=None, purpose=state["purpose"],
                                                      consent_text_version=state["consent_text_version"])


def registration_consent_record(*, controller: str | None, purpose: str, consent_text_version: str) -> dict:
    """The supporter's own consent (署名) to the roster's personal data going to the municipalities
    that run ひきこもりサポーター派遣事業 (実施要領 第3 2(2)イ)."""
    return consent_record(controller=controller, given_by="person", purposes=[purpose],
                          items=[i for i in ROSTER_ITEMS if i not in ("registration_number", "term")],
                          recipients=["ひきこもりサポーター派遣事業を実施する市町村"], method="written_signature",
                          notice_version=consent_text_version,
                          termination="until withdrawn (同意の撤回), 辞退, 取消し or the end of the term")


class ScreeningRecorded(SupporterEvent, Aggregate.Event):
    """講義・面談 after the application (第6条2)."""

    SEALED_FIELDS: ClassVar[tuple[str, ...]] = ("note",)

    kind: str
    held_on: date
    note: dict | None


class SupporterRegistered(SupporterEvent, Aggregate.Event):
    """登録証 (資料5) issued: 登録番号 and 登録期間 from the issue date (第7条, 第9条)."""

    registration_number: str
    issued_on: date
    term_starts_on: date
    term_ends_on: date


class RegistrationRefused(SupporterEvent, Aggregate.Event):
    SEALED_FIELDS: ClassVar[tuple[str, ...]] = ("reason",)

    refused_on: date
    reason: dict | None


class SupporterDetailsChanged(SupporterEvent, Aggregate.Event):
    """登録事項の変更 (第14条): which fields changed (names only) and the new values, sealed."""

    SEALED_FIELDS: ClassVar[tuple[str, ...]] = ("changes",)

    changed_fields: list[str]
    changes: dict
    changed_on: date


class RegistrationRenewed(SupporterEvent, Aggregate.Event):
    """再登録 (第9条ただし書): a new term, resting on a re-confirmed consent."""

    consent_id: UUID
    issued_on: date
    term_starts_on: date
    term_ends_on: date


class RegistrationExpired(SupporterEvent, Aggregate.Event):
    term_ended_on: date


class RegistrationConsentWithdrawn(SupporterEvent, Aggregate.Event):
    """The supporter withdrew the consent: no roster provision rests on it any more."""
    CONSENT: ClassVar[tuple[str, str] | None] = ("withdrawn", "consent_id")

    consent_id: UUID
    withdrawn_on: date


class RegistrationWithdrawn(SupporterEvent, Aggregate.Event):
    """登録の辞退 (第15条): reason confirmed, then the registration is cancelled."""

    SEALED_FIELDS: ClassVar[tuple[str, ...]] = ("reason",)

    withdrawn_on: date
    reason: dict | None
    confidentiality_duty: str


class RevocationInquiryRecorded(SupporterEvent, Aggregate.Event):
    """必要な調査及び面接 before a revocation (第16条)."""

    SEALED_FIELDS: ClassVar[tuple[str, ...]] = ("findings",)

    kind: str  # investigation | interview
    held_on: date
    findings: dict | None


class RegistrationRevoked(SupporterEvent, Aggregate.Event):
    """登録の取消し (第16条), only after an investigation and an interview."""

    SEALED_FIELDS: ClassVar[tuple[str, ...]] = ("grounds",)

    revoked_on: date
    grounds: dict
    confidentiality_duty: str


class ContinuingTrainingAttended(SupporterEvent, Aggregate.Event):
    """継続研修 attended (第13条), on the supporter's record."""

    course_id: UUID
    attended_on: date


class SupporterUseSuspended(SupporterEvent, Aggregate.Event):
    """利用停止 (APPI 第35条) asked by the supporter: no roster provision of their data, and no
    municipality reads it through the roster, until use is resumed."""

    suspended_on: date


class SupporterUseResumed(SupporterEvent, Aggregate.Event):
    resumed_on: date


class SupporterDataErased(SupporterEvent, Aggregate.Event):
    """The supporter's key was destroyed after the registration ended: every sealed value of the
    record reads as erased; 登録番号, dates and provision records (no personal data) remain."""

    erased_on: date
    basis: str


# -- roster (登録名簿) -------------------------------------------------------------------------
class RosterProvided(RosterEvent, Aggregate.Created):
    """登録名簿 provided to a municipality: the APPI third-party provision record
    (recipient, date, items, and for each supporter the consent it rests on)."""
    PROVISION: ClassVar[dict[str, str] | None] = {"recipient": "recipient", "items": "items", "on": "provided_on",
                                                  "entries": "entries", "subject": "supporter_id",
                                                  "basis": "consent_id"}

    tenant: str
    recipient: str
    provided_on: date
    items: list[str]
    entries: list[dict]


EVENTS: tuple[type[Contract], ...] = (
    RegistrarOpened, RegistrarConfigured, NumberAllocated,
    TrainingCourseScheduled, TrainingAttended, TrainingCompleted,
    RegistrationApplied, RegistrationConsented, ScreeningRecorded, SupporterRegistered,
    RegistrationRefused, SupporterDetailsChanged, RegistrationRenewed, RegistrationExpired,
    RegistrationConsentWithdrawn, RegistrationWithdrawn, RevocationInquiryRecorded,
    RegistrationRevoked, ContinuingTrainingAttended, SupporterUseSuspended, SupporterUseResumed,
    SupporterDataErased, RosterProvided,
)
