"""Use cases of deployments to places, programmes and agencies.

Officers of the municipality deploy and end; the deployed supporter accepts and reports; a
deployment is seen only by those two (404 for anyone else)."""

from __future__ import annotations

from datetime import date
from uuid import UUID

from libs.platform.store.creating import Created
from libs.platform.store.sealed import sealing
from libs.platform.web.auth import NotAllowed, Principal
from libs.platform.web.supporters import SUPPORTER
from services.dispatch.application.base import OFFICER, DispatchBase
from services.dispatch.domain.deployment import Deployment
from services.dispatch.domain.errors import DeploymentNotFound, InvalidDispatchInput, UnknownDeploymentTarget


class DeploymentUseCases(DispatchBase):
    # -- who may see and act -------------------------------------------------------------------
    def get_deployment(self, actor: Principal, deployment_id: UUID) -> Deployment:
        deployment = self.existing(Deployment, deployment_id)
        if deployment is None or not self._sees_deployment(actor, deployment):
            raise DeploymentNotFound(f"no deployment {deployment_id} visible to you")
        return deployment

    def _sees_deployment(self, actor: Principal, deployment: Deployment) -> bool:
        if actor.has(OFFICER) and actor.org == deployment.tenant:
            return True
        return self._is_the_supporter(actor, deployment.tenant, deployment.supporter_id)

    def _deployment_for_officer(self, actor: Principal, deployment_id: UUID) -> Deployment:
        deployment = self.get_deployment(actor, deployment_id)
        if not (actor.has(OFFICER) and actor.org == deployment.tenant):
            raise NotAllowed("only an officer of the municipality may do this")
        return deployment

    def _deployment_for_supporter(self, actor: Principal, deployment_id: UUID) -> Deployment:
        """Seen, and the caller is the deployed supporter (id and registrar), not an officer whose
        token also says supporter and bears their id (the aggregate checks the id alone)."""
        deployment = self.get_deployment(actor, deployment_id)
        actor.require(SUPPORTER)
        if not self._is_the_supporter(actor, deployment.tenant, deployment.supporter_id):
            raise NotAllowed("only the deployed supporter may do this")
        return deployment

    # -- use cases -----------------------------------------------------------------------------
    def deploy(self, actor: Principal, *, supporter_id: UUID, target_kind: str, target_id: UUID, role: str,
               starts_on: date, ends_on: date | None, idempotency_key: str | None) -> tuple[Deployment, bool]:
        """The deployment and whether it was made now (False: a retry with the same key)."""
        tenant = self._officer_tenant(actor)
        creation = self.creation("deployment", tenant, idempotency_key, supporter_id=supporter_id,
                                 target_kind=target_kind, target_id=target_id, role=role, starts_on=starts_on,
                                 ends_on=ends_on)
        deployment_id = creation.new_id()
        if (row := self.ledger.of_key(creation)) is not None:  # a retry (another request with the key: 422)
            return self.repository.get(UUID(row.aggregate_id)), False
        if creation.legacy_id and (done := self.existing(Deployment, deployment_id)
                                   or self.existing(Deployment, creation.legacy_id)) is not None:
            return done, False  # a retry: answered as first, whatever changed since
        target = self.reads.deployment_target(target_id)  # what INTAKE published about it
        if target is None or target["closed"] or tenant not in target["local_governments"]:
            raise UnknownDeploymentTarget(f"{target_id} is not a running place, programme or agency of {tenant}"
                                          " (or INTAKE has not told us about it yet)")
        if target["kind"] != target_kind:
            raise InvalidDispatchInput(f"{target_id} is a {target['kind']}, not a {target_kind}")
        entry = self._eligible_entry(tenant, supporter_id, starts_on)
        return self.create_once(Deployment, deployment_id, lambda: Deployment.deploy(
            id=deployment_id, tenant=tenant, supporter_id=supporter_id,
            registration_number=entry.registration_number, roster_entry_id=entry.id, target_kind=target_kind,
            target_id=target_id, target_name=target["name"], role=role, starts_on=starts_on, ends_on=ends_on),
            creation)

    def list_deployments(self, actor: Principal, *, status: str | None, target_id: UUID | None, after: str | None,
                         limit: int) -> list[dict]:
        """The municipality's deployments; for a supporter, their own."""
        supporter, tenant = None, None
        if actor.has(SUPPORTER) and not actor.has(OFFICER):
            supporter = (actor.sub, actor.org)  # theirs, of the registrar the token names
        else:
            tenant = self._officer_tenant(actor)
        return self.reads.deployments(tenant=tenant, supporter=supporter, status=status,
                                      target_id=str(target_id) if target_id else None, after=after, limit=limit)

    def accept_deployment(self, actor: Principal, deployment_id: UUID, *, accepted_on: date) -> Deployment:
        """Eligibility is checked again on the day the supporter accepts."""
        deployment = self._deployment_for_supporter(actor, deployment_id)
        self.change(deployment, lambda d: d.accept(
            supporter_id=UUID(actor.sub), accepted_on=accepted_on,
            supporter_problems=self._supporter_problems(d.tenant, d.supporter_id, accepted_on)))
        return deployment

    @sealing
    def report_deployment_activity(self, actor: Principal, deployment_id: UUID, *, idempotency_key: str | None,
                                   reported_on: date, activity_date: date, starts_at: str, ends_at: str,
                                   participants: int | None, narrative: dict) -> Created[Deployment]:
        creation = self.creation("deployment-report", deployment_id, idempotency_key, reported_on=reported_on,
                                 activity_date=activity_date, starts_at=starts_at, ends_at=ends_at,
                                 participants=participants, narrative=narrative)
        # Sealed inside the command: no key is made for a deployment the caller may not act on.
        return self.create_inside(creation, lambda: self._deployment_for_supporter(actor, deployment_id),
                                  lambda d, report_id: d.report_activity(
            report_id=report_id, supporter_id=UUID(actor.sub), reported_on=reported_on, activity_date=activity_date,
            starts_at=starts_at, ends_at=ends_at, participants=participants,
            narrative=self.seal_required(d.id, narrative, "narrative")),
            legacy=lambda d: creation.legacy_in(d.reports))

    def end_deployment(self, actor: Principal, deployment_id: UUID, *, reason: str, ended_on: date) -> Deployment:
        deployment = self._deployment_for_officer(actor, deployment_id)
        self.change(deployment, lambda d: d.end(reason=reason, ended_on=ended_on))
        return deployment

