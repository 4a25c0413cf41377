"""The dispatch Application: one method per use case, each checking who may act (access.py,
and the helpers beside each aggregate's use cases), sealing what describes the person, running
the aggregate's command and saving it through `ServiceApplication.change`.

One module per part of the work, combined into the one Application of the service."""

from __future__ import annotations

from uuid import UUID

from libs.domain.contracts import derived_id
from services.dispatch.application.base import today_jst
from services.dispatch.application.deployments import DeploymentUseCases
from services.dispatch.application.dispatches import DispatchUseCases
from services.dispatch.application.reads import DispatchReads
from services.dispatch.application.reports import ReportUseCases
from services.dispatch.application.roster import RosterUseCases
from services.dispatch.application.subject import SubjectUseCases

__all__ = ["DispatchApplication", "DispatchReads", "dispatch_id_for_intake_request", "today_jst"]


class DispatchApplication(RosterUseCases, DeploymentUseCases, DispatchUseCases, SubjectUseCases, ReportUseCases):
    name = "dispatch"


def dispatch_id_for_intake_request(request_id: str) -> UUID:
    return derived_id("dispatch-from-intake", request_id)
