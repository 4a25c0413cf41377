"""Dispatch: a registered supporter sent to a person who asked (ひきこもりサポーター派遣).

実施要領 第3 3(2)ア: the dispatch starts only with 派遣目的・活動計画・活動内容 made clear and both
sides' consent; the person's wish to stop ends it at once. 要綱例 第11条 (派遣は当事者及び家族の同意が
前提), 第12条 (活動報告書), 資料7 (本人の同意), 資料8 (活動報告書).
"""

from __future__ import annotations

from datetime import date, datetime
from uuid import UUID

from eventsourcing.domain import Aggregate, event

from libs.domain import dispatch as contracts
from libs.domain.errors import DateOutOfOrder
from libs.domain.personal_data import PersonalData
from services.dispatch.domain.errors import (
    ConsentMissing,
    DispatchNotActive,
    DispatchNotReady,
    InvalidDispatchInput,
    WrongDispatchStatus,
)


def _check_codes(values: list[str], allowed: tuple[str, ...], what: str) -> None:
    unknown = sorted(set(values) - set(allowed))
    if unknown:
        raise InvalidDispatchInput(f"unknown {what}: {', '.join(unknown)}", allowed=list(allowed))


# Ends and suspensions that registry's facts about the supporter cause (consumers.py, jobs.py):
# dated by that fact, which the dispatch does not choose.
FROM_OTHER_SERVICES = ("supporter_use_suspended", "supporter_withdrew", "supporter_registration_revoked",
                       "supporter_registration_expired")


