"""Use cases of centres (ひきこもり地域支援センター) and of the agency directory (関係機関)."""

from __future__ import annotations

from datetime import date
from uuid import UUID

from libs.domain.codes import validate_lg_code, within
from libs.platform.store.application import ServiceApplication
from libs.platform.store.creating import Created
from libs.platform.store.sealed import sealing
from libs.platform.web.auth import NotAllowed, Principal
from services.intake.application.access import (
    OFFICERS,
    removes_listing,
    require_jurisdiction,
    runs_centre,
    sees_centre,
)
from services.intake.domain.agency import Agency
from services.intake.domain.centre import Centre
from services.intake.domain.errors import UnknownAgency, UnknownCentre


class CentreUseCases(ServiceApplication):
    def register_centre(self, actor: Principal, *, tenant: str, name: str, kind: str, site: str,
                        idempotency_key: str | None, opened_on: date | None = None,
                        closed_on: date | None = None, demo: bool = False) -> tuple[Centre, bool]:
        actor.require("municipal_officer" if site == "window" else "prefecture_officer")
        if actor.org != tenant:
            raise NotAllowed("a local government registers only its own centres and windows")
        creation = self.creation("centre", actor.org, idempotency_key, tenant=tenant, name=name, kind=kind, site=site,
                                 opened_on=opened_on, closed_on=closed_on, demo=demo)
        centre_id = creation.new_id()
        return self.create_once(Centre, centre_id, lambda: Centre.register(
            id=centre_id, tenant=tenant, name=name, kind=kind, site=site, opened_on=opened_on, closed_on=closed_on,
            demo=demo), creation)

    def change_centre_dates(self, actor: Principal, centre_id: UUID, *, opened_on: date,
                            closed_on: date | None) -> Centre:
        centre = self._centre_run_by(actor, centre_id)
        self.change(centre, lambda c: c.change_dates(opened_on=opened_on, closed_on=closed_on))
        return centre

    def get_centre(self, actor: Principal, centre_id: UUID) -> Centre:
        centre = self.existing(Centre, centre_id)
        if centre is None or not sees_centre(actor, centre):
            raise UnknownCentre(f"no centre {centre_id} visible to you")
        return centre

    def set_centre_profile(self, actor: Principal, centre_id: UUID, *, opened_fy: int, municipality: str,
                           address: str, phone: str, hours: dict[str, list[str]],
                           satellite_term: dict | None) -> Centre:
        centre = self._centre_run_by(actor, centre_id)
        require_jurisdiction(actor, municipality, "a centre's profile")  # it lists the centre there
        self.change(centre, lambda c: c.set_profile(opened_fy=opened_fy, municipality=municipality, address=address,
                                                    phone=phone, hours=hours, satellite_term=satellite_term))
        return centre

    def set_centre_staffing(self, actor: Principal, centre_id: UUID, *, coordinators: list[str],
                            outreach_workers: int, municipal_support_workers: int) -> Centre:
        centre = self._centre_run_by(actor, centre_id)
        self.change(centre, lambda c: c.set_staffing(coordinators=coordinators, outreach_workers=outreach_workers,
                                                     municipal_support_workers=municipal_support_workers))
        return centre

    @sealing
    def give_backoffice_support(self, actor: Principal, centre_id: UUID, *, given_on: date, recipient_kind: str,
                                recipient: str, kind: str, note: str | None,
                                idempotency_key: str | None = None) -> Created[Centre]:
        """後方支援 by the centre's own staff; the note is sealed under the centre's key (it may
        speak of a person)."""
        def load() -> Centre:
            centre = self.get_centre(actor, centre_id)
            actor.require("centre_staff")
            return centre

        creation = self.creation("backoffice-support", centre_id, idempotency_key, given_on=given_on,
                                 recipient_kind=recipient_kind, recipient=recipient, kind=kind, note=note)
        return self.create_inside(creation, load, lambda c, support_id: c.give_backoffice_support(
            support_id=support_id, given_on=given_on, recipient_kind=recipient_kind, recipient=recipient, kind=kind,
            note=self.seal(centre_id, note)))

    def _centre_run_by(self, actor: Principal, centre_id: UUID) -> Centre:
        """A centre the caller sees (else 404) and whose local government it acts for (else 403)."""
        centre = self.get_centre(actor, centre_id)
        if not runs_centre(actor, centre):
            raise NotAllowed("only the local government running the centre")
        return centre

    # -- the agency directory -----------------------------------------------------------------
    def register_agency(self, actor: Principal, *, name: str, category: str, municipality: str, address: str,
                        phone: str, idempotency_key: str | None) -> tuple[Agency, bool]:
        actor.require(*OFFICERS)
        tenant = validate_lg_code(actor.org)
        require_jurisdiction(actor, municipality, "agencies")
        creation = self.creation("agency", tenant, idempotency_key, name=name, category=category,
                                 municipality=municipality, address=address, phone=phone)
        agency_id = creation.new_id()
        return self.create_once(Agency, agency_id, lambda: Agency.register(
            id=agency_id, tenant=tenant, name=name, category=category, municipality=municipality,
            address=address, phone=phone), creation)

    @staticmethod
    def agency_list_scope(actor: Principal) -> str:
        """Whose agencies an officer lists: those of its own jurisdiction."""
        actor.require(*OFFICERS)
        return validate_lg_code(actor.org)

    def retire_agency(self, actor: Principal, agency_id: UUID, *, retired_on: date) -> Agency:
        """The government that registered it takes it out of the directory (access.removes_listing)."""
        agency = self.agency(agency_id)
        if not removes_listing(actor, agency.tenant, agency.municipality):
            raise NotAllowed("only the local government that registered the agency retires it")
        self.change(agency, lambda a: a.retire(retired_on=retired_on))
        return agency

    def agency_for_officer(self, actor: Principal, agency_id: UUID) -> Agency:
        """One agency with what the public directory hides (a retired one): for the officers whose
        list would show it (agency_list_scope, queries.agencies_within); anyone else: unknown."""
        jurisdiction = self.agency_list_scope(actor)
        agency = self.agency(agency_id)
        if agency.tenant != jurisdiction and not within(jurisdiction, agency.municipality):
            raise UnknownAgency(f"no agency {agency_id} in the directory")
        return agency

    def agency(self, agency_id: UUID) -> Agency:
        """The directory is public: any caller may name any agency."""
        agency = self.existing(Agency, agency_id)
        if agency is None:
            raise UnknownAgency(f"no agency {agency_id} in the directory")
        return agency
