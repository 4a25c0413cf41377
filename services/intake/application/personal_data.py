"""Use cases of the person's rights over their data (開示・訂正・利用停止・消去) on a case."""

from __future__ import annotations

from datetime import date
from typing import Any
from uuid import UUID

from libs.platform.store.sealed import sealing
from libs.platform.web.auth import Principal
from services.intake.application.access import staffs_centre
from services.intake.application.cases import CaseUseCases
from services.intake.domain.case import Case
from services.intake.domain.errors import CaseNotFound
from services.intake.domain.rights import RightsRequest


class PersonalDataUseCases(CaseUseCases):
    @sealing
    def correct_personal_details(self, actor: Principal, case_id: UUID, *, personal_details: dict[str, Any],
                                 corrected_on: date) -> Case:
        """訂正: the details as corrected, sealed again under the person's key."""
        return self._change_case(actor, case_id, lambda c: c.correct_details(
            personal_details=self.seal_required(case_id, personal_details, "personal_details"),
            corrected_on=corrected_on))

    def suspend_use(self, actor: Principal, case_id: UUID, *, suspended_on: date) -> Case:
        return self._change_case(actor, case_id, lambda c: c.suspend_use(suspended_on=suspended_on))

    def resume_use(self, actor: Principal, case_id: UUID, *, resumed_on: date) -> Case:
        return self._change_case(actor, case_id, lambda c: c.resume_use(resumed_on=resumed_on))

    def erase_subject(self, actor: Principal, case_id: UUID, *, erased_on: date, basis: str) -> Case:
        """Crypto-shredding: record SubjectErased, then destroy the person's key."""
        case = self.get_case(actor, case_id)
        return self.erase_personal_data(case, lambda c: c.erase(erased_on=erased_on, basis=basis))

    def receive_rights_request(self, actor: Principal, *, case_id: UUID, kind: str, received_on: date,
                               idempotency_key: str | None) -> tuple[RightsRequest, bool]:
        case = self.get_case(actor, case_id)
        creation = self.creation("rights-request", case_id, idempotency_key, kind=kind, received_on=received_on)
        request_id = creation.new_id()
        return self.create_once(RightsRequest, request_id, lambda: RightsRequest.receive(
            id=request_id, tenant=case.tenant, case_id=case.id, centre_id=case.centre_id, kind=kind,
            received_on=received_on), creation)

    def get_rights_request(self, actor: Principal, request_id: UUID) -> RightsRequest:
        request = self.existing(RightsRequest, request_id)
        if request is None or not staffs_centre(actor, request.centre_id):
            raise CaseNotFound(f"no request {request_id} visible to you")
        return request

    def answer_rights_request(self, actor: Principal, request_id: UUID, *, answered_on: date,
                              outcome: str) -> RightsRequest:
        request = self.get_rights_request(actor, request_id)
        self.change(request, lambda r: r.answer(answered_on=answered_on, outcome=outcome))
        return request

    @staticmethod
    def rights_requests_scope(actor: Principal) -> str:
        """The centre whose requests the caller lists: its own, as its staff."""
        actor.require("centre_staff")
        return actor.org
