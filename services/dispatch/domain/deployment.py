"""Deployment: a registered supporter sent to a place or a programme, not to a person.

ひきこもりサポート事業 (seeds/001): 「訪問支援や居場所運営等へのサポーター派遣」; seeds/003: サポーター
の活動及び役割は「支援機関が行う支援施策への協力」. The supporter must be eligible exactly as for a
派遣 to a person (current registration, roster provided to this municipality, intent re-confirmed
— 実施要領 第3 3(2)イ); no person's data changes hands, so no subject consent (資料7) is asked.
Its activity reports count as ひきこもりサポーターの活動件数, by kind of target.
"""

from __future__ import annotations

from datetime import date
from uuid import UUID

from eventsourcing.domain import Aggregate, event

from libs.domain import dispatch as contracts
from services.dispatch.domain.errors import (
    DispatchNotActive,
    DispatchNotReady,
    InvalidDispatchInput,
    WrongDispatchStatus,
)


class Deployment(Aggregate):
    SupporterDeployed = contracts.SupporterDeployed
    DeploymentAccepted = contracts.DeploymentAccepted
    DeploymentActivityReported = contracts.DeploymentActivityReported
    DeploymentEnded = contracts.DeploymentEnded

    @event(SupporterDeployed)
    def __init__(self, id: UUID, tenant: str, supporter_id: UUID, registration_number: str,
                 roster_entry_id: UUID, target_kind: str, target_id: UUID, target_name: str, role: str,
                 starts_on: date, ends_on: date | None) -> None:
        self.tenant = tenant
        self.supporter_id = supporter_id
        self.registration_number = registration_number
        self.target_kind = target_kind
        self.target_id = target_id
        self.target_name = target_name
        self.role = role
        self.starts_on = starts_on
        self.ends_on = ends_on
        self.status = "planned"
        self.accepted_on: date | None = None
        self.reports: set[UUID] = set()
        self.end_reason: str | None = None

    @classmethod
    def deploy(cls, *, id: UUID, tenant: str, supporter_id: UUID, registration_number: str,
               roster_entry_id: UUID, target_kind: str, target_id: UUID, target_name: str, role: str,
               starts_on: date, ends_on: date | None) -> Deployment:
        """The caller has checked the supporter's roster entry (RosterEntry.eligibility_problems)."""
        if target_kind not in contracts.DEPLOYMENT_TARGETS:
            raise InvalidDispatchInput(f"target_kind must be one of {contracts.DEPLOYMENT_TARGETS}")
        if role not in contracts.DEPLOYMENT_ROLES:
            raise InvalidDispatchInput(f"role must be one of {contracts.DEPLOYMENT_ROLES}")
        if ends_on is not None and ends_on < starts_on:
            raise InvalidDispatchInput("ends_on is before starts_on")
        return cls(id=id, tenant=tenant, supporter_id=supporter_id, registration_number=registration_number,
                   roster_entry_id=roster_entry_id, target_kind=target_kind, target_id=target_id,
                   target_name=target_name, role=role, starts_on=starts_on, ends_on=ends_on)

    def accept(self, *, supporter_id: UUID, accepted_on: date, supporter_problems: list[str]) -> None:
        self._require_supporter(supporter_id)
        if self.status == "active":
            return  # a retry of the acceptance
        self._require("planned")
        if supporter_problems:
            raise DispatchNotReady(f"the supporter may not act: {', '.join(supporter_problems)}",
                                   missing=[f"supporter_eligible: {p}" for p in supporter_problems])
        self._accepted(supporter_id=supporter_id, accepted_on=accepted_on)

    @event(DeploymentAccepted)
    def _accepted(self, supporter_id: UUID, accepted_on: date) -> None:
        self.status = "active"
        self.accepted_on = accepted_on

    def report_activity(self, *, report_id: UUID, supporter_id: UUID, reported_on: date, activity_date: date,
                        starts_at: str, ends_at: str, participants: int | None, narrative: dict) -> None:
        self._require_supporter(supporter_id)
        if report_id in self.reports:
            return  # a retry of a report already filed
        if self.status != "active":
            raise DispatchNotActive(f"activity reports are filed only while the deployment runs (it is {self.status})")
        if activity_date < self.starts_on or (self.ends_on is not None and activity_date > self.ends_on):
            raise InvalidDispatchInput("the activity date is outside the deployment's period")
        if ends_at <= starts_at:
            raise InvalidDispatchInput("ends_at must be after starts_at")
        if reported_on < activity_date:
            raise InvalidDispatchInput("reported_on is before the activity")
        if participants is not None and participants < 0:
            raise InvalidDispatchInput("participants cannot be negative")
        self._reported(report_id=report_id, supporter_id=supporter_id, reported_on=reported_on,
                       activity_date=activity_date, starts_at=starts_at, ends_at=ends_at,
                       participants=participants, narrative=narrative)

    @event(DeploymentActivityReported)
    def _reported(self, report_id: UUID, supporter_id: UUID, reported_on: date, activity_date: date,
                  starts_at: str, ends_at: str, participants: int | None, narrative: dict) -> None:
        self.reports.add(report_id)

    def end(self, *, reason: str, ended_on: date, cause_event_id: str | None = None) -> bool:
        """End the deployment; False (and nothing recorded) when it had ended already."""
        if reason not in contracts.DEPLOYMENT_END_REASONS:
            raise InvalidDispatchInput(f"reason must be one of {contracts.DEPLOYMENT_END_REASONS}")
        if self.status == "ended":
            return False
        self._ended(reason=reason, ended_on=ended_on, supporter_id=self.supporter_id, cause_event_id=cause_event_id)
        return True

    @event(DeploymentEnded)
    def _ended(self, reason: str, ended_on: date, supporter_id: UUID, cause_event_id: str | None) -> None:
        self.status = "ended"
        self.end_reason = reason

    def _require(self, *statuses: str) -> None:
        if self.status not in statuses:
            raise WrongDispatchStatus(f"the deployment is {self.status}; this needs {' or '.join(statuses)}",
                                      current_status=self.status)

    def _require_supporter(self, supporter_id: UUID) -> None:
        if self.supporter_id != supporter_id:
            raise WrongDispatchStatus("only the deployed supporter may do this")
