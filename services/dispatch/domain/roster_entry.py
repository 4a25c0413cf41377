"""RosterEntry: a supporter on a municipality's roster (名簿管理, 実施要領 第3 3(2)イ).

The municipality receives the entry from the registrar (RosterProvided on REGISTRY), re-confirms
the supporter's intent to act, and learns when the registration ends.
"""

from __future__ import annotations

from datetime import date
from uuid import UUID

from eventsourcing.domain import Aggregate, event

from libs.domain import dispatch as contracts
from libs.domain.contracts import derived_id


class RosterEntry(Aggregate):
    RosterReceived = contracts.RosterReceived
    RosterEntryRefreshed = contracts.RosterEntryRefreshed
    SupporterIntentReconfirmed = contracts.SupporterIntentReconfirmed
    SupporterTermRenewed = contracts.SupporterTermRenewed
    SupporterRegistrationEnded = contracts.SupporterRegistrationEnded
    SupporterUseSuspensionReceived = contracts.SupporterUseSuspensionReceived
    SupporterUseResumptionReceived = contracts.SupporterUseResumptionReceived

    @staticmethod
    def id_for(municipality: str, supporter_id: UUID | str) -> UUID:
        return derived_id("roster-entry", municipality, supporter_id)

    @event(RosterReceived)
    def __init__(self, id: UUID, tenant: str, supporter_id: UUID, registrar: str, roster_id: UUID,
                 registration_number: str, term_ends_on: date, consent_id: UUID, received_on: date) -> None:
        self.tenant = tenant
        self.supporter_id = supporter_id
        self.registrar = registrar
        self.intent_reconfirmed_on: date | None = None
        self.ended: str | None = None
        self.use_suspended = False
        self._receive(roster_id, registration_number, term_ends_on, consent_id, received_on)

    def _receive(self, roster_id: UUID, registration_number: str, term_ends_on: date, consent_id: UUID,
                 received_on: date) -> None:
        self.roster_id = roster_id
        self.registration_number = registration_number
        self.term_ends_on = term_ends_on
        self.consent_id = consent_id
        self.received_on = received_on

    @classmethod
    def receive(cls, *, tenant: str, supporter_id: UUID, registrar: str, roster_id: UUID,
                registration_number: str, term_ends_on: date, consent_id: UUID,
                received_on: date) -> RosterEntry:
        return cls(id=cls.id_for(tenant, supporter_id), tenant=tenant, supporter_id=supporter_id,
                   registrar=registrar, roster_id=roster_id, registration_number=registration_number,
                   term_ends_on=term_ends_on, consent_id=consent_id, received_on=received_on)

    def refresh(self, *, roster_id: UUID, registration_number: str, term_ends_on: date, consent_id: UUID,
                received_on: date) -> None:
        if roster_id == self.roster_id:
            return
        self._refresh(roster_id=roster_id, registration_number=registration_number,
                      term_ends_on=term_ends_on, consent_id=consent_id, received_on=received_on)

    @event(RosterEntryRefreshed)
    def _refresh(self, roster_id: UUID, registration_number: str, term_ends_on: date, consent_id: UUID,
                 received_on: date) -> None:
        self._receive(roster_id, registration_number, term_ends_on, consent_id, received_on)
        self.ended = None  # a new provision rests on a current registration and consent

    def reconfirm_intent(self, *, confirmed_on: date) -> None:
        self._reconfirm(confirmed_on=confirmed_on)

    @event(SupporterIntentReconfirmed)
    def _reconfirm(self, confirmed_on: date) -> None:
        self.intent_reconfirmed_on = confirmed_on

    def renew_term(self, *, term_ends_on: date) -> None:
        if term_ends_on != self.term_ends_on:
            self._renew(term_ends_on=term_ends_on)

    @event(SupporterTermRenewed)
    def _renew(self, term_ends_on: date) -> None:
        self.term_ends_on = term_ends_on
        if self.ended == "expired":  # 再登録 lifts an expiry, never a withdrawal or revocation
            self.ended = None

    def end_registration(self, *, reason: str, effective_on: date, cause_event_id: str) -> bool:
        """Record once that the registration ended; False if it had ended already."""
        if self.ended is not None:
            return False
        self._end(reason=reason, effective_on=effective_on, cause_event_id=cause_event_id)
        return True

    @event(SupporterRegistrationEnded)
    def _end(self, reason: str, effective_on: date, cause_event_id: str) -> None:
        self.ended = reason

    def suspend_use(self, *, suspended_on: date, cause_event_id: str) -> bool:
        """Record once that the supporter asked for 利用停止; False if it was suspended already."""
        if self.use_suspended:
            return False
        self._use_suspended(suspended_on=suspended_on, cause_event_id=cause_event_id)
        return True

    @event(SupporterUseSuspensionReceived)
    def _use_suspended(self, suspended_on: date, cause_event_id: str) -> None:
        self.use_suspended = True

    def resume_use(self, *, resumed_on: date, cause_event_id: str) -> None:
        if self.use_suspended:
            self._use_resumed(resumed_on=resumed_on, cause_event_id=cause_event_id)

    @event(SupporterUseResumptionReceived)
    def _use_resumed(self, resumed_on: date, cause_event_id: str) -> None:
        self.use_suspended = False

    def eligibility_problems(self, today: date) -> list[str]:
        """Why this supporter may not be dispatched today (empty when eligible)."""
        problems = []
        if self.ended is not None:
            problems.append(f"registration ended ({self.ended})")
        if self.term_ends_on < today:
            problems.append(f"registration term ended on {self.term_ends_on}")
        if self.use_suspended:
            problems.append("the supporter asked to suspend the use of their data (利用停止)")
        if self.intent_reconfirmed_on is None:
            problems.append("intent to act not re-confirmed by the municipality (名簿管理)")
        return problems
