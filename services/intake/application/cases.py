"""Use cases of a case: opening it, consultations, outreach, support meetings, closing."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any
from uuid import UUID, uuid4

from libs.platform.store.application import ServiceApplication, new_id
from libs.platform.web.auth import Principal
from services.intake.application.access import staffs_centre
from services.intake.domain.case import Case
from services.intake.domain.centre import Centre
from services.intake.domain.errors import CaseNotFound, UnknownCentre


@dataclass(frozen=True)
class Recorded:
    case: Case
    consultation_id: UUID
    created: bool


class CaseUseCases(ServiceApplication):
    def open_case(self, actor: Principal, *, centre_id: UUID, client_kind: str, age_group: str,
                  residence_municipality: str | None, personal_details: dict[str, Any] | None,
                  idempotency_key: str | None) -> tuple[Case, bool]:
        actor.require("centre_staff")
        centre = self.existing(Centre, centre_id)
        if centre is None or str(centre_id) != actor.org:
            raise UnknownCentre(f"no centre {centre_id} of yours")
        case_id = new_id("case", actor.org, idempotency_key)
        return self.create_once(Case, case_id, lambda: Case.open(
            id=case_id, tenant=centre.tenant, centre_id=centre_id, client_kind=client_kind, age_group=age_group,
            residence_municipality=residence_municipality, personal_details=self.seal(case_id, personal_details)))

    def get_case(self, actor: Principal, case_id: UUID) -> Case:
        """The case, for whoever may see it; to anyone else it does not exist (404)."""
        case = self.existing(Case, case_id)
        if case is None or not self._sees_case(actor, case):
            raise CaseNotFound(f"no case {case_id} visible to you")
        return case

    def case_timeline(self, actor: Principal, case_id: UUID) -> list[dict[str, Any]]:
        """Every event of the case, sealed fields opened."""
        self.get_case(actor, case_id)
        return self.history(case_id, opened=True)

    def record_consultation(self, actor: Principal, case_id: UUID, *, expected_version: int | None,
                            channel: str, consulted_by: str, occurred_at: datetime,
                            summary: str | None, idempotency_key: str | None) -> Recorded:
        client_key = self.client_key(idempotency_key)

        def record(case: Case) -> Recorded:
            if (done := case.consultation_of_key(client_key)) is not None:
                return Recorded(case, done, created=False)  # a retry, or the same key won a race
            return Recorded(case, case.record_consultation(
                consultation_id=uuid4(), channel=channel, consulted_by=consulted_by, occurred_at=occurred_at,
                summary=self.seal(case_id, summary), idempotency_key=client_key), created=True)

        # The case loaded once: a busy case's load is most of the cost of a consultation. Appending
        # commutes: a save that lost a race without If-Match is re-run on the case reloaded.
        case = self.get_case(actor, case_id)
        if (done := case.consultation_of_key(client_key)) is not None:
            return Recorded(case, done, created=False)
        return self.change(case, record, expected_version=expected_version,
                           reload=lambda: self.get_case(actor, case_id))

    def void_consultation(self, actor: Principal, case_id: UUID, consultation_id: UUID, *, voided_on: date,
                          reason: str) -> Case:
        return self._change_case(actor, case_id, lambda c: c.void_consultation(
            consultation_id=consultation_id, voided_on=voided_on, reason=reason))

    def record_outreach_visit(self, actor: Principal, case_id: UUID, *, expected_version: int | None,
                              staff_role: str, occurred_at: datetime, summary: str | None) -> Case:
        return self._change_case(actor, case_id, lambda c: c.record_outreach_visit(
            visit_id=uuid4(), staff_role=staff_role, occurred_at=occurred_at, summary=self.seal(case_id, summary)),
            expected_version=expected_version)

    def hold_support_meeting(self, actor: Principal, case_id: UUID, *, held_on: date, agency_ids: list[UUID],
                             note: str | None) -> Case:
        return self._change_case(actor, case_id, lambda c: c.hold_meeting(
            meeting_id=uuid4(), held_on=held_on, agency_ids=[str(a) for a in agency_ids],
            note=self.seal(case_id, note)))

    def close_case(self, actor: Principal, case_id: UUID, *, expected_version: int | None, reason: str,
                   closed_on: date) -> Case:
        return self._change_case(actor, case_id, lambda c: c.close(reason=reason, closed_on=closed_on),
                                 expected_version=expected_version)

    def reopen_case(self, actor: Principal, case_id: UUID, *, reopened_on: date) -> Case:
        return self._change_case(actor, case_id, lambda c: c.reopen(reopened_on=reopened_on))

    def _change_case(self, actor: Principal, case_id: UUID, command: Callable[[Case], Any], *,
                     expected_version: int | None = None) -> Case:
        """A command on a case the caller sees. Anything sealed is sealed inside `command`: after
        the If-Match check, so a refused request writes not even a key."""
        case = self.get_case(actor, case_id)
        self.change(case, command, expected_version=expected_version)
        return case

    def _sees_case(self, actor: Principal, case: Case) -> bool:
        if staffs_centre(actor, case.centre_id):
            return True
        if actor.has("municipal_officer") and actor.org == case.tenant:
            centre = self.existing(Centre, case.centre_id)
            return centre is not None and centre.site == "window"
        return False
