"""Use cases of a case: opening it, consultations, outreach, support meetings, closing."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any
from uuid import UUID

from libs.domain import intake
from libs.platform.store.application import ServiceApplication
from libs.platform.store.cache import get_many
from libs.platform.store.creating import Created
from libs.platform.store.sealed import sealing
from libs.platform.web.auth import Principal
from services.intake.application.access import staffs_centre
from services.intake.domain.case import Case
from services.intake.domain.centre import Centre
from services.intake.domain.errors import CaseNotFound, InvalidConsultation, UnknownCentre


@dataclass(frozen=True)
class Recorded:
    case: Case
    consultation_id: UUID
    created: bool
    entry: dict[str, Any]  # the consultation, as consultation_entry() gives it


def consultation_entry(e: intake.ConsultationRecorded) -> dict[str, Any]:
    return {"consultation_id": e.consultation_id, "channel": e.channel, "consulted_by": e.consulted_by,
            "occurred_at": e.occurred_at, "summary": e.summary}


class CaseUseCases(ServiceApplication):
    @sealing
    def open_case(self, actor: Principal, *, centre_id: UUID, client_kind: str, age_group: str,
                  residence_municipality: str | None, personal_details: dict[str, Any] | None,
                  idempotency_key: str | None) -> tuple[Case, bool]:
        actor.require("centre_staff")
        centre = self.existing(Centre, centre_id)
        if centre is None or str(centre_id) != actor.org:
            raise UnknownCentre(f"no centre {centre_id} of yours")
        creation = self.creation("case", actor.org, idempotency_key, centre_id=centre_id, client_kind=client_kind,
                                 age_group=age_group, residence_municipality=residence_municipality,
                                 personal_details=personal_details)
        case_id = creation.new_id()
        return self.create_once(Case, case_id, lambda: Case.open(
            id=case_id, tenant=centre.tenant, centre_id=centre_id, client_kind=client_kind, age_group=age_group,
            residence_municipality=residence_municipality, personal_details=self.seal(case_id, personal_details)),
            creation)

    def get_case(self, actor: Principal, case_id: UUID) -> Case:
        """The case, for whoever may see it; to anyone else it does not exist (404)."""
        case = self.existing(Case, case_id)
        if case is None or not self._sees_case(actor, case):
            raise CaseNotFound(f"no case {case_id} visible to you")
        return case

    def get_cases(self, actor: Principal, case_ids: Iterable[UUID]) -> dict[UUID, Case | CaseNotFound]:
        """Many cases at once (store/cache.get_many: two statements at most), each as get_case gives
        it: a case the caller may not see is CaseNotFound, like one that does not exist."""
        ids = list(dict.fromkeys(case_ids))
        found = get_many(self.repository, ids)
        return {i: case if isinstance(case := found.get(i), Case) and self._sees_case(actor, case)
                else CaseNotFound(f"no case {i} visible to you") for i in ids}

    def case_timeline(self, actor: Principal, case_id: UUID) -> list[dict[str, Any]]:
        """Every event of the case, sealed fields opened."""
        self.get_case(actor, case_id)
        return self.history(case_id, opened=True)

    @sealing  # the summary sealed with the case's key from the cache, checked by the save
    def record_consultation(self, actor: Principal, case_id: UUID, *, expected_version: int | None,
                            channel: str, consulted_by: str, occurred_at: datetime,
                            summary: str | None, idempotency_key: str | None) -> Recorded:
        creation = self.creation("consultation", case_id, idempotency_key, channel=channel, consulted_by=consulted_by,
                                 occurred_at=occurred_at, summary=summary)
        entry: dict[str, Any] = {}

        def record(case: Case, consultation_id: UUID) -> None:
            entry.update(consultation_id=consultation_id, channel=channel, consulted_by=consulted_by,
                         occurred_at=occurred_at, summary=self.seal(case_id, summary))
            case.record_consultation(**entry)

        # Appending commutes: a save that lost a race without If-Match is re-run on the case reloaded.
        made = self.create_inside(creation, lambda: self.get_case(actor, case_id), record,
                                  legacy=lambda c: c.consultation_of_key(creation.key),
                                  expected_version=expected_version, commuting=True)
        if not made.created:
            entry = self.consultation(made.aggregate, made.resource_id) or {}
        return Recorded(made.aggregate, made.resource_id, made.created, entry)

    def consultation(self, case: Case, consultation_id: UUID) -> dict[str, Any] | None:
        """One consultation of the case, from its event (the case keeps only their count)."""
        e = self.created_event(case.id, consultation_id, intake.ConsultationRecorded, "consultation_id")
        return consultation_entry(e) if e is not None else None

    def consultations(self, actor: Principal, case_id: UUID) -> tuple[Case, list[dict[str, Any]]]:
        case = self.get_case(actor, case_id)
        return case, [consultation_entry(e) for e in self.events.get(case_id)
                      if isinstance(e, intake.ConsultationRecorded)]

    def void_consultation(self, actor: Principal, case_id: UUID, consultation_id: UUID, *, voided_on: date,
                          reason: str) -> Case:
        case = self.get_case(actor, case_id)
        if self.consultation(case, consultation_id) is None:
            raise InvalidConsultation(f"no consultation {consultation_id} on this case")
        self.change(case, lambda c: c.void_consultation(consultation_id=consultation_id, voided_on=voided_on,
                                                       reason=reason))
        return case

    @sealing
    def record_outreach_visit(self, actor: Principal, case_id: UUID, *, expected_version: int | None,
                              staff_role: str, occurred_at: datetime, summary: str | None,
                              idempotency_key: str | None = None) -> Created[Case]:
        creation = self.creation("outreach-visit", case_id, idempotency_key, staff_role=staff_role,
                                 occurred_at=occurred_at, summary=summary)
        return self.create_inside(creation, lambda: self.get_case(actor, case_id), lambda c, visit_id: (
            c.record_outreach_visit(visit_id=visit_id, staff_role=staff_role, occurred_at=occurred_at,
                                    summary=self.seal(case_id, summary))), expected_version=expected_version)

    @sealing
    def hold_support_meeting(self, actor: Principal, case_id: UUID, *, held_on: date, agency_ids: list[UUID],
                             note: str | None, idempotency_key: str | None = None) -> Created[Case]:
        creation = self.creation("support-meeting", case_id, idempotency_key, held_on=held_on,
                                 agency_ids=sorted(str(a) for a in agency_ids), note=note)
        return self.create_inside(creation, lambda: self.get_case(actor, case_id), lambda c, meeting_id: (
            c.hold_meeting(meeting_id=meeting_id, held_on=held_on, agency_ids=[str(a) for a in agency_ids],
                           note=self.seal(case_id, note))))

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
