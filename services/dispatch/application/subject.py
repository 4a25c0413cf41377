"""Use cases of the person's data on a dispatch: details (sealed under the dispatch's own key),
consent (資料7) and its receipt, disclosure to the supporter, correction (訂正) and erasure."""

from __future__ import annotations

from datetime import UTC, date, datetime
from uuid import UUID, uuid4

from libs.platform.store.sealed import sealing
from libs.platform.web.auth import Principal
from services.dispatch.application.access import DispatchAccess
from services.dispatch.application.base import today_jst
from services.dispatch.domain.dispatch import Dispatch
from services.dispatch.domain.errors import ConsentReceiptNotFound, SupporterNotEligible


class SubjectUseCases(DispatchAccess):
    @sealing
    def record_subject_details(self, actor: Principal, dispatch_id: UUID, *, details: dict,
                               expected_version: int | None) -> Dispatch:
        dispatch = self._dispatch_for_officer(actor, dispatch_id)
        # Sealed inside the command: no key is made for a dispatch the caller may not act on.
        self.change(dispatch, lambda d: d.record_subject_details(details=self.seal_required(d.id, details, "details")),
                    expected_version=expected_version)
        return dispatch

    @sealing
    def correct_subject_details(self, actor: Principal, dispatch_id: UUID, *, details: dict,
                                corrected_on: date) -> Dispatch:
        """訂正, also after the dispatch ended (until the details are erased)."""
        dispatch = self._dispatch_for_officer(actor, dispatch_id)
        self.change(dispatch, lambda d: d.correct_subject_details(
            details=self.seal_required(d.id, details, "details"), corrected_on=corrected_on))
        return dispatch

    def record_subject_consent(self, actor: Principal, dispatch_id: UUID, *, given_by: str, items: list[str],
                               support_meetings: bool, costs_self_paid: bool, signed_on: date,
                               expected_version: int | None) -> Dispatch:
        dispatch = self._dispatch_for_officer(actor, dispatch_id)
        self.change(dispatch, lambda d: d.record_subject_consent(
            consent_id=uuid4(), given_by=given_by, items=items, support_meetings=support_meetings,
            costs_self_paid=costs_self_paid, signed_on=signed_on), expected_version=expected_version)
        return dispatch

    def subject_consent_receipt(self, actor: Principal, dispatch_id: UUID) -> dict:
        """The signed receipt of the person's consent (資料7), for the municipality to hand over."""
        dispatch = self._dispatch_record_for_officer(actor, dispatch_id)
        record = self.reads.subject_consent(dispatch.subject_ref, dispatch.id)
        if record is None:
            raise ConsentReceiptNotFound("the person has not consented on this dispatch")
        return self.reads.signed_receipt(
            consent_id=record["consent_id"], subject=dispatch.subject_ref, given_at=record["given_at"],
            withdrawn_at=record["withdrawn_at"], record=record["data"]["record"], tenant=dispatch.tenant,
            recipients=[str(dispatch.supporter_id)] if dispatch.supporter_id else [])

    def withdraw_subject_consent(self, actor: Principal, dispatch_id: UUID, *, withdrawn_on: date) -> Dispatch:
        dispatch = self._dispatch_for_officer(actor, dispatch_id)
        self.change(dispatch, lambda d: d.withdraw_subject_consent(withdrawn_on=withdrawn_on))
        return dispatch

    def disclose(self, actor: Principal, dispatch_id: UUID) -> tuple[Dispatch, dict]:
        """The supporter reads the person's details: only consented items, each time recorded."""
        dispatch = self._dispatch_for_supporter(actor, dispatch_id)
        problems = self._supporter_problems(dispatch.tenant, dispatch.supporter_id, today_jst())
        if problems:  # e.g. the supporter's 利用停止 or an ended registration the sweep has not ended yet
            raise SupporterNotEligible("the supporter may not receive the person's details now", reasons=problems)
        items = self.change(dispatch, lambda d: d.disclose_to_supporter(
            supporter_id=UUID(actor.sub), disclosed_at=datetime.now(UTC)))
        opened = self.sealer.open(dispatch.details) if dispatch.details else {}
        if not isinstance(opened, dict):
            return dispatch, {}
        return dispatch, {k: v for k, v in opened.items() if k in items}

    def erase_subject(self, actor: Principal, dispatch_id: UUID, *, erased_on: date, basis: str) -> Dispatch:
        """Record SubjectDataErased, then destroy this dispatch's key (repeatable if that step failed).
        Each dispatch seals under its own key, so erasing one never touches another dispatch of the
        same person, here or in another municipality."""
        dispatch = self._dispatch_for_officer(actor, dispatch_id)
        return self.erase_personal_data(dispatch, lambda d: d.erase(erased_on=erased_on, basis=basis))

    def follow_source_erasure(self, dispatch_ids: list[UUID], *, source: str, cause_event_id: str,
                              erased_at_source_on: date) -> list[Dispatch]:
        """The person's data was erased (on their request) at the service that referred them: the
        rule of README "Erasure across services". An ended dispatch is erased here and now (its
        key destroyed; SubjectDataErased names the cause); a running one, or one with an incident
        reported, gets 消去の通知 and the municipality decides. Returns the dispatches noticed,
        for the caller to save with the upstream position; erasures are saved (then the key
        forgotten) here, in that order. Idempotent: a redelivered event finds them erased or
        noticed already."""
        noticed = []
        today = today_jst()
        for dispatch_id in dispatch_ids:
            dispatch = self.existing(Dispatch, dispatch_id)
            if dispatch is None:
                continue
            if dispatch.erased_with_the_source():
                self.erase_personal_data(dispatch, lambda d: d.erase(
                    erased_on=max(today, d.ended_on or today), basis="request_granted",
                    cause=f"erased_at_{source}", cause_event_id=cause_event_id))
            elif dispatch.notice_source_erasure(source=source, cause_event_id=cause_event_id,
                                                erased_at_source_on=erased_at_source_on, notified_on=today):
                noticed.append(dispatch)
        return noticed
