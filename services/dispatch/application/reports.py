"""Use cases of what happens during a dispatch: the supporter's activity reports (資料8) and the
officer's review of them, guidance, and incidents (reported by either side)."""

from __future__ import annotations

from datetime import date
from uuid import UUID

from libs.platform.store.creating import Created
from libs.platform.store.sealed import sealing
from libs.platform.web.auth import Principal
from services.dispatch.application.access import DispatchAccess
from services.dispatch.domain.dispatch import Dispatch


class ReportUseCases(DispatchAccess):
    @sealing
    def report_activity(self, actor: Principal, dispatch_id: UUID, *, idempotency_key: str | None,
                        reported_on: date, activity_date: date, starts_at: str, ends_at: str, activity_type: str,
                        activity_type_other: str | None, next_step: str, next_step_other: str | None,
                        narrative: dict) -> Created[Dispatch]:
        """Filed by the assigned supporter; the same Idempotency-Key files it once."""
        creation = self.creation("activity-report", dispatch_id, idempotency_key, reported_on=reported_on,
                                 activity_date=activity_date, starts_at=starts_at, ends_at=ends_at,
                                 activity_type=activity_type, activity_type_other=activity_type_other,
                                 next_step=next_step, next_step_other=next_step_other, narrative=narrative)

        def report(d: Dispatch, report_id: UUID) -> None:
            d.report_activity(
                report_id=report_id, supporter_id=UUID(actor.sub), reported_on=reported_on,
                activity_date=activity_date, starts_at=starts_at, ends_at=ends_at, activity_type=activity_type,
                activity_type_other=self._sealed_text(d, activity_type_other), next_step=next_step,
                next_step_other=self._sealed_text(d, next_step_other),
                narrative=self.seal_required(d.id, narrative, "narrative"))

        # Reports commute: a save that lost a race is re-run on the dispatch reloaded.
        return self.create_inside(creation, lambda: self._dispatch_for_supporter(actor, dispatch_id), report,
                                  legacy=lambda d: creation.legacy_in(d.reports), commuting=True)

    def review_report(self, actor: Principal, dispatch_id: UUID, *, report_id: UUID, reviewed_on: date) -> Dispatch:
        dispatch = self._dispatch_for_officer(actor, dispatch_id)
        self.change(dispatch, lambda d: d.review_report(report_id=report_id, reviewed_on=reviewed_on))
        return dispatch

    @sealing
    def give_guidance(self, actor: Principal, dispatch_id: UUID, *, given_by: str, given_on: date,
                      guidance: str) -> Dispatch:
        dispatch = self._dispatch_for_officer(actor, dispatch_id)
        self.change(dispatch, lambda d: d.give_guidance(
            given_by=given_by, given_on=given_on,
            guidance=self.seal_required(d.id, {"guidance": guidance}, "guidance")))
        return dispatch

    @sealing
    def report_incident(self, actor: Principal, dispatch_id: UUID, *, occurred_on: date, severity: str,
                        account: dict, idempotency_key: str | None = None) -> Created[Dispatch]:
        """By the assigned supporter or an officer of the municipality; the account is sealed."""
        creation = self.creation("incident", dispatch_id, idempotency_key, occurred_on=occurred_on, severity=severity,
                                 account=account)
        return self.create_inside(creation, lambda: self._dispatch_for_officer_or_supporter(actor, dispatch_id),
                                  lambda d, incident_id: d.report_incident(
            incident_id=incident_id, occurred_on=occurred_on, severity=severity,
            account=self.seal_required(d.id, account, "account")))
