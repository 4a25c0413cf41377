"""What dispatch does with other services' events.

REGISTRY: roster provisions become the municipality's roster entries (receipt records); a
supporter's withdrawal, revocation, expiry or consent withdrawal ends the registration on every
entry and ends every running dispatch and deployment of that supporter at once. We end rather than suspend:
the supporter may no longer act or receive anyone's information, and a replacement supporter
needs a new assignment and a new acceptance anyway, which a fresh request models honestly.
INTAKE: a person's SupporterRequested becomes a DispatchRequested of that municipality; their
erasure (SubjectErased, granted on request) erases their ended dispatches and notifies the
municipality of running ones and of those with an incident (README "Erasure across services"); places,
programmes and agencies become the targets a supporter can be deployed to (DeploymentTargets; its
table is in read_models.py, beside the others queries.py reads).
Policies and targets are chosen by event class (FROM_REGISTRY, FROM_INTAKE, TARGETS), each table
with the events it ignores and why (tests/contract/test_handlers.py holds them to the streams).
Each effect is saved with the stream position in one transaction (ProcessHandler), and every
step is idempotent in the domain too, so a message delivered twice ends a dispatch once.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import date, timedelta
from typing import Any
from uuid import UUID

from sqlalchemy import Connection

from libs.domain import audit, intake, registry
from libs.domain.contracts import Contract
from libs.platform.messaging.cloudevents import Envelope
from libs.platform.messaging.consumer import Handler
from libs.platform.messaging.handlers import EventHandlers
from libs.platform.messaging.process import ProcessHandler
from libs.platform.messaging.streams import STREAMS, StreamSpec
from libs.platform.readmodels.projection import ProjectionHandler, SqlProjection
from libs.platform.runtime import Runtime
from services.dispatch.application import DispatchApplication, dispatch_id_for_intake_request
from services.dispatch.domain.deployment import Deployment
from services.dispatch.domain.dispatch import Dispatch
from services.dispatch.domain.roster_entry import RosterEntry
from services.dispatch.queries import (
    entries_of_supporter,
    intake_dispatches_of_subject,
    running_deployments_of_supporter,
    running_deployments_to,
    running_dispatches_of_supporter,
)
from services.dispatch.read_models import targets, targets_metadata

# Registry event → (why the registration ended, the data field with its date, days to add,
# the DispatchEnded reason).
ENDINGS: dict[type[Contract], tuple[str, str, int, str]] = {
    registry.RegistrationWithdrawn: ("withdrawn", "withdrawn_on", 0, "supporter_withdrew"),
    registry.RegistrationRevoked: ("revoked", "revoked_on", 0, "supporter_registration_revoked"),
    registry.RegistrationExpired: ("expired", "term_ended_on", 1, "supporter_registration_expired"),
    registry.RegistrationConsentWithdrawn: ("consent_withdrawn", "withdrawn_on", 0, "supporter_withdrew"),
}

# Why the registration ended → the DeploymentEnded reason.
DEPLOYMENT_END = {"withdrawn": "supporter_withdrew", "revoked": "supporter_registration_revoked",
                  "expired": "supporter_registration_expired", "consent_withdrawn": "supporter_withdrew"}

# A person's case work at a centre: dispatch only hears of it when the centre asks for a supporter.
_CASEWORK = (
    intake.CaseOpened, intake.ConsultationRecorded, intake.ConsultationVoided, intake.OutreachVisitRecorded,
    intake.InfoSharingConsented, intake.InfoSharingWithdrawn, intake.CaseInfoDisclosed, intake.ReferralMade,
    intake.ReferralFollowedUp, intake.SupportDecided, intake.ReferralDeclined, intake.ReferralClosed,
    intake.SupportMeetingHeld, intake.CaseClosed, intake.CaseReopened,
    intake.PersonalDetailsCorrected, intake.UseSuspended, intake.UseResumed, intake.RightsRequestReceived,
    intake.RightsRequestAnswered,
)
_CENTRES = (intake.CentreRegistered, intake.CentreDatesChanged, intake.CentreProfileSet, intake.CentreStaffingSet,
            intake.BackOfficeSupportGiven, intake.PrefecturalBackupGiven)
_AUDITED = "another service's access log is that service's own"

Policy = Callable[["Policies", Envelope], list[Any]]
FROM_REGISTRY: EventHandlers[Policy] = EventHandlers("registry", ignored={
    "the registrar's set-up and training do not change who may be dispatched":
        (registry.RegistrarOpened, registry.RegistrarConfigured, registry.NumberAllocated,
         registry.TrainingCourseScheduled, registry.TrainingAttended, registry.TrainingCompleted,
         registry.ContinuingTrainingAttended),
    "a supporter reaches dispatch only through a roster provision (RosterProvided)":
        (registry.RegistrationApplied, registry.RegistrationConsented, registry.ScreeningRecorded,
         registry.SupporterRegistered, registry.RegistrationRefused, registry.RevocationInquiryRecorded),
    "the supporter's personal details stay at the registry; roster entries hold ids and numbers only":
        (registry.SupporterDetailsChanged, registry.SupporterDataErased),
    _AUDITED: (audit.PersonalDataAccessed,),
})
FROM_INTAKE: EventHandlers[Policy] = EventHandlers("intake", ignored={
    "case work is the centre's; only SupporterRequested asks dispatch for something, and an "
    "erasure (SubjectErased) reaches the person's dispatches": _CASEWORK,
    "centres and the prefecture's backup are no deployment's concern": _CENTRES,
    "targets opening or changing are DeploymentTargets' (their table), not a command":
        (intake.AgencyRegistered, intake.PlaceOpened, intake.ProgrammeStarted, intake.ProgrammeChanged,
         intake.ProgrammeOperatorAccepted),
    "a declined programme never ran: nobody was deployed to it": (intake.ProgrammeOperatorDeclined,),
    "activities held at places and programmes are reported by the deployed supporter":
        (intake.PlaceSessionHeld, intake.GroupActivityHeld),
    _AUDITED: (audit.PersonalDataAccessed,),
})


class Policies:
    def __init__(self, runtime: Runtime) -> None:
        self.runtime = runtime
        self.app: DispatchApplication = runtime.application

    def after_registry_event(self, e: Envelope) -> list[Any]:
        policy = FROM_REGISTRY.handler_for(e)
        return [] if policy is None else policy(self, e)

    def after_intake_event(self, e: Envelope) -> list[Any]:
        policy = FROM_INTAKE.handler_for(e)
        return [] if policy is None else policy(self, e)

    @FROM_INTAKE.on(intake.SupporterRequested)
    def _supporter_requested(self, e: Envelope) -> list[Any]:
        d = e.data
        dispatch_id = dispatch_id_for_intake_request(d["request_id"])
        if self.app.existing(Dispatch, dispatch_id) is not None:
            return []
        return [Dispatch.request(
            id=dispatch_id, tenant=d["municipality"], subject_ref=d["subject_ref"], source="intake",
            intake_request_id=UUID(d["request_id"]), referring_centre_id=UUID(d["centre_id"]),
            requested_by=d["requested_by"],
            needs=d["needs"], preferences=d["preferences"],
            requested_on=date.fromisoformat(d["requested_on"]))]

    @FROM_INTAKE.on(intake.SubjectErased)
    def _subject_erased(self, e: Envelope) -> list[Any]:
        """Erasure across services (README): the person's erasure at the centre reaches every
        dispatch the centre asked for them (same subject_ref). Granted on the person's request, it
        erases an ended dispatch and notifies the municipality of a running one (or one with an
        incident reported: Dispatch.erased_with_the_source); intake's own
        retention ending says nothing of dispatch's, whose retention job keeps its own period."""
        d = e.data
        if d["basis"] != "request_granted":
            return []
        self.runtime.catch_up()  # dispatches requested by earlier messages are in the read model
        return self.app.follow_source_erasure(
            intake_dispatches_of_subject(self.runtime.engine, d["subject_ref"]), source="intake", cause_event_id=e.id,
            erased_at_source_on=date.fromisoformat(d["erased_on"]))

    @FROM_REGISTRY.on(registry.RosterProvided)
    def _roster_provided(self, e: Envelope) -> list[Any]:
        d = e.data
        changed = []
        for item in d["entries"]:
            values = {"roster_id": UUID(e.subject), "registration_number": item["registration_number"],
                      "term_ends_on": date.fromisoformat(item["term_ends_on"]),
                      "consent_id": UUID(item["consent_id"]), "received_on": date.fromisoformat(d["provided_on"])}
            entry = self.app.existing(RosterEntry, RosterEntry.id_for(d["recipient"], item["supporter_id"]))
            if entry is None:
                entry = RosterEntry.receive(tenant=d["recipient"], supporter_id=UUID(item["supporter_id"]),
                                            registrar=e.tenant, **values)
            else:
                entry.refresh(**values)
            changed.append(entry)
        return changed

    @FROM_REGISTRY.on(registry.RegistrationRenewed)
    def _registration_renewed(self, e: Envelope) -> list[Any]:
        return self._each_entry(e.subject, lambda entry: entry.renew_term(
            term_ends_on=date.fromisoformat(e.data["term_ends_on"])))

    def _registration_ended(self, e: Envelope, why: str, field: str, days: int, end_reason: str) -> list[Any]:
        effective = date.fromisoformat(e.data[field]) + timedelta(days=days)
        changed = self._each_entry(e.subject, lambda entry: entry.end_registration(
            reason=why, effective_on=effective, cause_event_id=e.id))
        for dispatch_id in running_dispatches_of_supporter(self.runtime.engine, e.subject):
            dispatch = self.app.existing(Dispatch, dispatch_id)
            if dispatch.end(reason=end_reason, ended_on=effective, cause_event_id=e.id):
                changed.append(dispatch)
        for deployment_id in running_deployments_of_supporter(self.runtime.engine, e.subject):
            deployment = self.app.existing(Deployment, deployment_id)
            if deployment.end(reason=DEPLOYMENT_END[why], ended_on=effective, cause_event_id=e.id):
                changed.append(deployment)
        return changed

    @FROM_INTAKE.on(intake.PlaceClosed, intake.ProgrammeEnded, intake.AgencyRetired)
    def _target_closed(self, e: Envelope) -> list[Any]:
        """A place closed, a programme ended or an agency retired: supporters deployed there stop
        that day."""
        on = date.fromisoformat(e.data.get("closed_on") or e.data.get("retired_on") or e.data["ended_on"])
        self.runtime.catch_up()
        changed = []
        for deployment_id in running_deployments_to(self.runtime.engine, e.subject):
            deployment = self.app.existing(Deployment, deployment_id)
            if deployment.end(reason="target_closed", ended_on=on, cause_event_id=e.id):
                changed.append(deployment)
        return changed

    @FROM_REGISTRY.on(registry.SupporterUseSuspended)
    def _use_suspended(self, e: Envelope) -> list[Any]:
        """利用停止: the entries stop being usable; running dispatches are suspended (resumable once
        use resumes) and deployments end."""
        on = date.fromisoformat(e.data["suspended_on"])
        changed = self._each_entry(e.subject, lambda entry: entry.suspend_use(suspended_on=on, cause_event_id=e.id))
        for dispatch_id in running_dispatches_of_supporter(self.runtime.engine, e.subject):
            dispatch = self.app.existing(Dispatch, dispatch_id)
            if dispatch.status == "active":
                dispatch.suspend(reason="supporter_use_suspended", suspended_on=on)
                changed.append(dispatch)
        for deployment_id in running_deployments_of_supporter(self.runtime.engine, e.subject):
            deployment = self.app.existing(Deployment, deployment_id)
            if deployment.end(reason="supporter_use_suspended", ended_on=on, cause_event_id=e.id):
                changed.append(deployment)
        return changed

    @FROM_REGISTRY.on(registry.SupporterUseResumed)
    def _use_resumed(self, e: Envelope) -> list[Any]:
        return self._each_entry(e.subject, lambda entry: entry.resume_use(
            resumed_on=date.fromisoformat(e.data["resumed_on"]), cause_event_id=e.id))

    def _each_entry(self, supporter_id: str, command) -> list[Any]:
        self.runtime.catch_up()  # entries recorded by earlier messages are in the read model
        entries = [self.app.existing(RosterEntry, i) for i in entries_of_supporter(self.runtime.engine, supporter_id)]
        for entry in entries:
            command(entry)
        return entries


