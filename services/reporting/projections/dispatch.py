"""Dispatch facts: 派遣の開始・終了 and サポーターの活動 (活動報告書 資料8, and the reports of
supporters deployed to places, programmes and agencies), per municipality."""

from __future__ import annotations

from sqlalchemy import Connection, bindparam, select

from libs.domain import dispatch
from libs.platform.messaging.cloudevents import Envelope
from libs.platform.messaging.handlers import EventHandlers
from libs.platform.readmodels.batch import insert_row
from libs.platform.readmodels.projection import ProjectionHandler
from services.reporting.projections.common import day, fact
from services.reporting.projections.tables import (
    activities,
    deployment_activities,
    deployments,
    dispatch_events,
)
from services.reporting.projections.tallies import record

HANDLERS: EventHandlers[ProjectionHandler] = EventHandlers("dispatch")
_TARGET_KIND = select(deployments.c.target_kind).where(deployments.c.deployment_id == bindparam("b_id"))  # built once


@HANDLERS.on(dispatch.DispatchStarted)
def dispatch_started(conn: Connection, e: Envelope) -> None:
    on = day(e.data["started_on"])
    record(conn, dispatch_events, fact(
        e, on, dispatch_id=e.subject, kind="started", reason=None, happened_on=on))


@HANDLERS.on(dispatch.DispatchEnded)
def dispatch_ended(conn: Connection, e: Envelope) -> None:
    on = day(e.data["ended_on"])
    record(conn, dispatch_events, fact(
        e, on, dispatch_id=e.subject, kind="ended", reason=e.data["reason"], happened_on=on))


@HANDLERS.on(dispatch.ActivityReported)
def activity_reported(conn: Connection, e: Envelope) -> None:
    d, on = e.data, day(e.data["activity_date"])
    record(conn, activities, fact(
        e, on, report_id=d["report_id"], dispatch_id=e.subject, activity_type=d["activity_type"],
        activity_date=on))


@HANDLERS.on(dispatch.SupporterDeployed)
def supporter_deployed(conn: Connection, e: Envelope) -> None:
    insert_row(conn, deployments, {"deployment_id": e.subject, "target_kind": e.data["target_kind"]})


@HANDLERS.on(dispatch.DeploymentActivityReported)
def deployment_activity_reported(conn: Connection, e: Envelope) -> None:
    d, on = e.data, day(e.data["activity_date"])
    kind = conn.execute(_TARGET_KIND, {"b_id": e.subject}).scalar_one()
    record(conn, deployment_activities, fact(
        e, on, report_id=d["report_id"], deployment_id=e.subject, target_kind=kind, activity_date=on))