class Dispatch(PersonalData, Aggregate):
    DATA_NAME = "the person's data in this dispatch"
    INVALID_INPUT = InvalidDispatchInput

    DispatchRequested = contracts.DispatchRequested
    SubjectDetailsRecorded = contracts.SubjectDetailsRecorded
    SubjectDetailsCorrected = contracts.SubjectDetailsCorrected
    SupporterAssigned = contracts.SupporterAssigned
    SubjectConsented = contracts.SubjectConsented
    SupporterConsented = contracts.SupporterConsented
    ActivityPlanAgreed = contracts.ActivityPlanAgreed
    DispatchStarted = contracts.DispatchStarted
    InformationDisclosed = contracts.InformationDisclosed
    ActivityReported = contracts.ActivityReported
    ReportReviewed = contracts.ReportReviewed
    GuidanceGiven = contracts.GuidanceGiven
    IncidentReported = contracts.IncidentReported
    DispatchSuspended = contracts.DispatchSuspended
    DispatchResumed = contracts.DispatchResumed
    SubjectConsentWithdrawn = contracts.SubjectConsentWithdrawn
    DispatchEnded = contracts.DispatchEnded
    SubjectDataErased = contracts.SubjectDataErased
    SourceErasureNotified = contracts.SourceErasureNotified

    @event(DispatchRequested)
    def __init__(self, id: UUID, tenant: str, subject_ref: str, source: str, requested_by: str,
                 intake_request_id: UUID | None, referring_centre_id: UUID | None, needs: list[str],
                 preferences: dict, requested_on: date) -> None:
        self.tenant = tenant
        self.requested_by = requested_by
        self.referring_centre_id = referring_centre_id
        self.subject_ref = subject_ref
        self.source = source
        self.needs = needs
        self.requested_on = requested_on
        self.status = "requested"
        self.details: dict | None = None
        self.supporter_id: UUID | None = None
        self.supporter_consented = False
        self.consent: dict | None = None  # the person's current consent (資料7)
        self.plan_agreed = False
        self.reports: dict[UUID, str] = {}  # report id → 今後の方針
        self.reviewed: set[UUID] = set()
        self.disclosures = 0
        self.incidents_reported = 0
        self.end_reason: str | None = None
        self.ended_on: date | None = None
        self.erased = False
        # 消去の通知: the day the referring centre erased the person's data while this dispatch ran;
        # None when there is none, or once the dispatch's own data is erased (the task is done).
        self.erasure_at_source: date | None = None
        self.source_erasure_event_id: str | None = None

    @classmethod
    def request(cls, *, id: UUID, tenant: str, subject_ref: str, source: str,
                intake_request_id: UUID | None = None, referring_centre_id: UUID | None = None,
                requested_by: str = "person", needs: list[str], preferences: dict, requested_on: date) -> Dispatch:
        if not needs:
            raise InvalidDispatchInput("a request names at least one need")
        if requested_by not in ("person", "family", "agency"):
            raise InvalidDispatchInput("requested_by must be person, family or agency")
        return cls(id=id, tenant=tenant, subject_ref=subject_ref, source=source, requested_by=requested_by,
                   intake_request_id=intake_request_id, referring_centre_id=referring_centre_id,
                   needs=sorted(set(needs)), preferences=preferences, requested_on=requested_on)

    def shared_with_centre(self, centre_id: str) -> bool:
        """The referring centre follows the dispatch only while the person consents to support
        meetings (資料7: 支援内容や支援方針等を検討するための会議)."""
        return (self.referring_centre_id is not None and str(self.referring_centre_id) == centre_id
                and self.consent is not None and self.consent["support_meetings"])

    # -- preparing (before the start) -------------------------------------------------------------
    def record_subject_details(self, *, details: dict) -> None:
        self._require("requested", "active", "suspended")
        if not details:  # an empty record is no sealed value: it would break the event's schema
            raise InvalidDispatchInput("no details: send at least one of the person's items")
        self._details(details=details)

    @event(SubjectDetailsRecorded)
    def _details(self, details: dict) -> None:
        self.details = details

    def correct_subject_details(self, *, details: dict, corrected_on: date) -> None:
        self._require_not_erased()
        if not details:
            raise InvalidDispatchInput("nothing to correct: send the corrected details")
        self._not_before_request(corrected_on, "corrected_on")
        self._details_corrected(details=details, corrected_on=corrected_on)

    @event(SubjectDetailsCorrected)
    def _details_corrected(self, details: dict, corrected_on: date) -> None:
        self.details = details

    def assign(self, *, supporter_id: UUID, registration_number: str, roster_entry_id: UUID,
               assigned_on: date) -> None:
        self._require("requested")
        self._not_before_request(assigned_on, "assigned_on")
        self._assigned(supporter_id=supporter_id, registration_number=registration_number,
                       roster_entry_id=roster_entry_id, assigned_on=assigned_on)

    @event(SupporterAssigned)
    def _assigned(self, supporter_id: UUID, registration_number: str, roster_entry_id: UUID,
                  assigned_on: date) -> None:
        self.supporter_id = supporter_id
        self.supporter_consented = False  # a new supporter accepts afresh

    def record_subject_consent(self, *, consent_id: UUID, given_by: str, items: list[str],
                               support_meetings: bool, costs_self_paid: bool, signed_on: date) -> None:
        self._require("requested", "active", "suspended")
        if given_by not in contracts.CONSENT_GIVERS:
            raise InvalidDispatchInput(f"given_by must be one of {contracts.CONSENT_GIVERS}")
        _check_codes(items, contracts.DISCLOSURE_ITEMS, "items")
        self._not_before_request(signed_on, "signed_on")
        ordered = [i for i in contracts.DISCLOSURE_ITEMS if i in items]
        self._subject_consented(consent_id=consent_id, given_by=given_by, items=ordered,
                                support_meetings=support_meetings, costs_self_paid=costs_self_paid,
                                signed_on=signed_on, record=contracts.subject_consent_record(
                                    controller=self.tenant, given_by=given_by, items=ordered,
                                    support_meetings=support_meetings, supporter_id=self.supporter_id))

    @event(SubjectConsented)
    def _subject_consented(self, consent_id: UUID, given_by: str, items: list[str], support_meetings: bool,
                           costs_self_paid: bool, signed_on: date, record: dict) -> None:
        self.consent = {"consent_id": consent_id, "items": items, "costs_self_paid": costs_self_paid,
                        "support_meetings": support_meetings}

    def accept_as_supporter(self, *, supporter_id: UUID, accepted_on: date) -> None:
        self._require("requested")
        if self.supporter_id != supporter_id:
            raise WrongDispatchStatus("only the assigned supporter accepts")
        self._not_before_request(accepted_on, "accepted_on")
        self._supporter_consented(supporter_id=supporter_id, accepted_on=accepted_on)

    @event(SupporterConsented)
    def _supporter_consented(self, supporter_id: UUID, accepted_on: date) -> None:
        self.supporter_consented = True

    def agree_plan(self, *, activities: list[str], plan: dict, agreed_on: date) -> None:
        self._require("requested", "active", "suspended")
        if not activities:
            raise InvalidDispatchInput("the plan names at least one activity")
        _check_codes(activities, contracts.ACTIVITY_TYPES, "activities")
        self._not_before_request(agreed_on, "agreed_on")
        self._plan(activities=activities, plan=plan, agreed_on=agreed_on)

    @event(ActivityPlanAgreed)
    def _plan(self, activities: list[str], plan: dict, agreed_on: date) -> None:
        self.plan_agreed = True

    def missing_for_start(self) -> list[str]:
        missing = []
        if self.supporter_id is None:
            missing.append("supporter_assigned")
        if self.consent is None:
            missing.append("subject_consent")
        elif not self.consent["costs_self_paid"]:
            missing.append("subject_consent.costs_self_paid")
        if not self.supporter_consented:
            missing.append("supporter_consent")
        if not self.plan_agreed:
            missing.append("activity_plan")
        return missing

    def start(self, *, started_on: date, supporter_problems: list[str]) -> None:
        self._require("requested")
        self._not_before_request(started_on, "started_on")
        missing = self.missing_for_start() + [f"supporter_eligible: {p}" for p in supporter_problems]
        if missing:
            raise DispatchNotReady(f"missing: {', '.join(missing)}", missing=missing)
        assert self.supporter_id is not None  # nothing missing: missing_for_start() checked it
        self._started(supporter_id=self.supporter_id, started_on=started_on)

    @event(DispatchStarted)
    def _started(self, supporter_id: UUID, started_on: date) -> None:
        self.status = "active"

    # -- while active ---------------------------------------------------------------------------
    def disclose_to_supporter(self, *, supporter_id: UUID, disclosed_at: datetime) -> list[str]:
        """Give the supporter the consented items; each time is a recorded disclosure."""
        self._require_supporter(supporter_id)
        # Not while suspended (休止): the pause stops the support, and so what the supporter may read.
        if self.status != "active":
            raise DispatchNotActive(f"the dispatch is {self.status}")
        # Nor while the municipality decides after the person's erasure at the service that referred
        # them (消去の通知, SourceErasureNotified): the person asked for their data to go; until the
        # municipality has spoken with them, nobody new reads it.
        if self.erasure_at_source is not None:
            raise DispatchNotActive("the person's data was erased at the service that referred them on "
                                    f"{self.erasure_at_source}: not while the municipality decides")
        if self.consent is None or not self.consent["items"]:
            raise ConsentMissing("the person consented to no item being given to the supporter")
        self._disclosed(recipient_supporter_id=supporter_id, items=self.consent["items"],
                        consent_id=self.consent["consent_id"], disclosed_at=disclosed_at)
        return list(self.consent["items"])

    @event(InformationDisclosed)
    def _disclosed(self, recipient_supporter_id: UUID, items: list[str], consent_id: UUID,
                   disclosed_at: datetime) -> None:
        self.disclosures += 1

    def report_activity(self, *, report_id: UUID, supporter_id: UUID, reported_on: date, activity_date: date,
                        starts_at: str, ends_at: str, activity_type: str, activity_type_other: dict | None,
                        next_step: str, next_step_other: dict | None, narrative: dict) -> None:
        """The その他 texts come sealed, like the narrative."""
        self._require_supporter(supporter_id)
        if report_id in self.reports:
            return  # a retry of a report already filed
        if self.status != "active":
            raise DispatchNotActive("activity reports are filed only while the dispatch is active"
                                    f" (it is {self.status})")
        _check_codes([activity_type], contracts.ACTIVITY_TYPES, "activity_type")
        _check_codes([next_step], contracts.NEXT_STEPS, "next_step")
        if activity_type == "other" and not activity_type_other:
            raise InvalidDispatchInput("activity_type other needs activity_type_other (その他の内容)")
        if next_step == "other" and not next_step_other:
            raise InvalidDispatchInput("next_step other needs next_step_other (その他の内容)")
        if ends_at <= starts_at:
            raise InvalidDispatchInput("ends_at must be after starts_at")
        if reported_on < activity_date:
            raise InvalidDispatchInput("reported_on is before the activity")
        self._not_before_request(activity_date, "activity_date")
        self._reported(report_id=report_id, supporter_id=supporter_id, reported_on=reported_on,
                       activity_date=activity_date, starts_at=starts_at, ends_at=ends_at,
                       activity_type=activity_type, activity_type_other=activity_type_other,
                       next_step=next_step, next_step_other=next_step_other, narrative=narrative)

    @event(ActivityReported)
    def _reported(self, report_id: UUID, supporter_id: UUID, reported_on: date, activity_date: date,
                  starts_at: str, ends_at: str, activity_type: str, activity_type_other: dict | None,
                  next_step: str, next_step_other: dict | None, narrative: dict) -> None:
        self.reports[report_id] = next_step

    def review_report(self, *, report_id: UUID, reviewed_on: date) -> None:
        if report_id not in self.reports:
            raise InvalidDispatchInput("no such report on this dispatch")
        self._not_before_request(reviewed_on, "reviewed_on")
        if report_id not in self.reviewed:
            self._reviewed(report_id=report_id, reviewed_on=reviewed_on)

    @event(ReportReviewed)
    def _reviewed(self, report_id: UUID, reviewed_on: date) -> None:
        self.reviewed.add(report_id)

    def give_guidance(self, *, given_by: str, given_on: date, guidance: dict) -> None:
        self._require("requested", "active", "suspended")
        if given_by not in ("municipal_officer", "centre"):
            raise InvalidDispatchInput("given_by must be municipal_officer or centre")
        self._not_before_request(given_on, "given_on")
        self._guidance(given_by=given_by, given_on=given_on, guidance=guidance)

    @event(GuidanceGiven)
    def _guidance(self, given_by: str, given_on: date, guidance: dict) -> None:
        pass

    def report_incident(self, *, incident_id: UUID, occurred_on: date, severity: str, account: dict) -> None:
        self._require("active", "suspended", "ended")
        _check_codes([severity], contracts.INCIDENT_SEVERITIES, "severity")
        self._not_before_request(occurred_on, "occurred_on")
        self._incident(incident_id=incident_id, occurred_on=occurred_on, severity=severity, account=account)

    @event(IncidentReported)
    def _incident(self, incident_id: UUID, occurred_on: date, severity: str, account: dict) -> None:
        self.incidents_reported += 1

    def suspend(self, *, reason: str, suspended_on: date, note: dict | None = None) -> None:
        """`note` (free text about why) comes sealed; the reason is a code."""
        self._require("active")
        _check_codes([reason], contracts.SUSPENSION_REASONS, "reason")
        if reason not in FROM_OTHER_SERVICES:
            self._not_before_request(suspended_on, "suspended_on")
        self._suspended(reason=reason, note=note, suspended_on=suspended_on)

    @event(DispatchSuspended)
    def _suspended(self, reason: str, note: dict | None, suspended_on: date) -> None:
        self.status = "suspended"

    def resume(self, *, resumed_on: date, supporter_problems: list[str]) -> None:
        self._require("suspended")
        self._not_before_request(resumed_on, "resumed_on")
        if supporter_problems:
            raise DispatchNotReady(f"the supporter may not act: {', '.join(supporter_problems)}",
                                   missing=supporter_problems)
        self._resumed(resumed_on=resumed_on)

    @event(DispatchResumed)
    def _resumed(self, resumed_on: date) -> None:
        self.status = "active"

    # -- endings --------------------------------------------------------------------------------
    def withdraw_subject_consent(self, *, withdrawn_on: date) -> None:
        if self.consent is None:
            raise ConsentMissing("there is no consent to withdraw")
        self._not_before_request(withdrawn_on, "withdrawn_on")
        self._consent_withdrawn(consent_id=self.consent["consent_id"], withdrawn_on=withdrawn_on)
        self.end(reason="subject_consent_withdrawn", ended_on=withdrawn_on)

    @event(SubjectConsentWithdrawn)
    def _consent_withdrawn(self, consent_id: UUID, withdrawn_on: date) -> None:
        self.consent = None  # no further disclosure

    def end(self, *, reason: str, ended_on: date, cause_event_id: str | None = None) -> bool:
        """End the dispatch; False (and nothing recorded) when it had ended already."""
        if reason not in contracts.END_REASONS:
            raise InvalidDispatchInput(f"reason must be one of {contracts.END_REASONS}")
        if self.status == "ended":
            return False
        if reason not in FROM_OTHER_SERVICES:
            self._not_before_request(ended_on, "ended_on")
        self._ended(reason=reason, ended_on=ended_on, supporter_id=self.supporter_id,
                    cause_event_id=cause_event_id)
        return True

    @event(DispatchEnded)
    def _ended(self, reason: str, ended_on: date, supporter_id: UUID | None, cause_event_id: str | None) -> None:
        self.status = "ended"
        self.end_reason = reason
        self.ended_on = ended_on

    def erase(self, *, erased_on: date, basis: str, cause: str | None = None,
              cause_event_id: str | None = None) -> None:
        """`cause` and `cause_event_id`: another service's event that made dispatch erase
        (consumers.py), None when the municipality decided."""
        self._require("ended")
        if self.ended_on is not None and erased_on < self.ended_on:
            raise DateOutOfOrder(f"erased_on ({erased_on}) is before the dispatch ended ({self.ended_on})")
        if cause is not None and cause not in contracts.ERASURE_CAUSES:
            raise InvalidDispatchInput(f"cause must be one of {contracts.ERASURE_CAUSES}")
        self._check_erasure(basis)
        self._erased(erased_on=erased_on, basis=basis, cause=cause, cause_event_id=cause_event_id)

    @event(SubjectDataErased)
    def _erased(self, erased_on: date, basis: str, cause: str | None = None,
                cause_event_id: str | None = None) -> None:
        self.erased = True
        self.erasure_at_source = None  # the municipality's erasure task is done

    def erased_with_the_source(self) -> bool:
        """Whether an erasure granted at the referring centre erases this dispatch's data too,
        without the municipality deciding: only once the dispatch ended, and not when an incident
        was reported on it (実施要領: 派遣時の事故等…報告体制; the municipality may have to keep
        the account). Otherwise it is told (notice_source_erasure) and decides."""
        return self.status == "ended" and not self.incidents_reported

    def notice_source_erasure(self, *, source: str, cause_event_id: str, erased_at_source_on: date,
                              notified_on: date) -> bool:
        """消去の通知 from the service that referred the person, while the dispatch runs: the
        municipality decides. False (nothing recorded) when erased already or noticed already."""
        if self.erased or self.source_erasure_event_id == cause_event_id:
            return False
        self._source_erasure_notified(source=source, cause_event_id=cause_event_id,
                                      erased_at_source_on=erased_at_source_on, notified_on=notified_on)
        return True

    @event(SourceErasureNotified)
    def _source_erasure_notified(self, source: str, cause_event_id: str, erased_at_source_on: date,
                                 notified_on: date) -> None:
        self.erasure_at_source = erased_at_source_on
        self.source_erasure_event_id = cause_event_id

    def _retention_starts_on(self) -> date | None:
        """The end of the dispatch: every disclosure to the supporter came before it."""
        return self.ended_on if self.status == "ended" else None

    def _wrong_status(self, detail: str) -> WrongDispatchStatus:
        return WrongDispatchStatus(detail, current_status=self.status)

    # -- helpers --------------------------------------------------------------------------------
    def open_tasks(self) -> list[UUID]:
        """Reports whose 今後の方針 is 中断・終了・その他 and that no officer has reviewed."""
        return [r for r, step in self.reports.items() if step != "continue" and r not in self.reviewed]

    def _require(self, *statuses: str) -> None:
        if self.status not in statuses:
            raise WrongDispatchStatus(f"the dispatch is {self.status}; this needs {' or '.join(statuses)}",
                                      current_status=self.status)

    def _not_before_request(self, on: date, what: str) -> None:
        """Whatever a person records on a dispatch happens on or after the day it was requested
        (issue 14: an end dated before the request was stored). What other services' events
        cause (a registration that ended, a supporter's use suspended) is their fact, as dated."""
        if on < self.requested_on:
            raise DateOutOfOrder(f"{what} ({on}) is before the dispatch was requested ({self.requested_on})")

    def _require_supporter(self, supporter_id: UUID) -> None:
        if self.supporter_id != supporter_id:
            raise WrongDispatchStatus("only the assigned supporter may do this")
