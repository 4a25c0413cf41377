"""The registry Application: the supporter life cycle, commands in, events out.

Who may do what: officers (prefecture_officer / municipal_officer) of the registrar (org ==
tenant) write; a supporter reads their own record (sub == supporter id); nobody else sees
anything (404, not 403, so existence does not leak).
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import date, datetime
from typing import Any
from uuid import UUID, uuid4

from libs.domain.codes import validate_lg_code
from libs.domain.errors import InvalidInput, VersionMismatch
from libs.domain.fiscal import JST
from libs.platform.store.application import ServiceApplication, new_id
from libs.platform.web.auth import NotAllowed, Principal
from services.registry.domain.course import TrainingCourse
from services.registry.domain.errors import (
    AlreadyApplied,
    CourseNotFound,
    NotEligibleForRoster,
    SupporterNotFound,
    UnknownCertificate,
)
from services.registry.domain.registrar import Registrar
from services.registry.domain.roster import RosterProvision
from services.registry.domain.supporter import Supporter

OFFICERS = ("prefecture_officer", "municipal_officer")


def today_jst() -> date:
    return datetime.now(JST).date()


class RegistryApplication(ServiceApplication):
    name = "registry"
    # The registrar allocates every number: snapshots keep loading it cheap as it grows.
    snapshotting_intervals = {Registrar: 100}

    # -- registrar ----------------------------------------------------------------------------
    def registrar(self, tenant: str) -> Registrar:
        return self.existing(Registrar, Registrar.id_for(tenant)) or Registrar.open(tenant)

    def configure_registrar(self, actor: Principal, *, max_term_years: int, default_term_years: int,
                            consent_text_version: str) -> Registrar:
        registrar = self.registrar(self.officer_tenant(actor))
        registrar.configure(max_term_years=max_term_years, default_term_years=default_term_years,
                            consent_text_version=consent_text_version)
        self.save(registrar)
        return registrar

    # -- training -----------------------------------------------------------------------------
    def schedule_course(self, actor: Principal, *, kind: str, title: str, starts_on: date, ends_on: date,
                        venue: str, idempotency_key: str | None) -> tuple[TrainingCourse, bool]:
        tenant = self.officer_tenant(actor)
        course_id = new_id("course", tenant, idempotency_key)
        return self.create_once(TrainingCourse, course_id, lambda: TrainingCourse.schedule(
            id=course_id, tenant=tenant, kind=kind, title=title, starts_on=starts_on, ends_on=ends_on, venue=venue))

    def get_course(self, actor: Principal, course_id: UUID) -> TrainingCourse:
        course = self.existing(TrainingCourse, course_id)
        if course is None or not (actor.has(*OFFICERS) and actor.org == course.tenant):
            raise CourseNotFound(f"no course {course_id} of yours")
        return course

    def record_attendance(self, actor: Principal, course_id: UUID, *, attended_on: date,
                          trainee: dict | None, supporter_id: UUID | None,
                          idempotency_key: str | None) -> tuple[TrainingCourse, UUID]:
        course = self.get_course(actor, course_id)
        if course.kind == "continuing":
            if supporter_id is None:
                raise InvalidInput("a continuing training (継続研修) is attended by a registered supporter: send supporter_id")
            supporter = self._supporter_of(course.tenant, supporter_id)
            supporter.attend_continuing_training(course_id=course.id, attended_on=attended_on)
            course.attend(trainee_id=supporter_id, attended_on=attended_on, trainee=None)
            self.save(course, supporter)
            return course, supporter_id
        if trainee is None:
            raise InvalidInput("an initial training needs the trainee's details (氏名 and contact)")
        trainee_id = new_id("trainee", f"{course_id}", idempotency_key)
        if trainee_id in course.attendees:
            return course, trainee_id
        course.attend(trainee_id=trainee_id, attended_on=attended_on,
                      trainee=self.sealer.seal(str(trainee_id), trainee))
        self.save(course)
        return course, trainee_id

    def complete_training(self, actor: Principal, course_id: UUID, *, trainee_id: UUID,
                          completed_on: date) -> tuple[TrainingCourse, str]:
        course = self.get_course(actor, course_id)
        course.check_completion(trainee_id, completed_on)
        registrar = self.registrar(course.tenant)
        number = registrar.allocate_certificate_number(course.fy, trainee_id)
        course.complete(trainee_id=trainee_id, certificate_number=number, completed_on=completed_on)
        self.save(registrar, course)
        return course, number

    # -- registration -------------------------------------------------------------------------
    def apply_for_registration(self, actor: Principal, *, certificate_number: str, applied_on: date,
                               applicant: dict, consent_items: dict[str, bool], consent_text_version: str,
                               signed_on: date, idempotency_key: str | None) -> tuple[Supporter, bool]:
        tenant = self.officer_tenant(actor)
        registrar = self.registrar(tenant)
        trainee_id = registrar.certificates.get(certificate_number)
        if trainee_id is None:
            raise UnknownCertificate(f"修了番号 {certificate_number!r} was not issued by {tenant}")
        existing = self.existing(Supporter, trainee_id)
        if existing is not None:
            if idempotency_key and idempotency_key == existing.idempotency_key:  # a retry of that application
                return existing, False
            raise AlreadyApplied(f"修了番号 {certificate_number} was used by an application already",
                                 supporter_id=str(existing.id))
        if consent_text_version != registrar.consent_text_version:
            raise InvalidInput(f"the consent form shown must be {registrar.consent_text_version!r}")
        supporter = Supporter.apply_for_registration(
            id=trainee_id, tenant=tenant, certificate_number=certificate_number, applied_on=applied_on,
            applicant=self.sealer.seal(str(trainee_id), applicant), consent_id=uuid4(),
            consent_items=consent_items, consent_text_version=consent_text_version, signed_on=signed_on,
            idempotency_key=idempotency_key,
        )
        saved = self.save_new(supporter)
        if saved is not supporter:  # another application for this 修了番号 committed first
            if idempotency_key and idempotency_key == saved.idempotency_key:
                return saved, False
            raise AlreadyApplied(f"修了番号 {certificate_number} was used by an application already",
                                 supporter_id=str(saved.id))
        return saved, True

    def get_supporter(self, actor: Principal, supporter_id: UUID) -> Supporter:
        supporter = self.existing(Supporter, supporter_id)
        if supporter is None or not _sees(actor, supporter):
            raise SupporterNotFound(f"no supporter {supporter_id} visible to you")
        return supporter

    def act(self, actor: Principal, supporter_id: UUID, expected_version: int | None,
            command: Callable[[Supporter], Any], *others: Any, self_service: bool = False) -> Supporter:
        """Run one command on a supporter as an officer of its registrar (or, where allowed, as
        the supporter), honouring If-Match; `others` are saved in the same transaction."""
        supporter = self.get_supporter(actor, supporter_id)
        officer = _officer_of(actor, supporter)
        themself = self_service and actor.has("supporter") and actor.sub == str(supporter.id)
        if not (officer or themself):
            raise NotAllowed("only the registrar's officers (or, for this, the supporter)")
        if expected_version is not None and expected_version != supporter.version:
            raise VersionMismatch(f"the supporter is at version {supporter.version}, not {expected_version}")
        command(supporter)
        self.save(supporter, *others)
        return supporter

    def approve(self, actor: Principal, supporter_id: UUID, *, expected_version: int | None,
                issued_on: date, term_years: int | None) -> Supporter:
        registrar = self.registrar(self.officer_tenant(actor))
        years = term_years or registrar.default_term_years

        def register(s: Supporter) -> None:
            s.check_approval(issued_on=issued_on, term_years=years, max_term_years=registrar.max_term_years)
            number = registrar.allocate_registration_number(s.id)
            s.register(registration_number=number, issued_on=issued_on, term_years=years,
                       max_term_years=registrar.max_term_years)

        return self.act(actor, supporter_id, expected_version, register, registrar)

    def renew(self, actor: Principal, supporter_id: UUID, *, expected_version: int | None, issued_on: date,
              term_years: int | None, consent_items: dict[str, bool], consent_text_version: str) -> Supporter:
        registrar = self.registrar(self.officer_tenant(actor))
        if consent_text_version != registrar.consent_text_version:
            raise InvalidInput(f"the consent form shown must be {registrar.consent_text_version!r}")
        return self.act(actor, supporter_id, expected_version, lambda s: s.renew(
            consent_id=uuid4(), consent_items=consent_items, consent_text_version=consent_text_version,
            issued_on=issued_on, term_years=term_years or registrar.default_term_years,
            max_term_years=registrar.max_term_years))

    def erase_supporter(self, actor: Principal, supporter_id: UUID, *, erased_on: date, basis: str) -> Supporter:
        """Record SupporterDataErased, then destroy the key."""
        supporter = self.get_supporter(actor, supporter_id)
        if not _officer_of(actor, supporter):
            raise NotAllowed("only the registrar's officers")
        return self.erase_personal_data(supporter, lambda s: s.erase(erased_on=erased_on, basis=basis))

    def expire_due(self, today: date, candidates: list[UUID]) -> list[UUID]:
        """Record RegistrationExpired once for each candidate whose term has ended."""
        expired = []
        for supporter_id in candidates:
            supporter = self.existing(Supporter, supporter_id)
            if supporter is not None and supporter.expire_if_due(today):
                self.save(supporter)
                expired.append(supporter_id)
        return expired

    # -- roster -------------------------------------------------------------------------------
    def provide_roster(self, actor: Principal, *, recipient: str, provided_on: date, items: list[str],
                       supporter_ids: list[UUID], idempotency_key: str | None) -> tuple[RosterProvision, bool]:
        tenant = self.officer_tenant(actor)
        validate_lg_code(recipient)
        if provided_on > today_jst():
            raise InvalidInput("provided_on is in the future")
        roster_id = new_id("roster", tenant, idempotency_key)
        return self.create_once(RosterProvision, roster_id, lambda: self._roster(
            roster_id, tenant, recipient, provided_on, items, supporter_ids))

    def _roster(self, roster_id: UUID, tenant: str, recipient: str, provided_on: date, items: list[str],
                supporter_ids: list[UUID]) -> RosterProvision:
        entries = []
        for supporter_id in dict.fromkeys(supporter_ids):
            supporter = self._supporter_of(tenant, supporter_id)
            if not supporter.is_current(provided_on) or not supporter.is_current(today_jst()):
                raise NotEligibleForRoster(
                    f"supporter {supporter_id} has no current registration with an unwithdrawn consent"
                    + (" (the use of their data is suspended: 利用停止)" if supporter.use_suspended else ""),
                    use_suspended=supporter.use_suspended,
                    supporter_id=str(supporter_id), current_status=supporter.status)
            entries.append({"supporter_id": str(supporter.id), "registration_number": supporter.registration_number,
                            "consent_id": str(supporter.consent_id), "term_ends_on": supporter.term_ends_on.isoformat()})
        return RosterProvision.provide(id=roster_id, tenant=tenant, recipient=recipient, provided_on=provided_on,
                                       items=items, entries=entries)

    # -- helpers ------------------------------------------------------------------------------
    def _supporter_of(self, tenant: str, supporter_id: UUID) -> Supporter:
        supporter = self.existing(Supporter, supporter_id)
        if supporter is None or supporter.tenant != tenant:
            raise SupporterNotFound(f"no supporter {supporter_id} of yours")
        return supporter

    @staticmethod
    def officer_tenant(actor: Principal) -> str:
        actor.require(*OFFICERS)
        return validate_lg_code(actor.org)


def _officer_of(actor: Principal, supporter: Supporter) -> bool:
    return actor.has(*OFFICERS) and actor.org == supporter.tenant


def _sees(actor: Principal, supporter: Supporter) -> bool:
    if actor.has(*OFFICERS, "auditor") and actor.org == supporter.tenant:
        return True
    return actor.has("supporter") and actor.sub == str(supporter.id)


def details_of(app: RegistryApplication, supporter: Supporter) -> dict | str | None:
    """The applicant's registered details with every change applied, opened."""
    opened = app.sealer.open(supporter.applicant)
    if not isinstance(opened, dict):
        return opened  # erased
    for change in supporter.changes:
        values = app.sealer.open(change)
        if isinstance(values, dict):
            opened.update(values)
    return opened

