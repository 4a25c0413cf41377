"""Supporter: ひきこもりサポーター from application to the end of registration.

要綱例 第6条 (申込書・同意書, 講義・面談), 第7条 (登録証), 第9条 (登録期間・再登録), 第13条 (継続研修),
第14条 (変更), 第15条 (辞退), 第16条 (取消し: 調査及び面接の上), 第17条 (秘密の保持).
"""

from __future__ import annotations

from datetime import date, timedelta
from uuid import UUID

from eventsourcing.domain import Aggregate, event

from libs.domain import registry as contracts
from libs.domain.contracts import ClientKey
from libs.domain.errors import InvalidInput
from libs.domain.personal_data import UseSuspension
from services.registry.domain.errors import (
    ConsentMissing,
    InvalidDates,
    RevocationNotPrepared,
    TermTooLong,
    WrongStatus,
)

CONSENT_PURPOSE = "ひきこもりサポーター登録名簿への登載と派遣事業への供用 (資料4)"


def term_end(issued_on: date, years: int) -> date:
    """登録期間: from the issue date for `years` years, the last day included. Counted as 民法
    第143条: it ends the day before the corresponding day, or at the end of the month that has
    no corresponding day (29 February 2016 + 1 year ends on 28 February 2017)."""
    try:
        return issued_on.replace(year=issued_on.year + years) - timedelta(days=1)
    except ValueError:  # no corresponding day: the end of February
        return date(issued_on.year + years, 2, 28)


def check_consent(items: dict[str, bool]) -> list[str]:
    """All five items of 資料4 must be affirmed; returns them in the form's order."""
    missing = [i for i in contracts.CONSENT_ITEMS if items.get(i) is not True]
    if missing:
        raise ConsentMissing(f"consent items not affirmed: {', '.join(missing)}", missing=missing)
    return list(contracts.CONSENT_ITEMS)


ENDED = ("refused", "withdrawn", "revoked", "expired")