# -- where supporters can be deployed, as INTAKE publishes it (public directory data only) -------
TARGETS: EventHandlers[ProjectionHandler] = EventHandlers("intake", ignored={
    "case work is the centre's; a person's request and erasure are policies' (FROM_INTAKE)":
        (*_CASEWORK, intake.SupporterRequested, intake.SubjectErased),
    "centres and the prefecture's backup are not deployment targets": _CENTRES,
    "what is held at a target, or a change of its programme, does not change where one may go":
        (intake.PlaceSessionHeld, intake.GroupActivityHeld, intake.ProgrammeChanged),
    "a declined programme was never opened as a target (kept closed since ProgrammeStarted)":
        (intake.ProgrammeOperatorDeclined,),
    _AUDITED: (audit.PersonalDataAccessed,),
})


class DeploymentTargets(SqlProjection):
    name = "dispatch-targets"
    handlers = TARGETS
    pass_by_unhandled = True  # most of INTAKE (case work) is no target's: passed by, not a transaction each

    def __init__(self, engine) -> None:
        super().__init__(engine, targets_metadata)


def _add_target(conn: Connection, target_id: str, kind: str, name: str, local_governments: set[str],
                closed: bool = False) -> None:
    conn.execute(targets.insert().values(target_id=target_id, kind=kind, name=name,
                                         local_governments=" ".join(sorted(local_governments)), closed=closed))


