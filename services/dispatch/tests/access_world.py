"""A dispatch application on eventsourcing's in-memory store, with one municipality's world in
it (a roster entry, a dispatch and a deployment at a chosen stage), for the access tests.

Nothing here goes through HTTP or a read model: the read models are a fake that answers with
what a list would return and remembers the scope it was asked for."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date
from typing import Any
from uuid import UUID, uuid4

from sqlalchemy import create_engine
from sqlalchemy.pool import StaticPool

from libs.platform.privacy.sealing import Sealer
from libs.platform.web.auth import Principal
from services.dispatch.application import DispatchApplication
from services.dispatch.application.reads import DispatchReads
from services.dispatch.domain.deployment import Deployment
from services.dispatch.domain.dispatch import Dispatch
from services.dispatch.domain.roster_entry import RosterEntry

CHIYODA = "131016"  # the municipality that owns everything below
MINATO = "131032"  # another municipality
REGISTRAR = "130001"  # 東京都: registered the supporters and provided them to CHIYODA
SUPPORTER = UUID("00000000-0000-4000-8000-000000000001")
OTHER_SUPPORTER = UUID("00000000-0000-4000-8000-000000000002")
CENTRE = UUID("00000000-0000-4000-8000-0000000000c1")  # referred the person, follows under consent
OTHER_CENTRE = UUID("00000000-0000-4000-8000-0000000000c2")
TARGET = UUID("00000000-0000-4000-8000-0000000000a1")  # a place of CHIYODA
DAY = date(2024, 4, 1)
LATER = date(2024, 6, 3)

# One key store for the whole run: keys are per dispatch, so worlds never share one.
_SEALER = Sealer(create_engine("sqlite://", poolclass=StaticPool), bytes(range(32)))


def caller(role: str, own: bool) -> Principal:
    """Someone in `role`, on the side of CHIYODA's dispatch (own) or not: the assigned supporter
    or another one, the referring centre or another centre, CHIYODA's staff or MINATO's."""
    if role == "supporter":
        return Principal(sub=str(SUPPORTER if own else OTHER_SUPPORTER), org=REGISTRAR, roles=frozenset({role}))
    if role == "centre_staff":
        return Principal(sub="staff-1", org=str(CENTRE if own else OTHER_CENTRE), roles=frozenset({role}))
    return Principal(sub="person-1", org=CHIYODA if own else MINATO, roles=frozenset({role}))


@dataclass
class FakeReads(DispatchReads):
    """The read side, answering from nothing: it only remembers who asked for which rows. Every
    method of DispatchReads is overridden, so nothing reaches the runtime it never gets."""

    asked: list[tuple[str, dict[str, Any]]] = field(default_factory=list)

    def _ask(self, what: str, **scope: Any) -> list[dict]:
        self.asked.append((what, scope))
        return []

    def dispatches(self, tenant: str, **_: Any) -> list[dict]:
        return self._ask("dispatches", tenant=tenant)

    def supporter_dispatches(self, supporter_id: str, *, registrar: str) -> list[dict]:
        return self._ask("supporter_dispatches", supporter_id=supporter_id, registrar=registrar)

    def deployments(self, *, tenant: str | None = None, supporter: tuple[str, str] | None = None,
                    **_: Any) -> list[dict]:
        return self._ask("deployments", tenant=tenant, supporter=supporter)

    def roster(self, tenant: str) -> list[dict]:
        return self._ask("roster", tenant=tenant)

    def open_tasks(self, tenant: str) -> dict[str, list[dict]]:
        return {"data": self._ask("open_tasks", tenant=tenant), "erasures": []}

    def deployment_target(self, target_id: UUID) -> dict | None:
        return {"kind": "place", "closed": False, "local_governments": [CHIYODA], "name": "居場所"} \
            if target_id == TARGET else None

    def subject_consent(self, subject_ref: str, dispatch_id: UUID) -> dict | None:
        return {"consent_id": "c1", "given_at": None, "withdrawn_at": None, "data": {"record": {}}}

    def signed_receipt(self, **fields: Any) -> dict:
        return {"receipt": fields}


@dataclass
class World:
    app: DispatchApplication
    reads: FakeReads
    dispatch_id: UUID
    deployment_id: UUID
    report_id: UUID

    def versions(self) -> tuple[int, int]:
        return (self.app.repository.get(self.dispatch_id).version,
                self.app.repository.get(self.deployment_id).version)


def world(stage: str) -> World:
    """CHIYODA's world with its dispatch at `stage`: assigned (consented, not yet accepted),
    ready (accepted, plan agreed), active (one report filed), suspended or ended; its
    deployment is planned until the dispatch is active, then accepted."""
    reads = FakeReads()
    app = DispatchApplication({"PERSISTENCE_MODULE": "eventsourcing.popo"}, _SEALER, reads)
    entry = RosterEntry.receive(tenant=CHIYODA, supporter_id=SUPPORTER, registrar=REGISTRAR, roster_id=uuid4(),
                                registration_number="2024-001", term_ends_on=date(2099, 3, 31),
                                consent_id=uuid4(), received_on=DAY)
    entry.reconfirm_intent(confirmed_on=DAY)
    dispatch = Dispatch.request(id=uuid4(), tenant=CHIYODA, subject_ref=str(uuid4()), source="intake",
                                intake_request_id=uuid4(), referring_centre_id=CENTRE, needs=["visit"],
                                preferences={}, requested_on=DAY)
    dispatch.assign(supporter_id=SUPPORTER, registration_number="2024-001", roster_entry_id=entry.id,
                    assigned_on=DAY)
    dispatch.record_subject_consent(consent_id=uuid4(), given_by="person", items=["name", "contact"],
                                    support_meetings=True, costs_self_paid=True, signed_on=DAY)
    dispatch.record_subject_details(details=_SEALER.seal(str(dispatch.id), {"name": "山田"}))
    deployment = Deployment.deploy(id=uuid4(), tenant=CHIYODA, supporter_id=SUPPORTER, registration_number="2024-001",
                                   roster_entry_id=entry.id, target_kind="place", target_id=TARGET,
                                   target_name="居場所", role="place_operation", starts_on=DAY, ends_on=None)
    report_id = uuid4()
    if stage != "assigned":
        dispatch.accept_as_supporter(supporter_id=SUPPORTER, accepted_on=DAY)
        dispatch.agree_plan(activities=["visit"], plan={"sealed": "x"}, agreed_on=DAY)
    if stage in ("active", "suspended", "ended"):
        dispatch.start(started_on=DAY, supporter_problems=[])
        dispatch.report_activity(report_id=report_id, supporter_id=SUPPORTER, reported_on=DAY, activity_date=DAY,
                                 starts_at="10:00", ends_at="11:00", activity_type="visit",
                                 activity_type_other=None, next_step="pause", next_step_other=None,
                                 narrative={"sealed": "x"})
        deployment.accept(supporter_id=SUPPORTER, accepted_on=DAY, supporter_problems=[])
    if stage == "suspended":
        dispatch.suspend(reason="subject_condition", suspended_on=DAY)
    if stage == "ended":
        dispatch.end(reason="plan_completed", ended_on=DAY)
    app.save(entry, dispatch, deployment)
    return World(app, reads, dispatch.id, deployment.id, report_id)

