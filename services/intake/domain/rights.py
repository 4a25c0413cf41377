"""RightsRequest: a person's request about their data — 開示・訂正・利用停止・消去 (APPI 第33条〜第35条)
— received by the centre, with a deadline, until answered."""

from __future__ import annotations

from datetime import date, timedelta
from uuid import UUID

from eventsourcing.domain import Aggregate, event

from libs.domain import intake
from services.intake.domain.errors import InvalidRightsRequest, WrongCaseStatus


class RightsRequest(Aggregate):
    RightsRequestReceived = intake.RightsRequestReceived
    RightsRequestAnswered = intake.RightsRequestAnswered

    @event(RightsRequestReceived)
    def __init__(self, id: UUID, tenant: str, case_id: UUID, centre_id: UUID, kind: str,
                 received_on: date, due_on: date) -> None:
        self.tenant = tenant
        self.case_id = case_id
        self.centre_id = centre_id
        self.kind = kind
        self.received_on = received_on
        self.due_on = due_on
        self.answered_on: date | None = None
        self.outcome: str | None = None

    @classmethod
    def receive(cls, *, id: UUID, tenant: str, case_id: UUID, centre_id: UUID, kind: str,
                received_on: date) -> RightsRequest:
        if kind not in intake.RIGHTS_KINDS:
            raise InvalidRightsRequest(f"kind must be one of {intake.RIGHTS_KINDS}")
        return cls(id=id, tenant=tenant, case_id=case_id, centre_id=centre_id, kind=kind, received_on=received_on,
                   due_on=received_on + timedelta(days=intake.RIGHTS_DEADLINE_DAYS))

    def answer(self, *, answered_on: date, outcome: str) -> None:
        if self.answered_on is not None:
            raise WrongCaseStatus("the request was answered already")
        if outcome not in intake.RIGHTS_OUTCOMES:
            raise InvalidRightsRequest(f"outcome must be one of {intake.RIGHTS_OUTCOMES}")
        if answered_on < self.received_on:
            raise InvalidRightsRequest("the answer cannot precede the request")
        self._answered(answered_on=answered_on, outcome=outcome)

    @event(RightsRequestAnswered)
    def _answered(self, answered_on: date, outcome: str) -> None:
        self.answered_on = answered_on
        self.outcome = outcome

    def overdue(self, today: date) -> bool:
        return self.answered_on is None and today > self.due_on
