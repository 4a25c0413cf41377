"""Reads over intake's read models. Each applies the access rule of what it lists, then brings
the read models up to the service's log (a read after a write sees it), then queries."""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING
from uuid import UUID

from sqlalchemy import Engine

from libs.domain.fiscal import JST, fiscal_year
from libs.platform.privacy.receipts import consent_receipt
from libs.platform.privacy.records import stored_consent_record
from libs.platform.web.auth import Principal
from services.intake import queries
from services.intake.application import IntakeApplication
from services.intake.domain.errors import CaseNotFound

if TYPE_CHECKING:
    from libs.platform.runtime import Runtime


class IntakeReads:
    def __init__(self, runtime: Runtime) -> None:
        self._runtime = runtime
        self._intake: IntakeApplication = runtime.application

    def _caught_up(self) -> Engine:
        self._runtime.catch_up()
        return self._runtime.engine

    def workload(self, actor: Principal, centre_id: UUID, *, fy: int | None) -> dict:
        centre = self._intake.get_centre(actor, centre_id)
        return queries.workload(self._caught_up(), str(centre.id), fy or fiscal_year(datetime.now(JST)))

    def open_referrals(self, actor: Principal, centre_id: UUID) -> list[dict]:
        centre = self._intake.get_centre(actor, centre_id)
        return queries.open_referrals(self._caught_up(), str(centre.id))

    def consent_receipt(self, actor: Principal, case_id: UUID, consent_id: UUID) -> dict:
        """A signed consent receipt (Kantara v1.1 / ISO/IEC TS 27560) of a consent on a case the
        caller sees."""
        case = self._intake.get_case(actor, case_id)
        record = stored_consent_record(self._caught_up(), str(consent_id))
        if record is None or record["aggregate_id"] != str(case.id):
            raise CaseNotFound(f"no consent {consent_id} on this case")
        return consent_receipt(self._runtime.require_audit(), consent_id=str(consent_id), subject=str(case.id),
                               given_at=record["given_at"], withdrawn_at=record["withdrawn_at"],
                               record=record["data"]["record"], tenant=case.tenant)

    def backups(self, actor: Principal, *, kind: str | None, after: str | None, limit: int) -> list[dict]:
        scope = self._intake.backup_scope(actor)
        return queries.backups_of(self._caught_up(), **scope, kind=kind, after=after, limit=limit)

    def agencies(self, actor: Principal, *, category: str | None, retired: bool | None, after: str | None,
                 limit: int) -> list[dict]:
        jurisdiction = self._intake.agency_list_scope(actor)
        return queries.agencies_within(self._caught_up(), jurisdiction, category=category, retired=retired,
                                       after=after, limit=limit)

    def rights_requests(self, actor: Principal, *, open_only: bool) -> list[dict]:
        centre = self._intake.rights_requests_scope(actor)
        return queries.rights_requests_of(self._caught_up(), centre, open_only=open_only,
                                          today=datetime.now(JST).date())

    # -- the public directory: no caller, no personal data --------------------------------------
    def directory_position(self) -> int:
        """The read models' position in the log once caught up: what every directory answer is
        derived from, hence its ETag. Asked first, so a 304 touches no table."""
        self._runtime.catch_up()
        follower = self._runtime.followers[0]
        return follower.handler.position(follower.stream)

    def directory_centres(self, municipality: str | None) -> list[dict]:
        return queries.directory_centres(self._runtime.engine, municipality)

    def directory_agencies(self, *, category: str | None, municipality: str | None) -> list[dict]:
        return queries.directory_agencies(self._runtime.engine, category=category, municipality=municipality)

    def directory_places(self, municipality: str | None) -> list[dict]:
        return queries.directory_places(self._runtime.engine, municipality)
