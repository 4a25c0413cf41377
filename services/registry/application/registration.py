"""Use cases from application to decision (資料3〜5): apply with consent, screen, approve or
refuse, renew; the registrar's officers act, the registrar allocates every number."""

from __future__ import annotations

import contextlib
from datetime import date
from typing import Any
from uuid import UUID, uuid4

from eventsourcing.persistence import IntegrityError

from libs.domain.contracts import ClientKey
from libs.domain.errors import InvalidInput
from libs.platform.store.creations import SAVE_KWARG, LedgerRow
from libs.platform.store.sealed import sealing
from libs.platform.web.auth import Principal
from services.registry.application.access import officer_tenant
from services.registry.application.base import RegistryBase
from services.registry.domain.course import TrainingCourse
from services.registry.domain.errors import AlreadyApplied, UnknownCertificate
from services.registry.domain.registrar import Registrar, certificate_id
from services.registry.domain.supporter import Supporter


class RegistrationUseCases(RegistryBase):
    @sealing
    def apply_for_registration(self, actor: Principal, *, certificate_number: str, applied_on: date,
                               applicant: dict, consent_items: dict[str, bool], consent_text_version: str,
                               signed_on: date, idempotency_key: str | None) -> tuple[Supporter, bool]:
        """The application and its 同意書 (資料3, 資料4) for a 修了番号 of this registrar; returns
        the supporter and whether it was created now (not a retry of the same application)."""
        tenant = officer_tenant(actor)
        creation = self.creation("registration", tenant, idempotency_key, certificate_number=certificate_number,
                                 applied_on=applied_on, applicant=applicant, consent_items=consent_items,
                                 consent_text_version=consent_text_version, signed_on=signed_on)
        if (row := self.ledger.of_key(creation)) is not None:  # a retry (the key with another request: 422)
            return self.repository.get(UUID(row.aggregate_id)), False
        registrar = self.registrar(tenant)
        trainee_id = self._holder(registrar, certificate_number)
        if trainee_id is None:
            raise UnknownCertificate(f"修了番号 {certificate_number!r} was not issued by {tenant}")
        existing = self.existing(Supporter, trainee_id)
        if existing is not None:
            return self._retried(existing, certificate_number, self.client_key(idempotency_key)), False
        if consent_text_version != registrar.consent_text_version:
            raise InvalidInput(f"the consent form shown must be {registrar.consent_text_version!r}")
        supporter = Supporter.apply_for_registration(
            id=trainee_id, tenant=tenant, certificate_number=certificate_number, applied_on=applied_on,
            applicant=self.seal_required(trainee_id, applicant, "applicant"), consent_id=uuid4(),
            consent_items=consent_items, consent_text_version=consent_text_version, signed_on=signed_on,
            idempotency_key=self.client_key(idempotency_key),
        )
        saved = self.save_new(supporter, creation=creation)
        if saved is not supporter:  # another application for this 修了番号 committed first
            return self._retried(saved, certificate_number, self.client_key(idempotency_key)), False
        return saved, True

    def _holder(self, registrar: Registrar, certificate_number: str) -> UUID | None:
        """The trainee a 修了番号 of this registrar was issued to: its ledger row names the course that
        holds the completion. A number allocated before the ledger kept them (Registrar v1) is found
        once in the registrar's log and given a row naming the registrar and the allocation's
        version, so that later registrations read that one event; a number never allocated reads
        nothing more."""
        number_id = certificate_id(registrar.tenant, certificate_number)
        row = self.ledger.of_kind("certificate", number_id)
        if row is not None and row.aggregate_id == str(registrar.id):  # allocated before the ledger
            found = self._allocated_event(registrar, certificate_number, gt=max(row.version - 1, 0), lte=row.version)
            return found.allocated_to if found is not None else None
        if row is not None:
            course = self.existing(TrainingCourse, UUID(row.aggregate_id))
            return course.holder_of(certificate_number) if course is not None else None
        if not registrar.was_allocated(certificate_number):
            return None
        found = self._allocated_event(registrar, certificate_number)
        if found is None:
            return None
        with contextlib.suppress(IntegrityError):  # another replica wrote it first: the same row
            self.save(**{SAVE_KWARG: [LedgerRow(str(number_id), "certificate", str(registrar.id),
                                                found.originator_version, None, None)]})
        return found.allocated_to

    def _allocated_event(self, registrar: Registrar, certificate_number: str, *,
                         gt: int | None = None, lte: int | None = None) -> Any | None:
        return next((e for e in self.events.get(registrar.id, gt=gt, lte=lte)
                     if isinstance(e, Registrar.NumberAllocated) and e.series == "certificate"
                     and e.number == certificate_number), None)

    @staticmethod
    def _retried(existing: Supporter, certificate_number: str, idempotency_key: ClientKey | None) -> Supporter:
        """The application already made with this 修了番号, if this is a retry of it."""
        if existing.applied_with_key(idempotency_key):
            return existing
        raise AlreadyApplied(f"修了番号 {certificate_number} was used by an application already",
                             supporter_id=str(existing.id))

    @sealing
    def record_screening(self, actor: Principal, supporter_id: UUID, *, expected_version: int | None,
                         kind: str, held_on: date, note: str | None) -> Supporter:
        supporter = self._supporter_for_officer(actor, supporter_id)
        self.change(supporter, lambda s: s.record_screening(kind=kind, held_on=held_on,
                                                            note=self.seal(supporter_id, note)),
                    expected_version=expected_version)
        return supporter

    def approve(self, actor: Principal, supporter_id: UUID, *, expected_version: int | None,
                issued_on: date, term_years: int | None) -> Supporter:
        """登録: the registrar allocates the 登録番号 in the same transaction."""
        registrar = self.registrar(officer_tenant(actor))
        supporter = self._supporter_for_officer(actor, supporter_id)
        years = term_years or registrar.default_term_years

        def register(s: Supporter) -> None:
            s.check_approval(issued_on=issued_on, term_years=years, max_term_years=registrar.max_term_years)
            number = registrar.allocate_registration_number(s.id)
            s.register(registration_number=number, issued_on=issued_on, term_years=years,
                       max_term_years=registrar.max_term_years)

        self.change(supporter, register, expected_version=expected_version, also=[registrar])
        return supporter

    @sealing
    def refuse(self, actor: Principal, supporter_id: UUID, *, expected_version: int | None,
               refused_on: date, reason: str | None) -> Supporter:
        supporter = self._supporter_for_officer(actor, supporter_id)
        self.change(supporter, lambda s: s.refuse(refused_on=refused_on, reason=self.seal(supporter_id, reason)),
                    expected_version=expected_version)
        return supporter

    def renew(self, actor: Principal, supporter_id: UUID, *, expected_version: int | None, issued_on: date,
              term_years: int | None, consent_items: dict[str, bool], consent_text_version: str) -> Supporter:
        """更新: a new term under a re-confirmed 同意書."""
        registrar = self.registrar(officer_tenant(actor))
        if consent_text_version != registrar.consent_text_version:
            raise InvalidInput(f"the consent form shown must be {registrar.consent_text_version!r}")
        supporter = self._supporter_for_officer(actor, supporter_id)
        self.change(supporter, lambda s: s.renew(
            consent_id=uuid4(), consent_items=consent_items, consent_text_version=consent_text_version,
            issued_on=issued_on, term_years=term_years or registrar.default_term_years,
            max_term_years=registrar.max_term_years), expected_version=expected_version)
        return supporter
