"""The dispatch Application: commands in, events out; scoping by the caller lives here.

Municipal officers of the tenant run dispatches; a supporter sees only the dispatches assigned
to them (sub == supporter id); staff of the centre that asked for it follow it (read only) while
the person consents to support meetings; nobody else sees anything (404).
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import date, datetime, timezone
from typing import Any
from uuid import UUID, uuid4

from libs.domain.codes import validate_lg_code
from libs.domain.contracts import derived_id
from libs.domain.errors import VersionMismatch
from libs.domain.fiscal import JST
from libs.platform.store.application import ServiceApplication, new_id
from libs.platform.web.auth import NotAllowed, Principal
from services.dispatch.domain.deployment import Deployment
from services.dispatch.domain.dispatch import Dispatch
from services.dispatch.domain.errors import (
    DeploymentNotFound,
    DispatchNotFound,
    InvalidDispatchInput,
    RosterEntryNotFound,
    SupporterNotEligible,
    UnknownDeploymentTarget,
)
from services.dispatch.domain.roster_entry import RosterEntry

OFFICER = "municipal_officer"


def today_jst() -> date:
    return datetime.now(JST).date()


class DispatchApplication(ServiceApplication):
    name = "dispatch"

    # -- roster -------------------------------------------------------------------------------
    def roster_entry(self, actor: Principal, supporter_id: UUID) -> RosterEntry:
        tenant = self.officer_tenant(actor)
        entry = self.existing(RosterEntry, RosterEntry.id_for(tenant, supporter_id))
        if entry is None:
            raise RosterEntryNotFound(f"supporter {supporter_id} is not on your roster")
        return entry

    def reconfirm_intent(self, actor: Principal, supporter_id: UUID, *, confirmed_on: date) -> RosterEntry:
        entry = self.roster_entry(actor, supporter_id)
        entry.reconfirm_intent(confirmed_on=confirmed_on)
        self.save(entry)
        return entry

    # -- deployments to places, programmes and agencies ---------------------------------------
    def deploy(self, actor: Principal, *, supporter_id: UUID, target_kind: str, target: dict | None,
               target_id: UUID, role: str, starts_on: date, ends_on: date | None,
               idempotency_key: str | None) -> tuple[Deployment, bool]:
        """`target` is what INTAKE published about target_id (None: not known here yet)."""
        tenant = self.officer_tenant(actor)
        deployment_id = new_id("deployment", tenant, idempotency_key)
        if idempotency_key and (done := self.existing(Deployment, deployment_id)) is not None:
            return done, False  # a retry: answered as first, whatever changed since
        if target is None or target["closed"] or tenant not in target["local_governments"]:
            raise UnknownDeploymentTarget(f"{target_id} is not a running place, programme or agency of {tenant}"
                                          " (or INTAKE has not told us about it yet)")
        if target["kind"] != target_kind:
            raise InvalidDispatchInput(f"{target_id} is a {target['kind']}, not a {target_kind}")
        entry = self._eligible_entry(tenant, supporter_id, starts_on)
        return self.create_once(Deployment, deployment_id, lambda: Deployment.deploy(
            id=deployment_id, tenant=tenant, supporter_id=supporter_id,
            registration_number=entry.registration_number, roster_entry_id=entry.id, target_kind=target_kind,
            target_id=target_id, target_name=target["name"], role=role, starts_on=starts_on, ends_on=ends_on))

    def get_deployment(self, actor: Principal, deployment_id: UUID) -> Deployment:
        deployment = self.existing(Deployment, deployment_id)
        if deployment is None or not _sees_deployment(actor, deployment):
            raise DeploymentNotFound(f"no deployment {deployment_id} visible to you")
        return deployment

    def run_deployment(self, actor: Principal, deployment_id: UUID, command: Callable[[Deployment], Any], *,
                       by_supporter: bool) -> Deployment:
        deployment = self.get_deployment(actor, deployment_id)
        if by_supporter:
            actor.require("supporter")
        elif not (actor.has(OFFICER) and actor.org == deployment.tenant):
            raise NotAllowed("only an officer of the municipality may do this")
        command(deployment)
        self.save(deployment)
        return deployment

    def accept_deployment(self, actor: Principal, deployment_id: UUID, *, accepted_on: date) -> Deployment:
        return self.run_deployment(actor, deployment_id, lambda d: d.accept(
            supporter_id=UUID(actor.sub), accepted_on=accepted_on,
            supporter_problems=self._supporter_problems(d.tenant, d.supporter_id, accepted_on)), by_supporter=True)

    def report_deployment_activity(self, actor: Principal, deployment_id: UUID, *, report_id: UUID,
                                   narrative: dict, **fields: Any) -> Deployment:
        # Sealed inside the command: no key is made for a deployment the caller may not act on.
        return self.run_deployment(actor, deployment_id, lambda d: d.report_activity(
            report_id=report_id, supporter_id=UUID(actor.sub), narrative=self.seal(d.id, narrative) or {}, **fields),
            by_supporter=True)

    def deployment_scope(self, actor: Principal) -> dict[str, str]:
        """Which deployments a caller lists: a supporter their own, an officer the municipality's."""
        if actor.has("supporter") and not actor.has(OFFICER):
            return {"supporter_id": actor.sub}
        return {"tenant": self.officer_tenant(actor)}

    def _eligible_entry(self, tenant: str, supporter_id: UUID, on: date) -> RosterEntry:
        entry = self.existing(RosterEntry, RosterEntry.id_for(tenant, supporter_id))
        if entry is None:
            raise SupporterNotEligible(f"supporter {supporter_id} was never provided to your municipality",
                                       reasons=["not on the roster provided to this municipality"])
        problems = entry.eligibility_problems(on)
        if problems:
            raise SupporterNotEligible(f"supporter {supporter_id} may not act for your municipality", reasons=problems)
        return entry

    # -- dispatches ---------------------------------------------------------------------------
    def request_dispatch(self, actor: Principal, *, subject_ref: str | None, requested_by: str, needs: list[str],
                         preferences: dict, requested_on: date, details: dict | None,
                         idempotency_key: str | None) -> tuple[Dispatch, bool]:
        tenant = self.officer_tenant(actor)
        dispatch_id = new_id("dispatch", tenant, idempotency_key)
        def make() -> Dispatch:
            dispatch = Dispatch.request(id=dispatch_id, tenant=tenant, subject_ref=subject_ref or str(uuid4()),
                                        source="municipality", requested_by=requested_by, needs=needs,
                                        preferences=preferences,
                                        requested_on=requested_on)
            if details:
                dispatch.record_subject_details(details=self.seal(dispatch_id, details))
            return dispatch

        return self.create_once(Dispatch, dispatch_id, make)

    def get_dispatch(self, actor: Principal, dispatch_id: UUID) -> Dispatch:
        dispatch = self.existing(Dispatch, dispatch_id)
        if dispatch is None or not _sees(actor, dispatch):
            raise DispatchNotFound(f"no dispatch {dispatch_id} visible to you")
        return dispatch

    def act(self, actor: Principal, dispatch_id: UUID, expected_version: int | None,
            command: Callable[[Dispatch], Any], *, by_supporter: bool = False) -> Dispatch:
        """One command on a dispatch, as an officer of its municipality (or as its supporter)."""
        dispatch = self.get_dispatch(actor, dispatch_id)
        if by_supporter:
            actor.require("supporter")
        elif not (actor.has(OFFICER) and actor.org == dispatch.tenant):
            raise NotAllowed("only an officer of the municipality may do this")
        if expected_version is not None and expected_version != dispatch.version:
            raise VersionMismatch(f"the dispatch is at version {dispatch.version}, not {expected_version}")
        command(dispatch)
        self.save(dispatch)
        return dispatch

    def assign(self, actor: Principal, dispatch_id: UUID, *, supporter_id: UUID, assigned_on: date,
               expected_version: int | None) -> Dispatch:
        entry = self._eligible_entry(self.officer_tenant(actor), supporter_id, assigned_on)
        return self.act(actor, dispatch_id, expected_version, lambda d: d.assign(
            supporter_id=supporter_id, registration_number=entry.registration_number,
            roster_entry_id=entry.id, assigned_on=assigned_on))

    def start(self, actor: Principal, dispatch_id: UUID, *, started_on: date,
              expected_version: int | None) -> Dispatch:
        return self.act(actor, dispatch_id, expected_version, lambda d: d.start(
            started_on=started_on, supporter_problems=self._supporter_problems(d.tenant, d.supporter_id, started_on)))

    def resume(self, actor: Principal, dispatch_id: UUID, *, resumed_on: date,
               expected_version: int | None) -> Dispatch:
        return self.act(actor, dispatch_id, expected_version, lambda d: d.resume(
            resumed_on=resumed_on, supporter_problems=self._supporter_problems(d.tenant, d.supporter_id, resumed_on)))

    def erase_subject(self, actor: Principal, dispatch_id: UUID, *, erased_on: date, basis: str) -> Dispatch:
        """Record SubjectDataErased, then destroy this dispatch's key (repeatable if that step failed).
        Each dispatch seals under its own key, so erasing one never touches another dispatch of the
        same person, here or in another municipality."""
        dispatch = self.get_dispatch(actor, dispatch_id)
        if not (actor.has(OFFICER) and actor.org == dispatch.tenant):
            raise NotAllowed("only an officer of the municipality may do this")
        return self.erase_personal_data(dispatch, lambda d: d.erase(erased_on=erased_on, basis=basis))

    def disclose(self, actor: Principal, dispatch_id: UUID) -> tuple[Dispatch, dict]:
        """The supporter reads the person's details: only consented items, each time recorded."""
        dispatch = self.get_dispatch(actor, dispatch_id)
        actor.require("supporter")
        problems = self._supporter_problems(dispatch.tenant, dispatch.supporter_id, today_jst())
        if problems:  # e.g. the supporter's 利用停止 or an ended registration the sweep has not ended yet
            raise SupporterNotEligible("the supporter may not receive the person's details now", reasons=problems)
        items = dispatch.disclose_to_supporter(supporter_id=UUID(actor.sub), disclosed_at=datetime.now(timezone.utc))
        self.save(dispatch)
        opened = self.sealer.open(dispatch.details) if dispatch.details else {}
        if not isinstance(opened, dict):
            return dispatch, {}
        return dispatch, {k: v for k, v in opened.items() if k in items}

    def _supporter_problems(self, tenant: str, supporter_id: UUID | None, on: date) -> list[str]:
        """Why this supporter may not act for this municipality on that day (none assigned: none)."""
        if supporter_id is None:
            return []
        entry = self.existing(RosterEntry, RosterEntry.id_for(tenant, supporter_id))
        return entry.eligibility_problems(on) if entry else ["not on the roster"]

    @staticmethod
    def officer_tenant(actor: Principal) -> str:
        actor.require(OFFICER)
        return validate_lg_code(actor.org)


def _sees(actor: Principal, dispatch: Dispatch) -> bool:
    if actor.has(OFFICER) and actor.org == dispatch.tenant:
        return True
    if actor.has("centre_staff") and dispatch.shared_with_centre(actor.org):
        return True
    return actor.has("supporter") and dispatch.supporter_id is not None and actor.sub == str(dispatch.supporter_id)


def _sees_deployment(actor: Principal, deployment: Deployment) -> bool:
    if actor.has(OFFICER) and actor.org == deployment.tenant:
        return True
    return actor.has("supporter") and actor.sub == str(deployment.supporter_id)


def dispatch_id_for_intake_request(request_id: str) -> UUID:
    return derived_id("dispatch-from-intake", request_id)
