"""Event contracts of the intake context (ひきこもり地域支援センター and municipal windows)."""

from __future__ import annotations

from datetime import date, datetime
from typing import ClassVar
from uuid import UUID

from eventsourcing.domain import Aggregate

from libs.domain.contracts import Contract

CONTEXT = "intake"

CENTRE_KINDS = ("child", "adult")  # 児童 (< 18) / 成人 (≥ 18) centre types
CENTRE_SITES = ("main", "satellite")  # 本所 / サテライト
CLIENT_KINDS = ("person", "family", "agency")  # 本人 / 家族 / 関係機関
AGE_GROUPS = ("child", "adult")  # < 18 / ≥ 18
# 電話・来所・メール・訪問・その他
CHANNELS = ("phone", "visit", "email", "outreach", "other")


class _Intake(Contract):
    CONTEXT: ClassVar[str] = CONTEXT


class CentreRegistered(_Intake, Aggregate.Created):
    """ひきこもり地域支援センター registered by its prefecture or designated city (`tenant`)."""

    AGGREGATE: ClassVar[str] = "centre"

    tenant: str
    name: str
    kind: str
    site: str


class CaseOpened(_Intake, Aggregate.Created):
    """A case (相談ケース) of a person (本人), their family (家族) or a referring agency."""

    AGGREGATE: ClassVar[str] = "case"
    SEALED_FIELDS: ClassVar[tuple[str, ...]] = ("personal_details",)

    tenant: str
    centre_id: UUID
    client_kind: str
    age_group: str
    personal_details: dict | None


class ConsultationRecorded(_Intake, Aggregate.Event):
    """One consultation (相談); every one counts in 延べ相談件数, repeat ones included."""

    AGGREGATE: ClassVar[str] = "case"
    SEALED_FIELDS: ClassVar[tuple[str, ...]] = ("summary",)

    consultation_id: UUID
    centre_id: UUID
    channel: str
    consulted_by: str
    occurred_at: datetime
    summary: dict | None
    idempotency_key: str | None


# What a person may ask a supporter for (実施要領 第3 3(2)ア: 訪問支援、情報の提供等).
SUPPORT_NEEDS = ("visit", "interview", "accompanied_outing", "case_meeting", "information", "place")


class SupporterRequested(_Intake, Aggregate.Event):
    """The person (or family) asks for a ひきこもりサポーター; the municipality that runs dispatch
    receives it. Pseudonymous: needs and preferences are codes, never free text."""

    AGGREGATE: ClassVar[str] = "case"

    request_id: UUID
    subject_ref: str
    centre_id: UUID
    municipality: str
    needs: list[str]
    preferences: dict
    requested_on: date


EVENTS: tuple[type[Contract], ...] = (CentreRegistered, CaseOpened, ConsultationRecorded, SupporterRequested)
