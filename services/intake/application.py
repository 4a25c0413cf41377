"""The intake Application: commands in, events out. Scoping by the caller's org lives here.

Centres (main/satellite) are registered by their prefecture or designated city; municipal
consultation windows by their municipality. A case is seen by staff of its centre (org == centre
id) and, for a window, by the municipality's officers; nobody else (404).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any
from uuid import UUID, uuid4

from libs.domain.codes import is_prefecture, prefecture_of, validate_lg_code
from libs.domain.errors import VersionMismatch
from libs.domain.legal_bases import check_legal_basis
from libs.platform.store.application import ServiceApplication, new_id
from libs.platform.web.auth import NotAllowed, Principal
from services.intake.domain.agency import Agency
from services.intake.domain.backup import Backup
from services.intake.domain.case import Case
from services.intake.domain.centre import Centre
from services.intake.domain.errors import BackupNotFound, CaseNotFound, InvalidProgramme, UnknownAgency, UnknownCentre
from services.intake.domain.place import Place
from services.intake.domain.programme import Programme
from services.intake.domain.rights import RightsRequest

OFFICERS = ("prefecture_officer", "municipal_officer")


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
        actor.require("municipal_officer" if site == "window" else "prefecture_officer")
        if actor.org != tenant:
            raise NotAllowed("a local government registers only its own centres and windows")
        centre_id = new_id("centre", actor.org, idempotency_key)
        return self.create_once(Centre, centre_id, lambda: Centre.register(
            id=centre_id, tenant=tenant, name=name, kind=kind, site=site))

    def get_centre(self, actor: Principal, centre_id: UUID) -> Centre:
        centre = self.existing(Centre, centre_id)
        if centre is None or not _sees_centre(actor, centre):
            raise UnknownCentre(f"no centre {centre_id} visible to you")
        return centre

    def update_centre(self, actor: Principal, centre_id: UUID, command: Callable[[Centre], Any]) -> Centre:
        """A command on a centre by the local government that runs it."""
        centre = self.get_centre(actor, centre_id)
        if not (actor.has(*OFFICERS) and actor.org == centre.tenant):
            raise NotAllowed("only the local government running the centre")
        command(centre)
        self.save(centre)
        return centre

    def give_backoffice_support(self, actor: Principal, centre_id: UUID, **kwargs: Any) -> Centre:
        centre = self.get_centre(actor, centre_id)
        actor.require("centre_staff")
        note = kwargs.pop("note")
        centre.give_backoffice_support(support_id=uuid4(), note=self.sealer.seal(str(centre_id), note) if note else None,
                                       **kwargs)
        self.save(centre)
        return centre

    # -- agencies ---------------------------------------------------------------------------
    def register_agency(self, actor: Principal, *, name: str, category: str, municipality: str, address: str,
                        phone: str, idempotency_key: str | None) -> tuple[Agency, bool]:
        actor.require(*OFFICERS)
        tenant = validate_lg_code(actor.org)
        agency_id = new_id("agency", tenant, idempotency_key)
        return self.create_once(Agency, agency_id, lambda: Agency.register(
            id=agency_id, tenant=tenant, name=name, category=category, municipality=municipality,
            address=address, phone=phone))

    def agency(self, agency_id: UUID) -> Agency:
        agency = self.existing(Agency, agency_id)
        if agency is None:
            raise UnknownAgency(f"no agency {agency_id} in the directory")
        return agency

    # -- cases ------------------------------------------------------------------------------
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
        case = self.existing(Case, case_id)
        if case is None or not self._sees_case(actor, case):
            raise CaseNotFound(f"no case {case_id} visible to you")
        return case

    def act(self, actor: Principal, case_id: UUID, expected_version: int | None,
            command: Callable[[Case], Any]) -> tuple[Case, Any]:
        """One command on a case by someone who may see it, honouring If-Match."""
        return self._run(self.get_case(actor, case_id), expected_version, command)

    def _run(self, case: Case, expected_version: int | None, command: Callable[[Case], Any]) -> tuple[Case, Any]:
        if expected_version is not None and expected_version != case.version:
            raise VersionMismatch(f"case is at version {case.version}, not {expected_version}")
        result = command(case)
        self.save(case)
        return case, result

    def record_consultation(self, actor: Principal, case_id: UUID, *, expected_version: int | None,
                            channel: str, consulted_by: str, occurred_at: datetime,
                            summary: str | None, idempotency_key: str | None) -> Recorded:
        case = self.get_case(actor, case_id)
        if idempotency_key and idempotency_key in case.idempotency_keys:
            return Recorded(case, case.idempotency_keys[idempotency_key], created=False)
        # The case loaded once: a busy case's load is most of the cost of a consultation.
        case, consultation_id = self._run(case, expected_version, lambda c: c.record_consultation(
            consultation_id=uuid4(), channel=channel, consulted_by=consulted_by, occurred_at=occurred_at,
            summary=self.seal(case_id, summary), idempotency_key=idempotency_key))
        return Recorded(case, consultation_id, created=True)

    def refer(self, actor: Principal, case_id: UUID, *, agency_id: UUID, items: list[str], referred_on: date,
              idempotency_key: str | None, legal_basis: dict[str, Any] | None = None) -> tuple[Case, UUID]:
        agency = self.agency(agency_id)
        referral_id = new_id("referral", str(case_id), idempotency_key)
        case = self.get_case(actor, case_id)
        if str(referral_id) in case.referrals:
            return case, referral_id
        basis = self._legal_basis(case_id, legal_basis)
        self.act(actor, case_id, None, lambda c: c.refer(referral_id=referral_id, agency_id=agency.id,
                                                         category=agency.category, items=items,
                                                         referred_on=referred_on, **basis))
        return self.get_case(actor, case_id), referral_id

    def share(self, actor: Principal, case_id: UUID, *, agency_id: UUID, items: list[str], on: date,
              purpose: str, legal_basis: dict[str, Any] | None = None) -> tuple[Case, str]:
        agency = self.agency(agency_id)
        self.get_case(actor, case_id)
        basis = self._legal_basis(case_id, legal_basis)
        return self.act(actor, case_id, None, lambda c: c.share_with(
            agency_id=agency.id, category=agency.category, items=items, disclosed_on=on, purpose=purpose,
            **basis))

    def _legal_basis(self, case_id: UUID, stated: dict[str, Any] | None) -> dict[str, Any]:
        """The legal basis as the case records it: checked before anything is sealed (a refused
        request writes nothing, not even a key), the reason sealed under the person's key."""
        if not stated:
            return {}
        reason = stated.get("reason") or None
        check_legal_basis(stated["code"], statute=stated.get("statute"), has_reason=reason is not None)
        return {"legal_basis": stated["code"], "statute": self.seal(case_id, stated.get("statute") or None),
                "reason": self.seal(case_id, reason)}

    def request_supporter(self, actor: Principal, case_id: UUID, *, municipality: str, needs: list[str],
                          preferences: dict[str, str], requested_on: date, requested_by: str | None,
                          idempotency_key: str | None) -> tuple[Case, UUID]:
        request_id = new_id("supporter-request", str(case_id), idempotency_key)
        case, _ = self.act(actor, case_id, None, lambda c: c.request_supporter(
            request_id=request_id, municipality=municipality, needs=needs, preferences=preferences,
            requested_on=requested_on, requested_by=requested_by or c.client_kind))
        return case, request_id

    def erase_subject(self, actor: Principal, case_id: UUID, *, erased_on: date, basis: str) -> Case:
        """Crypto-shredding: record SubjectErased, then destroy the person's key."""
        case = self.get_case(actor, case_id)
        return self.erase_personal_data(case, lambda c: c.erase(erased_on=erased_on, basis=basis))

    def receive_rights_request(self, actor: Principal, *, case_id: UUID, kind: str, received_on: date,
                               idempotency_key: str | None) -> RightsRequest:
        case = self.get_case(actor, case_id)
        request_id = new_id("rights-request", str(case_id), idempotency_key)
        request, _ = self.create_once(RightsRequest, request_id, lambda: RightsRequest.receive(
            id=request_id, tenant=case.tenant, case_id=case.id, centre_id=case.centre_id, kind=kind,
            received_on=received_on))
        return request

    def answer_rights_request(self, actor: Principal, request_id: UUID, *, answered_on: date,
                              outcome: str) -> RightsRequest:
        request = self.existing(RightsRequest, request_id)
        if request is None or not actor.has("centre_staff") or actor.org != str(request.centre_id):
            raise CaseNotFound(f"no request {request_id} visible to you")
        request.answer(answered_on=answered_on, outcome=outcome)
        self.save(request)
        return request

    # -- programmes and places (実施体制・居場所) ---------------------------------------------------
    def start_programme(self, actor: Principal, *, idempotency_key: str | None, **fields: Any) -> tuple[Programme, bool]:
        actor.require(*OFFICERS)
        tenant = validate_lg_code(actor.org)
        programme_id = new_id("programme", tenant, idempotency_key)
        return self.create_once(Programme, programme_id, lambda: Programme.start(id=programme_id, tenant=tenant, **fields))

    def get_programme(self, actor: Principal, programme_id: UUID) -> Programme:
        programme = self.existing(Programme, programme_id)
        if programme is None or not _sees_local(actor, programme.tenant, programme.operators):
            raise UnknownCentre(f"no programme {programme_id} visible to you")
        return programme

    def run_programme(self, actor: Principal, programme_id: UUID, command: Callable[[Programme], Any]) -> Programme:
        programme = self.get_programme(actor, programme_id)
        if not (actor.has(*OFFICERS) and actor.org in programme.operators):
            raise NotAllowed("only a local government running the programme")
        command(programme)
        self.save(programme)
        return programme

    def open_place(self, actor: Principal, *, programme_id: UUID | None, idempotency_key: str | None,
                   **fields: Any) -> tuple[Place, bool]:
        actor.require(*OFFICERS)
        tenant = validate_lg_code(actor.org)
        if programme_id is not None:
            self.get_programme(actor, programme_id)
        place_id = new_id("place", tenant, idempotency_key)
        return self.create_once(Place, place_id, lambda: Place.open(id=place_id, tenant=tenant,
                                                                     programme_id=programme_id, **fields))

    def run_place(self, actor: Principal, place_id: UUID, command: Callable[[Place], Any]) -> Place:
        place = self.existing(Place, place_id)
        if place is None or not (actor.has(*OFFICERS) and actor.org == place.tenant):
            raise UnknownCentre(f"no place {place_id} of yours")
        command(place)
        self.save(place)
        return place

    # -- prefectural back-up (後方支援・立ち上げ支援) ------------------------------------------------
    def give_backup(self, actor: Principal, *, municipality: str, kind: str, centre_id: UUID | None,
                    programme_id: UUID | None, staff_role: str | None, staff_days: int | None, note: dict | None,
                    given_on: date, idempotency_key: str | None) -> tuple[Backup, bool]:
        actor.require("prefecture_officer")
        tenant = validate_lg_code(actor.org)
        Backup.check(tenant=tenant, municipality=municipality, kind=kind, staff_role=staff_role, staff_days=staff_days)
        if centre_id is not None and self.get_centre(actor, centre_id).tenant != tenant:
            raise UnknownCentre(f"no centre {centre_id} of yours")
        if programme_id is not None and municipality not in self.get_programme(actor, programme_id).operators:
            raise InvalidProgramme(f"programme {programme_id} is not run by {municipality}")
        backup_id = new_id("backup", tenant, idempotency_key)
        return self.create_once(Backup, backup_id, lambda: Backup.give(
            id=backup_id, tenant=tenant, municipality=municipality, kind=kind, given_on=given_on, centre_id=centre_id,
            programme_id=programme_id, staff_role=staff_role, staff_days=staff_days,
            note=self.seal(backup_id, note) if note else None))

    def get_backup(self, actor: Principal, backup_id: UUID) -> Backup:
        """Seen by the prefecture that gave it and by the municipality that received it."""
        backup = self.existing(Backup, backup_id)
        if backup is None or not (actor.has(*OFFICERS) and actor.org in (backup.tenant, backup.municipality)):
            raise BackupNotFound(f"no back-up {backup_id} visible to you")
        return backup

    def opened_note(self, backup: Backup) -> str | None:
        opened = self.sealer.open(backup.note) if backup.note else None
        return opened.get("text") if isinstance(opened, dict) else None

    @staticmethod
    def backup_scope(actor: Principal) -> dict[str, str]:
        if actor.has("prefecture_officer") and is_prefecture(actor.org):
            return {"tenant": actor.org}
        actor.require("municipal_officer")
        return {"municipality": validate_lg_code(actor.org)}

    def _sees_case(self, actor: Principal, case: Case) -> bool:
        if actor.has("centre_staff") and actor.org == str(case.centre_id):
            return True
        if actor.has("municipal_officer") and actor.org == case.tenant:
            centre = self.existing(Centre, case.centre_id)
            return centre is not None and centre.site == "window"
        return False


def _sees_local(actor: Principal, tenant: str, operators: list[str]) -> bool:
    """The running local governments, and the prefecture that backs them up (後方支援)."""
    if not actor.has(*OFFICERS):
        return False
    return actor.org in operators or (is_prefecture(actor.org) and prefecture_of(tenant) == actor.org)


def _sees_centre(actor: Principal, centre: Centre) -> bool:
    if actor.has("centre_staff") and actor.org == str(centre.id):
        return True
    return actor.has(*OFFICERS) and actor.org == centre.tenant
