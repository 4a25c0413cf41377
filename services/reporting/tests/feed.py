"""Envelopes built with the contracts' field names, applied straight to the projection.

Each stream gets the next position, as the consumer runner would give it. `data` must carry
exactly the fields of the libs/domain contract, so these tests read what real envelopes carry.
"""

from __future__ import annotations

import importlib
from collections import Counter
from uuid import uuid4

from libs.platform.messaging.cloudevents import Envelope
from libs.platform.readmodels.projection import SqlProjection

STREAM = {"intake": "INTAKE", "registry": "REGISTRY", "dispatch": "DISPATCH"}
_NOT_DATA = {"originator_id", "originator_version", "timestamp", "originator_topic"}


def contract_fields(context: str, name: str) -> set[str]:
    contract = getattr(importlib.import_module(f"libs.domain.{context}"), name)
    hints: dict[str, object] = {}
    for klass in reversed(contract.__mro__):
        hints.update(getattr(klass, "__annotations__", {}))
    return {k for k, v in hints.items() if "ClassVar" not in str(v) and k not in _NOT_DATA}


def noon(day: str) -> str:
    """The envelope time of a fact recorded on the day it happened (JST)."""
    return f"{day}T12:00:00+09:00"


class Feed:
    def __init__(self, projection: SqlProjection) -> None:
        self.projection = projection
        self.positions: Counter[str] = Counter()
        self.centre_tenant: dict[str, str] = {}
        self.case_centre: dict[str, str] = {}
        self.log: list[tuple[str, Envelope]] = []  # (stream, envelope) in the order sent
        # Batched: each stream's envelopes applied `batch` at a time (apply_batch, as a consumer
        # runner catching up does), the rest by `flush`; None: each one as it is sent.
        self.batch: int | None = None
        self._held: dict[str, list[tuple[Envelope, int]]] = {}

    def _apply(self, envelope: Envelope, stream: str, position: int) -> None:
        if self.batch is None:
            self.projection.apply(envelope, stream, position)
            return
        held = self._held.setdefault(stream, [])
        held.append((envelope, position))
        if len(held) >= self.batch:
            self.flush()

    def flush(self) -> None:
        """Apply what is held, one batch per stream."""
        for stream, held in self._held.items():
            if held:
                self.projection.apply_batch([e for e, _ in held], stream, held[-1][1])
                held.clear()

    def replay(self) -> None:
        """Every envelope sent so far again, each stream from position 1 (after a rebuild)."""
        self.flush()
        positions: Counter[str] = Counter()
        for stream, envelope in self.log:
            positions[stream] += 1
            self._apply(envelope, stream, positions[stream])
        self.flush()

    def send(self, context: str, name: str, subject: str, data: dict, *, tenant: str, time: str) -> Envelope:
        missing_or_extra = set(data) ^ contract_fields(context, name)
        assert not missing_or_extra, f"{name}: not the contract's fields: {missing_or_extra}"
        stream = STREAM[context]
        self.positions[stream] += 1
        envelope = Envelope(
            id=str(uuid4()), source=f"/tsunagu/{context}", type=f"jp.tsunagu.{context}.{name}.v1",
            subject=subject, time=time, tenant=tenant, sequence=self.positions[stream],
            aggregate=name.lower(), data=data)
        self._apply(envelope, stream, self.positions[stream])
        self.log.append((stream, envelope))
        return envelope

    def redeliver(self, envelope: Envelope) -> None:
        """The same envelope (same id) stored again, so delivered at a new position."""
        stream = STREAM[envelope.context]
        self.positions[stream] += 1
        self._apply(envelope, stream, self.positions[stream])

    # -- intake ---------------------------------------------------------------------------------
    def centre(self, tenant: str, *, site: str = "main", kind: str = "adult", opened_fy: int | None = None,
               time: str = "2009-06-01T09:00:00+09:00", name: str = "ひきこもり地域支援センター",
               opened_on: str | None = None, closed_on: str | None = None, demo: bool = False) -> str:
        centre_id = str(uuid4())
        self.send("intake", "CentreRegistered", centre_id,
                  {"tenant": tenant, "name": name, "kind": kind, "site": site, "opened_on": opened_on,
                   "closed_on": closed_on, "demo": demo}, tenant=tenant, time=time)
        self.centre_tenant[centre_id] = tenant
        if opened_fy is not None:
            self.profile(centre_id, opened_fy, time=time)
        return centre_id

    def dates(self, centre_id: str, opened_on: str, closed_on: str | None, *, time: str) -> None:
        self.send("intake", "CentreDatesChanged", centre_id, {"opened_on": opened_on, "closed_on": closed_on},
                  tenant=self.centre_tenant[centre_id], time=time)

    def profile(self, centre_id: str, opened_fy: int, *, time: str) -> None:
        tenant = self.centre_tenant[centre_id]
        self.send("intake", "CentreProfileSet", centre_id, {
            "opened_fy": opened_fy, "municipality": tenant, "address": "sealed elsewhere", "phone": "03-0000-0000",
            "hours": {"mon": "9-17"}, "satellite_term": None}, tenant=tenant, time=time)

    def case(self, centre_id: str, *, client_kind: str = "person", age_group: str = "adult",
             time: str = "2016-04-01T09:00:00+09:00") -> str:
        case_id, tenant = str(uuid4()), self.centre_tenant[centre_id]
        self.send("intake", "CaseOpened", case_id, {
            "tenant": tenant, "centre_id": centre_id, "client_kind": client_kind, "age_group": age_group,
            "residence_municipality": None, "personal_details": None}, tenant=tenant, time=time)
        self.case_centre[case_id] = centre_id
        return case_id

    def _case_event(self, case_id: str, name: str, data: dict, time: str) -> Envelope:
        centre_id = self.case_centre[case_id]
        return self.send("intake", name, case_id, {"centre_id": centre_id, **data},
                         tenant=self.centre_tenant[centre_id], time=time)

    def consultation(self, case_id: str, occurred_at: str, *, channel: str = "phone",
                     time: str | None = None) -> Envelope:
        return self._case_event(case_id, "ConsultationRecorded", {
            "consultation_id": str(uuid4()), "channel": channel, "consulted_by": "family",
            "occurred_at": occurred_at, "summary": None, "idempotency_digest": None}, time or occurred_at)

    def void(self, case_id: str, consultation: Envelope, on: str) -> Envelope:
        return self.send("intake", "ConsultationVoided", case_id, {
            "consultation_id": consultation.data["consultation_id"], "voided_on": on, "reason": "entered twice"},
            tenant=self.centre_tenant[self.case_centre[case_id]], time=noon(on))

    def outreach(self, case_id: str, occurred_at: str, *, staff_role: str = "outreach_worker") -> Envelope:
        return self._case_event(case_id, "OutreachVisitRecorded", {
            "visit_id": str(uuid4()), "staff_role": staff_role, "occurred_at": occurred_at, "summary": None},
            occurred_at)

    def referral(self, case_id: str, category: str, referred_on: str, *, time: str | None = None) -> Envelope:
        return self._case_event(case_id, "ReferralMade", {
            "referral_id": str(uuid4()), "agency_id": str(uuid4()), "agency_category": category,
            "referred_on": referred_on}, time or noon(referred_on))

    def decision(self, case_id: str, decided_on: str, *, category: str = "medical_institution",
                 time: str | None = None) -> Envelope:
        return self._case_event(case_id, "SupportDecided", {
            "referral_id": str(uuid4()), "agency_id": str(uuid4()), "agency_category": category,
            "decided_on": decided_on}, time or noon(decided_on))

    # -- registry -------------------------------------------------------------------------------
    def registered(self, tenant: str, issued_on: str, term_ends_on: str, *, supporter_id: str | None = None) -> str:
        supporter_id = supporter_id or str(uuid4())
        self.send("registry", "SupporterRegistered", supporter_id, {
            "registration_number": f"R-{supporter_id[:8]}", "issued_on": issued_on,
            "term_starts_on": issued_on, "term_ends_on": term_ends_on}, tenant=tenant, time=noon(issued_on))
        return supporter_id

    def renewed(self, tenant: str, supporter_id: str, issued_on: str, starts: str, ends: str) -> None:
        self.send("registry", "RegistrationRenewed", supporter_id, {
            "consent_id": str(uuid4()), "issued_on": issued_on, "term_starts_on": starts, "term_ends_on": ends},
            tenant=tenant, time=noon(issued_on))

    def withdrawn(self, tenant: str, supporter_id: str, on: str) -> None:
        self.send("registry", "RegistrationWithdrawn", supporter_id, {
            "withdrawn_on": on, "reason": None, "confidentiality_duty": "第17条"}, tenant=tenant, time=noon(on))

    def revoked(self, tenant: str, supporter_id: str, on: str) -> None:
        self.send("registry", "RegistrationRevoked", supporter_id, {
            "revoked_on": on, "grounds": {"sealed": True}, "confidentiality_duty": "第17条"},
            tenant=tenant, time=noon(on))

    def expired(self, tenant: str, supporter_id: str, on: str) -> None:
        self.send("registry", "RegistrationExpired", supporter_id, {"term_ended_on": on}, tenant=tenant, time=noon(on))

    def roster(self, tenant: str, recipient: str, provided_on: str, entries: int) -> None:
        self.send("registry", "RosterProvided", str(uuid4()), {
            "tenant": tenant, "recipient": recipient, "provided_on": provided_on, "items": ["registration_number"],
            "entries": [{"supporter_id": str(uuid4())} for _ in range(entries)]}, tenant=tenant, time=noon(provided_on))

    # -- dispatch -------------------------------------------------------------------------------
    def dispatch_started(self, tenant: str, on: str) -> str:
        dispatch_id = str(uuid4())
        self.send("dispatch", "DispatchStarted", dispatch_id, {"supporter_id": str(uuid4()), "started_on": on},
                  tenant=tenant, time=noon(on))
        return dispatch_id

    def dispatch_ended(self, tenant: str, dispatch_id: str, on: str, reason: str = "plan_completed") -> None:
        self.send("dispatch", "DispatchEnded", dispatch_id, {
            "reason": reason, "ended_on": on, "supporter_id": None, "cause_event_id": None},
            tenant=tenant, time=noon(on))

    def deployed(self, tenant: str, target_kind: str, on: str) -> str:
        deployment_id = str(uuid4())
        self.send("dispatch", "SupporterDeployed", deployment_id, {
            "tenant": tenant, "supporter_id": str(uuid4()), "registration_number": "001",
            "roster_entry_id": str(uuid4()), "target_kind": target_kind, "target_id": str(uuid4()),
            "target_name": "居場所", "role": "place_operation", "starts_on": on, "ends_on": None},
            tenant=tenant, time=noon(on))
        return deployment_id

    def deployment_activity(self, tenant: str, deployment_id: str, activity_date: str) -> None:
        self.send("dispatch", "DeploymentActivityReported", deployment_id, {
            "report_id": str(uuid4()), "supporter_id": str(uuid4()), "reported_on": activity_date,
            "activity_date": activity_date, "starts_at": "13:00", "ends_at": "16:00", "participants": 4,
            "narrative": {"sealed": True}}, tenant=tenant, time=noon(activity_date))

    def activity(self, tenant: str, dispatch_id: str, activity_date: str, activity_type: str = "visit",
                 *, time: str | None = None) -> None:
        self.send("dispatch", "ActivityReported", dispatch_id, {
            "report_id": str(uuid4()), "supporter_id": str(uuid4()), "reported_on": activity_date,
            "activity_date": activity_date, "starts_at": "10:00", "ends_at": "11:00",
            "activity_type": activity_type, "activity_type_other": None, "next_step": "continue",
            "next_step_other": None, "narrative": {"sealed": True}}, tenant=tenant, time=time or noon(activity_date))