class Supporter(UseSuspension, Aggregate):
    DATA_NAME = "the supporter's data"
    INVALID_INPUT = InvalidInput

    RegistrationApplied = contracts.RegistrationApplied
    RegistrationConsented = contracts.RegistrationConsented
    ScreeningRecorded = contracts.ScreeningRecorded
    SupporterRegistered = contracts.SupporterRegistered
    RegistrationRefused = contracts.RegistrationRefused
    SupporterDetailsChanged = contracts.SupporterDetailsChanged
    RegistrationRenewed = contracts.RegistrationRenewed
    RegistrationExpired = contracts.RegistrationExpired
    RegistrationConsentWithdrawn = contracts.RegistrationConsentWithdrawn
    RegistrationWithdrawn = contracts.RegistrationWithdrawn
    RevocationInquiryRecorded = contracts.RevocationInquiryRecorded
    RegistrationRevoked = contracts.RegistrationRevoked
    ContinuingTrainingAttended = contracts.ContinuingTrainingAttended
    SupporterUseSuspended = contracts.SupporterUseSuspended
    SupporterUseResumed = contracts.SupporterUseResumed
    SupporterDataErased = contracts.SupporterDataErased

    @event(RegistrationApplied)
    def __init__(self, id: UUID, tenant: str, certificate_number: str, applied_on: date,
                 applicant: dict, idempotency_digest: str | None) -> None:
        self.tenant = tenant
        self.idempotency_digest = idempotency_digest
        self.certificate_number = certificate_number
        self.applied_on = applied_on
        self.applicant = applicant
        self.status = "applied"
        self.consent_id: UUID | None = None
        self.consent_text_version: str | None = None
        self.consent_active = False
        self.registration_number: str | None = None
        self.term_starts_on: date | None = None
        self.term_ends_on: date | None = None
        self.screenings: list[tuple[str, date]] = []
        self.inquiries: set[str] = set()
        self.continuing_trainings: list[tuple[UUID, date]] = []
        self.changes: list[dict] = []
        self.use_suspended = False
        self.ended_on: date | None = None  # when the application or registration last ended
        self.erased = False

    def applied_with_key(self, idempotency_key: ClientKey | None) -> bool:
        """Whether the application was made with this Idempotency-Key (a retry of it): its keyed
        digest, or the unkeyed one of an application recorded before digests were keyed."""
        return idempotency_key is not None and self.idempotency_digest in contracts.application_key_digests(
            self.tenant, idempotency_key)

    @classmethod
    def apply_for_registration(cls, *, id: UUID, tenant: str, certificate_number: str,
                               applied_on: date, applicant: dict, consent_id: UUID,
                               consent_items: dict[str, bool], consent_text_version: str,
                               signed_on: date, idempotency_key: ClientKey | None = None) -> Supporter:
        items = check_consent(consent_items)
        digest = contracts.application_key_digests(tenant, idempotency_key)[0] if idempotency_key else None
        supporter = cls(id=id, tenant=tenant, certificate_number=certificate_number,
                        applied_on=applied_on, applicant=applicant, idempotency_digest=digest)
        supporter._consent(consent_id=consent_id, items=items, consent_text_version=consent_text_version,
                           signed_on=signed_on, purpose=CONSENT_PURPOSE,
                           record=contracts.registration_consent_record(
                               controller=tenant, purpose=CONSENT_PURPOSE, consent_text_version=consent_text_version))
        return supporter

    @event(RegistrationConsented)
    def _consent(self, consent_id: UUID, items: list[str], consent_text_version: str,
                 signed_on: date, purpose: str, record: dict) -> None:
        self.consent_id = consent_id
        self.consent_text_version = consent_text_version
        self.consent_active = True

    # -- screening and decision ----------------------------------------------------------------
    def record_screening(self, *, kind: str, held_on: date, note: dict | None) -> None:
        self._require("applied")
        if kind not in contracts.SCREENING_KINDS:
            raise InvalidInput(f"kind must be one of {contracts.SCREENING_KINDS}")
        if held_on < self.applied_on:
            raise InvalidDates("a screening cannot precede the application")
        self._screening(kind=kind, held_on=held_on, note=note)

    @event(ScreeningRecorded)
    def _screening(self, kind: str, held_on: date, note: dict | None) -> None:
        self.screenings.append((kind, held_on))

    def check_approval(self, *, issued_on: date, term_years: int, max_term_years: int) -> None:
        self._require("applied")
        if not self.consent_active:
            raise ConsentMissing("the consent (資料4) was withdrawn", missing=list(contracts.CONSENT_ITEMS))
        _check_term(issued_on, self.applied_on, term_years, max_term_years)

    def register(self, *, registration_number: str, issued_on: date, term_years: int,
                 max_term_years: int) -> None:
        self.check_approval(issued_on=issued_on, term_years=term_years, max_term_years=max_term_years)
        self._registered(registration_number=registration_number, issued_on=issued_on,
                         term_starts_on=issued_on, term_ends_on=term_end(issued_on, term_years))

    @event(SupporterRegistered)
    def _registered(self, registration_number: str, issued_on: date, term_starts_on: date,
                    term_ends_on: date) -> None:
        self.status = "registered"
        self.registration_number = registration_number
        self.term_starts_on = term_starts_on
        self.term_ends_on = term_ends_on

    def refuse(self, *, refused_on: date, reason: dict | None) -> None:
        self._require("applied")
        self._not_before_application(refused_on, "refused_on")
        self._refused(refused_on=refused_on, reason=reason)

    @event(RegistrationRefused)
    def _refused(self, refused_on: date, reason: dict | None) -> None:
        self.status = "refused"
        self.ended_on = refused_on

    # -- while registered ------------------------------------------------------------------------
    def change_details(self, *, changed_fields: list[str], changes: dict, changed_on: date) -> None:
        """登録事項の変更 (第14条) while registered; also 訂正 (APPI 第34条) of details still kept after
        the registration ended, until they are erased."""
        self._require_not_erased()
        if not changed_fields:
            raise InvalidInput("nothing to change")
        self._changed(changed_fields=sorted(changed_fields), changes=changes, changed_on=changed_on)

    @event(SupporterDetailsChanged)
    def _changed(self, changed_fields: list[str], changes: dict, changed_on: date) -> None:
        self.changes.append(changes)

    def renew(self, *, consent_id: UUID, consent_items: dict[str, bool], consent_text_version: str,
              issued_on: date, term_years: int, max_term_years: int) -> None:
        self._require("registered", "expired")
        if self.erased:
            raise WrongStatus("the supporter's data was erased: a new application is needed")
        items = check_consent(consent_items)
        _check_term(issued_on, self.term_starts_on, term_years, max_term_years)
        self._consent(consent_id=consent_id, items=items, consent_text_version=consent_text_version,
                      signed_on=issued_on, purpose=CONSENT_PURPOSE,
                      record=contracts.registration_consent_record(
                          controller=self.tenant, purpose=CONSENT_PURPOSE, consent_text_version=consent_text_version))
        self._renewed(consent_id=consent_id, issued_on=issued_on, term_starts_on=issued_on,
                      term_ends_on=term_end(issued_on, term_years))

    @event(RegistrationRenewed)
    def _renewed(self, consent_id: UUID, issued_on: date, term_starts_on: date, term_ends_on: date) -> None:
        self.status = "registered"
        self.term_starts_on = term_starts_on
        self.term_ends_on = term_ends_on
        self.ended_on = None

    def expire_if_due(self, today: date) -> bool:
        """Record the expiry once, when the term has ended; otherwise do nothing."""
        if self.status != "registered" or self.term_ends_on is None or today <= self.term_ends_on:
            return False
        self._expired(term_ended_on=self.term_ends_on)
        return True

    @event(RegistrationExpired)
    def _expired(self, term_ended_on: date) -> None:
        self.status = "expired"
        self.ended_on = term_ended_on

    def attend_continuing_training(self, *, course_id: UUID, attended_on: date) -> None:
        self._require("registered")
        self._continuing(course_id=course_id, attended_on=attended_on)

    @event(ContinuingTrainingAttended)
    def _continuing(self, course_id: UUID, attended_on: date) -> None:
        self.continuing_trainings.append((course_id, attended_on))

    # -- endings ---------------------------------------------------------------------------------
    def withdraw_consent(self, *, withdrawn_on: date) -> None:
        if not self.consent_active:
            raise WrongStatus("the consent was already withdrawn")
        # consent_active is only ever set by _consent, together with consent_id
        assert self.consent_id is not None
        self._not_before_application(withdrawn_on, "withdrawn_on")
        self._consent_withdrawn(consent_id=self.consent_id, withdrawn_on=withdrawn_on)

    @event(RegistrationConsentWithdrawn)
    def _consent_withdrawn(self, consent_id: UUID, withdrawn_on: date) -> None:
        self.consent_active = False

    def withdraw(self, *, withdrawn_on: date, reason: dict | None) -> None:
        self._require("applied", "registered", "expired")
        self._not_before_application(withdrawn_on, "withdrawn_on")
        self._withdrawn(withdrawn_on=withdrawn_on, reason=reason,
                        confidentiality_duty=contracts.CONFIDENTIALITY_NOTE)

    @event(RegistrationWithdrawn)
    def _withdrawn(self, withdrawn_on: date, reason: dict | None, confidentiality_duty: str) -> None:
        self.status = "withdrawn"
        self.ended_on = withdrawn_on

    def record_inquiry(self, *, kind: str, held_on: date, findings: dict | None) -> None:
        self._require("registered", "expired")
        if kind not in ("investigation", "interview"):
            raise InvalidInput("kind must be investigation or interview")
        self._not_before_application(held_on, "held_on")
        self._inquiry(kind=kind, held_on=held_on, findings=findings)

    @event(RevocationInquiryRecorded)
    def _inquiry(self, kind: str, held_on: date, findings: dict | None) -> None:
        self.inquiries.add(kind)

    def revoke(self, *, revoked_on: date, grounds: dict) -> None:
        self._require("registered", "expired")
        missing = {"investigation", "interview"} - self.inquiries
        if missing:
            raise RevocationNotPrepared(f"record the {' and the '.join(sorted(missing))} first",
                                        missing=sorted(missing))
        self._not_before_application(revoked_on, "revoked_on")
        self._revoked(revoked_on=revoked_on, grounds=grounds,
                      confidentiality_duty=contracts.CONFIDENTIALITY_NOTE)

    @event(RegistrationRevoked)
    def _revoked(self, revoked_on: date, grounds: dict, confidentiality_duty: str) -> None:
        self.status = "revoked"
        self.ended_on = revoked_on

    def _not_before_application(self, on: date, what: str) -> None:
        """A decision or an ending of a registration comes on or after its application (issue 14)."""
        if on < self.applied_on:
            raise InvalidDates(f"{what} ({on}) is before the application ({self.applied_on})")

    # -- rights of the person ------------------------------------------------------------------
    def suspend_use(self, *, suspended_on: date) -> None:
        self._require_not_erased()
        super().suspend_use(suspended_on=suspended_on)

    @event(SupporterUseSuspended)
    def _use_suspended(self, suspended_on: date) -> None:
        self.use_suspended = True

    @event(SupporterUseResumed)
    def _use_resumed(self, resumed_on: date) -> None:
        self.use_suspended = False

    def erase(self, *, erased_on: date, basis: str) -> None:
        """Only once the registration is over; the registrar then forgets the key."""
        self._require(*ENDED)
        super().erase(erased_on=erased_on, basis=basis)

    @event(SupporterDataErased)
    def _erased(self, erased_on: date, basis: str) -> None:
        self.erased = True

    # -- queries ---------------------------------------------------------------------------------
    def is_current(self, today: date) -> bool:
        """Registered, within the term, the consent not withdrawn and the use not suspended: may go
        on a roster."""
        if self.term_starts_on is None or self.term_ends_on is None:  # never registered
            return False
        return (self.status == "registered" and self.consent_active and not self.use_suspended
                and self.term_starts_on <= today <= self.term_ends_on)

    def _retention_starts_on(self) -> date | None:
        """The end of the application or registration (refused, expired, withdrawn or revoked):
        every roster provision of the supporter came before it."""
        return self.ended_on if self.status in ENDED else None

    def _wrong_status(self, detail: str) -> WrongStatus:
        return WrongStatus(detail, current_status=self.status)

    def _require(self, *statuses: str) -> None:
        if self.status not in statuses:
            raise WrongStatus(f"the supporter is {self.status}; this needs {' or '.join(statuses)}",
                              current_status=self.status)



def _check_term(issued_on: date, not_before: date | None, term_years: int, max_term_years: int) -> None:
    if not 1 <= term_years:
        raise TermTooLong("term_years must be at least 1")
    if term_years > max_term_years:
        raise TermTooLong(f"term of {term_years} years is over the registrar's maximum of {max_term_years}",
                          max_term_years=max_term_years)
    if not_before is not None and issued_on < not_before:
        raise InvalidDates(f"issued_on ({issued_on}) is before {not_before}")
