"""The intake Application: commands in, events out. Scoping by the caller's org lives here."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime
from typing import Any
from uuid import UUID, uuid4

from libs.domain.errors import VersionMismatch
from libs.platform.application import ServiceApplication, new_id
from libs.platform.auth import NotAllowed, Principal
from services.intake.domain.case import Case
from services.intake.domain.centre import Centre
from services.intake.domain.errors import CaseNotFound, UnknownCentre


@dataclass(frozen=True)
class Recorded:
    case: Case
    consultation_id: UUID
    created: bool


class IntakeApplication(ServiceApplication):
    name = "intake"
    # A case collects every consultation: snapshots keep loading it cheap as it grows.
    snapshotting_intervals = {Case: 50}

    # -- centres ----------------------------------------------------------------------------
    def register_centre(self, actor: Principal, *, tenant: str, name: str, kind: str, site: str,
                        idempotency_key: str | None) -> tuple[Centre, bool]:
        actor.require("prefecture_officer")
        if actor.org != tenant:
            raise NotAllowed("a prefecture or designated city registers only its own centres")
        centre_id = new_id("centre", actor.org, idempotency_key)
        existing = self.existing(Centre, centre_id)
        if existing is not None:
            return existing, False
        centre = Centre.register(id=centre_id, tenant=tenant, name=name, kind=kind, site=site)
        return self.save_new(centre), True

    def get_centre(self, actor: Principal, centre_id: UUID) -> Centre:
        centre = self.existing(Centre, centre_id)
        if centre is None or not _sees_centre(actor, centre):
            raise UnknownCentre(f"no centre {centre_id} visible to you")
        return centre

    # -- cases ------------------------------------------------------------------------------
    def open_case(self, actor: Principal, *, centre_id: UUID, client_kind: str, age_group: str,
                  personal_details: dict[str, Any] | None,
                  idempotency_key: str | None) -> tuple[Case, bool]:
        actor.require("centre_staff")
        centre = self.existing(Centre, centre_id)
        if centre is None or str(centre_id) != actor.org:
            raise UnknownCentre(f"no centre {centre_id} of yours")
        case_id = new_id("case", actor.org, idempotency_key)
        existing = self.existing(Case, case_id)
        if existing is not None:
            return existing, False
        sealed = self.sealer.seal(str(case_id), personal_details) if personal_details else None
        case = Case.open(id=case_id, tenant=centre.tenant, centre_id=centre_id,
                         client_kind=client_kind, age_group=age_group, personal_details=sealed)
        return self.save_new(case), True

    def get_case(self, actor: Principal, case_id: UUID) -> Case:
        case = self.existing(Case, case_id)
        if case is None or not (actor.has("centre_staff") and actor.org == str(case.centre_id)):
            raise CaseNotFound(f"no case {case_id} visible to you")
        return case

    def record_consultation(self, actor: Principal, case_id: UUID, *, expected_version: int | None,
                            channel: str, consulted_by: str, occurred_at: datetime,
                            summary: str | None, idempotency_key: str | None) -> Recorded:
        case = self.get_case(actor, case_id)
        if idempotency_key and idempotency_key in case.idempotency_keys:
            return Recorded(case, case.idempotency_keys[idempotency_key], created=False)
        if expected_version is not None and expected_version != case.version:
            raise VersionMismatch(f"case is at version {case.version}, not {expected_version}")
        consultation_id = uuid4()
        sealed = self.sealer.seal(str(case_id), summary) if summary else None
        case.record_consultation(
            consultation_id=consultation_id, channel=channel, consulted_by=consulted_by,
            occurred_at=occurred_at, summary=sealed, idempotency_key=idempotency_key,
        )
        self.save(case)
        return Recorded(case, consultation_id, created=True)


    def request_supporter(self, actor: Principal, case_id: UUID, *, municipality: str, needs: list[str],
                          preferences: dict[str, str], requested_on: date,
                          idempotency_key: str | None) -> tuple[Case, UUID]:
        case = self.get_case(actor, case_id)
        request_id = new_id("supporter-request", str(case_id), idempotency_key)
        case.request_supporter(request_id=request_id, municipality=municipality, needs=needs,
                               preferences=preferences, requested_on=requested_on)
        self.save(case)
        return case, request_id


def _sees_centre(actor: Principal, centre: Centre) -> bool:
    if actor.has("centre_staff") and actor.org == str(centre.id):
        return True
    return actor.has("prefecture_officer") and actor.org == centre.tenant