@TARGETS.on(intake.PlaceOpened)
def _place_opened(conn: Connection, e: Envelope) -> None:
    _add_target(conn, e.subject, "place", e.data["name"], {e.data["municipality"], e.tenant})


@TARGETS.on(intake.ProgrammeStarted)
def _programme_started(conn: Connection, e: Envelope) -> None:
    """A programme waiting for a named operator's acceptance is kept closed until it runs."""
    _add_target(conn, e.subject, "programme", e.data["name"], set(e.data["operators"]),
                closed=bool(e.data.get("invited")))  # v1 events named no invitee


@TARGETS.on(intake.ProgrammeOperatorAccepted)
def _programme_operator_accepted(conn: Connection, e: Envelope) -> None:
    conn.execute(targets.update().where(targets.c.target_id == e.subject).values(
        local_governments=" ".join(sorted(e.data["operators"])), closed=bool(e.data["invited"])))


@TARGETS.on(intake.AgencyRegistered)
def _agency_registered(conn: Connection, e: Envelope) -> None:
    _add_target(conn, e.subject, "agency", e.data["name"], {e.data["municipality"]})


@TARGETS.on(intake.ProgrammeEnded, intake.PlaceClosed, intake.AgencyRetired)
def _target_closed(conn: Connection, e: Envelope) -> None:
    conn.execute(targets.update().where(targets.c.target_id == e.subject).values(closed=True))


# -- the policies' registrations that are not a method of their own -------------------------------
def _ending(why: str, field: str, days: int, end_reason: str) -> Policy:
    def end_registration(policies: Policies, e: Envelope) -> list[Any]:
        return policies._registration_ended(e, why, field, days, end_reason)
    return end_registration


for _registry_event, _how in ENDINGS.items():
    FROM_REGISTRY.on(_registry_event)(_ending(*_how))


def make_consumers(runtime: Runtime) -> list[tuple[StreamSpec, Handler]]:
    policies = Policies(runtime)
    return [
        (STREAMS["registry"], ProcessHandler("dispatch", runtime.application, policies.after_registry_event,
                                             changes=FROM_REGISTRY.handles)),
        (STREAMS["intake"], ProcessHandler("dispatch", runtime.application, policies.after_intake_event,
                                           changes=FROM_INTAKE.handles)),
        (STREAMS["intake"], DeploymentTargets(runtime.engine)),
    ]
