"""What dispatch does with other services' events.

REGISTRY: roster provisions become the municipality's roster entries (receipt records); a
supporter's withdrawal, revocation, expiry or consent withdrawal ends the registration on every
entry and ends every running dispatch and deployment of that supporter at once. We end rather than suspend:
the supporter may no longer act or receive anyone's information, and a replacement supporter
needs a new assignment and a new acceptance anyway, which a fresh request models honestly.
INTAKE: a person's SupporterRequested becomes a DispatchRequested of that municipality; places,
programmes and agencies become the targets a supporter can be deployed to.
Each effect is saved with the stream position in one transaction (ProcessHandler), and every
step is idempotent in the domain too, so a message delivered twice ends a dispatch once.
"""

from __future__ import annotations

from datetime import date, timedelta
from typing import Any
from uuid import UUID

from libs.platform.messaging.cloudevents import Envelope
from libs.platform.messaging.consumer import Handler
from libs.platform.messaging.process import ProcessHandler
from libs.platform.runtime import Runtime
from libs.platform.messaging.streams import STREAMS, StreamSpec
from services.dispatch.application import DispatchApplication, dispatch_id_for_intake_request
from services.dispatch.domain.deployment import Deployment
from services.dispatch.domain.dispatch import Dispatch
from services.dispatch.domain.roster_entry import RosterEntry
from services.dispatch.projections import DeploymentTargets, DispatchReadModel
from services.dispatch.queries import (
    entries_of_supporter,
    running_deployments_of_supporter,
    running_deployments_to,
    running_dispatches_of_supporter,
)

# Registry event → (why the registration ended, the data field with its date, days to add,
# the DispatchEnded reason).
ENDINGS = {
    "RegistrationWithdrawn": ("withdrawn", "withdrawn_on", 0, "supporter_withdrew"),
    "RegistrationRevoked": ("revoked", "revoked_on", 0, "supporter_registration_revoked"),
    "RegistrationExpired": ("expired", "term_ended_on", 1, "supporter_registration_expired"),
    "RegistrationConsentWithdrawn": ("consent_withdrawn", "withdrawn_on", 0, "supporter_withdrew"),
}

# Why the registration ended → the DeploymentEnded reason.
DEPLOYMENT_END = {"withdrawn": "supporter_withdrew", "revoked": "supporter_registration_revoked",
                  "expired": "supporter_registration_expired", "consent_withdrawn": "supporter_withdrew"}


class Policies:
    def __init__(self, runtime: Runtime) -> None:
        self.runtime = runtime
        self.app: DispatchApplication = runtime.application

    def registry(self, e: Envelope) -> list[Any]:
        if e.name == "RosterProvided":
            return self._roster_provided(e)
        if e.name == "RegistrationRenewed":
            return self._each_entry(e.subject, lambda entry: entry.renew_term(
                term_ends_on=date.fromisoformat(e.data["term_ends_on"])))
        if e.name in ENDINGS:
            return self._registration_ended(e)
        if e.name == "SupporterUseSuspended":
            return self._use_suspended(e)
        if e.name == "SupporterUseResumed":
            return self._each_entry(e.subject, lambda entry: entry.resume_use(
                resumed_on=date.fromisoformat(e.data["resumed_on"]), cause_event_id=e.id))
        return []

    def intake(self, e: Envelope) -> list[Any]:
        if e.name in ("PlaceClosed", "ProgrammeEnded"):
            return self._target_closed(e)
        if e.name != "SupporterRequested":
            return []
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

    def _registration_ended(self, e: Envelope) -> list[Any]:
        why, field, days, end_reason = ENDINGS[e.name]
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

    def _target_closed(self, e: Envelope) -> list[Any]:
        """A place closed or a programme ended: supporters deployed there stop that day."""
        on = date.fromisoformat(e.data.get("closed_on") or e.data["ended_on"])
        self.runtime.catch_up()
        changed = []
        for deployment_id in running_deployments_to(self.runtime.engine, e.subject):
            deployment = self.app.existing(Deployment, deployment_id)
            if deployment.end(reason="target_closed", ended_on=on, cause_event_id=e.id):
                changed.append(deployment)
        return changed

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

    def _each_entry(self, supporter_id: str, command) -> list[Any]:  # noqa: ANN001
        self.runtime.catch_up()  # entries recorded by earlier messages are in the read model
        entries = [self.app.existing(RosterEntry, i) for i in entries_of_supporter(self.runtime.engine, supporter_id)]
        for entry in entries:
            command(entry)
        return entries


def make_consumers(runtime: Runtime) -> list[tuple[StreamSpec, Handler]]:
    policies = Policies(runtime)
    return [
        (STREAMS["registry"], ProcessHandler("dispatch", runtime.application, policies.registry)),
        (STREAMS["intake"], ProcessHandler("dispatch", runtime.application, policies.intake)),
        (STREAMS["intake"], DeploymentTargets(runtime.engine)),
    ]


def make_read_models(runtime: Runtime) -> list[Handler]:
    return [DispatchReadModel(runtime.engine)]
