"""Case: a consultation case (相談) of a person (本人), their family (家族) or an agency (関係機関).

000 §2 (1) 相談支援: the centre answers consultations by phone, visit and mail and visits homes
(訪問支援). Every consultation counts in 延べ相談件数 (001, 活動指標), repeat ones included.
"""

from __future__ import annotations

from datetime import date, datetime, timedelta, timezone
from uuid import UUID

from eventsourcing.domain import Aggregate, event

from libs.domain import intake
from libs.domain.codes import validate_lg_code
from services.intake.domain.errors import InvalidCase, InvalidConsultation

# Clocks of portals drift; a consultation "in the future" beyond this is a typo.
CLOCK_SKEW = timedelta(minutes=10)


class Case(Aggregate):
    CaseOpened = intake.CaseOpened
    ConsultationRecorded = intake.ConsultationRecorded
    SupporterRequested = intake.SupporterRequested

    @event(CaseOpened)
    def __init__(  # noqa: PLR0913
        self, id: UUID, tenant: str, centre_id: UUID, client_kind: str, age_group: str,  # noqa: A002
        personal_details: dict | None,
    ) -> None:
        self.tenant = tenant
        self.centre_id = centre_id
        self.client_kind = client_kind
        self.age_group = age_group
        self.personal_details = personal_details
        self.consultations: list[dict] = []
        self.idempotency_keys: dict[str, UUID] = {}
        self.supporter_requests: dict[UUID, str] = {}  # request id → municipality

    @classmethod
    def open(cls, *, id: UUID, tenant: str, centre_id: UUID, client_kind: str, age_group: str,  # noqa: A002
             personal_details: dict | None) -> Case:
        if client_kind not in intake.CLIENT_KINDS:
            raise InvalidCase(f"client_kind must be one of {intake.CLIENT_KINDS}")
        if age_group not in intake.AGE_GROUPS:
            raise InvalidCase(f"age_group must be one of {intake.AGE_GROUPS}")
        return cls(id=id, tenant=tenant, centre_id=centre_id, client_kind=client_kind,
                   age_group=age_group, personal_details=personal_details)

    def record_consultation(self, *, consultation_id: UUID, channel: str, consulted_by: str,
                            occurred_at: datetime, summary: dict | None,
                            idempotency_key: str | None) -> UUID:
        """Record one consultation; a repeated Idempotency-Key returns the first one's id."""
        if idempotency_key and idempotency_key in self.idempotency_keys:
            return self.idempotency_keys[idempotency_key]
        if channel not in intake.CHANNELS:
            raise InvalidConsultation(f"channel must be one of {intake.CHANNELS}")
        if consulted_by not in intake.CLIENT_KINDS:
            raise InvalidConsultation(f"consulted_by must be one of {intake.CLIENT_KINDS}")
        if occurred_at.tzinfo is None:
            raise InvalidConsultation("occurred_at needs a timezone (e.g. +09:00)")
        if occurred_at > datetime.now(timezone.utc) + CLOCK_SKEW:
            raise InvalidConsultation("occurred_at is in the future")
        self._record_consultation(
            consultation_id=consultation_id, centre_id=self.centre_id, channel=channel,
            consulted_by=consulted_by, occurred_at=occurred_at, summary=summary,
            idempotency_key=idempotency_key,
        )
        return consultation_id

    @event(ConsultationRecorded)
    def _record_consultation(  # noqa: PLR0913
        self, consultation_id: UUID, centre_id: UUID, channel: str, consulted_by: str,
        occurred_at: datetime, summary: dict | None, idempotency_key: str | None,
    ) -> None:
        self.consultations.append({
            "consultation_id": consultation_id, "channel": channel, "consulted_by": consulted_by,
            "occurred_at": occurred_at, "summary": summary,
        })
        if idempotency_key:
            self.idempotency_keys[idempotency_key] = consultation_id

    def request_supporter(self, *, request_id: UUID, municipality: str, needs: list[str],
                          preferences: dict[str, str], requested_on: date) -> None:
        validate_lg_code(municipality)
        unknown = set(needs) - set(intake.SUPPORT_NEEDS)
        if not needs or unknown:
            raise InvalidCase(f"needs must be some of {intake.SUPPORT_NEEDS}")
        if request_id in self.supporter_requests:
            return
        self._request_supporter(request_id=request_id, subject_ref=str(self.id), centre_id=self.centre_id,
                                municipality=municipality,
                                needs=sorted(set(needs)), preferences=preferences, requested_on=requested_on)

    @event(SupporterRequested)
    def _request_supporter(self, request_id: UUID, subject_ref: str, centre_id: UUID, municipality: str,
                           needs: list[str],
                           preferences: dict, requested_on: date) -> None:
        self.supporter_requests[request_id] = municipality
