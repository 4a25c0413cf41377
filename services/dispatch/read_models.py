"""Dispatch's tables: from its own log the roster, dispatches and deployments by state and officer
tasks (DispatchReadModel, here); from INTAKE the places, programmes and agencies a supporter can be
deployed to (DeploymentTargets in consumers.py, only its table here)."""

from __future__ import annotations

from datetime import date

from sqlalchemy import Boolean, Column, Connection, Date, MetaData, String, Table, Text

from libs.domain import audit, dispatch
from libs.platform.messaging.cloudevents import Envelope
from libs.platform.messaging.consumer import Handler
from libs.platform.messaging.handlers import EventHandlers
from libs.platform.readmodels.batch import insert_row, update_rows
from libs.platform.readmodels.projection import ProjectionHandler, SqlProjection
from libs.platform.runtime import Runtime

metadata = MetaData()
roster = Table(
    "ds_roster", metadata,
    Column("entry_id", String(36), primary_key=True),
    Column("tenant", String(6), nullable=False, index=True),
    Column("supporter_id", String(36), nullable=False, index=True),
    Column("registrar", String(6), nullable=False),
    Column("registration_number", String(16), nullable=False),
    Column("term_ends_on", Date, nullable=False),
    Column("received_on", Date, nullable=False),
    Column("intent_reconfirmed_on", Date),
    Column("ended", String(32)),
    Column("use_suspended", Boolean),  # 利用停止 asked at the registrar
)
dispatches = Table(
    "ds_dispatches", metadata,
    Column("dispatch_id", String(36), primary_key=True),
    Column("tenant", String(6), nullable=False, index=True),
    Column("status", String(16), nullable=False, index=True),
    Column("source", String(16), nullable=False),
    Column("subject_ref", String(64), nullable=False),
    Column("supporter_id", String(36), index=True),
    Column("requested_on", Date, nullable=False),
    Column("started_on", Date),
    Column("ended_on", Date),
    Column("end_reason", String(40)),
    Column("erased", Boolean, nullable=True),  # added later: NULL on rows projected before
)
deployments = Table(
    "ds_deployments", metadata,
    Column("deployment_id", String(36), primary_key=True),
    Column("tenant", String(6), nullable=False, index=True),
    Column("status", String(16), nullable=False, index=True),
    Column("supporter_id", String(36), nullable=False, index=True),
    Column("target_kind", String(16), nullable=False),
    Column("target_id", String(36), nullable=False, index=True),
    Column("target_name", String(200), nullable=False),
    Column("role", String(32), nullable=False),
    Column("starts_on", Date, nullable=False),
    Column("ends_on", Date),
    Column("end_reason", String(40)),
)
tasks = Table(
    "ds_tasks", metadata,
    Column("report_id", String(36), primary_key=True),
    Column("dispatch_id", String(36), nullable=False, index=True),
    Column("tenant", String(6), nullable=False, index=True),
    Column("supporter_id", String(36), nullable=False),
    Column("next_step", String(16), nullable=False),
    Column("reported_on", Date, nullable=False),
    Column("open", Boolean, nullable=False),
)

# 消去の通知: the person's data was erased at the referring centre while the dispatch ran; open
# until the dispatch's own data is erased (by the officer, or by the retention job).
erasure_tasks = Table(
    "ds_erasure_tasks", metadata,
    Column("dispatch_id", String(36), primary_key=True),
    Column("tenant", String(6), nullable=False, index=True),
    Column("source", String(16), nullable=False),
    Column("erased_at_source_on", Date, nullable=False),
    Column("notified_on", Date, nullable=False),
    Column("open", Boolean, nullable=False),
)

# -- where supporters can be deployed: kept by consumers.py from INTAKE (public directory data only);
# the table is here so that queries.py reads it without importing the consumer ------------------
targets_metadata = MetaData()
targets = Table(
    "ds_targets", targets_metadata,
    Column("target_id", String(36), primary_key=True),
    Column("kind", String(16), nullable=False),  # place | programme | agency
    Column("name", String(200), nullable=False),
    # Local governments that may deploy their roster's supporters there, space-separated: a
    # place's and an agency's municipality, a programme's operators.
    Column("local_governments", Text, nullable=False),
    Column("closed", Boolean, nullable=False),
)


IGNORED = {
    "personal details, consents and disclosures: in the log and the privacy records, not in a list":
        (dispatch.SubjectDetailsRecorded, dispatch.SubjectDetailsCorrected, dispatch.SubjectConsented,
         dispatch.SupporterConsented, dispatch.SubjectConsentWithdrawn, dispatch.InformationDisclosed),
    "the plan, guidance and incidents are read from the dispatch itself, not from a list":
        (dispatch.ActivityPlanAgreed, dispatch.GuidanceGiven, dispatch.IncidentReported),
    "a deployment's reports are counted by the reporting service": (dispatch.DeploymentActivityReported,),
    "access to personal data is audited, not listed": (audit.PersonalDataAccessed,),
}
HANDLERS: EventHandlers[ProjectionHandler] = EventHandlers("dispatch", ignored=IGNORED)


def _d(value: str | None) -> date | None:
    return date.fromisoformat(value) if value else None


class DispatchReadModel(SqlProjection):
    name = "dispatch-read"
    handlers = HANDLERS
    pass_by_unhandled = True

    def __init__(self, engine) -> None:
        super().__init__(engine, metadata)


def make_read_models(runtime: Runtime) -> list[Handler]:
    return [DispatchReadModel(runtime.engine)]


# -- the roster, as dispatch recorded what REGISTRY provided ----------------------------------
@HANDLERS.on(dispatch.RosterReceived)
def _roster_received(conn: Connection, e: Envelope) -> None:
    d = e.data
    insert_row(conn, roster, {
        "entry_id": e.subject, "tenant": e.tenant, "supporter_id": d["supporter_id"], "registrar": d["registrar"],
        "registration_number": d["registration_number"], "term_ends_on": _d(d["term_ends_on"]),
        "received_on": _d(d["received_on"])})


@HANDLERS.on(dispatch.RosterEntryRefreshed)
def _entry_refreshed(conn: Connection, e: Envelope) -> None:
    d = e.data
    update_rows(conn, roster, {"entry_id": e.subject}, {
        "registration_number": d["registration_number"], "term_ends_on": _d(d["term_ends_on"]),
        "received_on": _d(d["received_on"]), "ended": None})


@HANDLERS.on(dispatch.SupporterIntentReconfirmed)
def _intent_reconfirmed(conn: Connection, e: Envelope) -> None:
    update_rows(conn, roster, {"entry_id": e.subject}, {"intent_reconfirmed_on": _d(e.data["confirmed_on"])})


@HANDLERS.on(dispatch.SupporterTermRenewed)
def _term_renewed(conn: Connection, e: Envelope) -> None:
    update_rows(conn, roster, {"entry_id": e.subject}, {"term_ends_on": _d(e.data["term_ends_on"])})
    update_rows(conn, roster, {"entry_id": e.subject, "ended": "expired"}, {"ended": None})


@HANDLERS.on(dispatch.SupporterRegistrationEnded)
def _registration_ended(conn: Connection, e: Envelope) -> None:
    update_rows(conn, roster, {"entry_id": e.subject}, {"ended": e.data["reason"]})


@HANDLERS.on(dispatch.SupporterUseSuspensionReceived)
def _use_suspended(conn: Connection, e: Envelope) -> None:
    update_rows(conn, roster, {"entry_id": e.subject}, {"use_suspended": True})


@HANDLERS.on(dispatch.SupporterUseResumptionReceived)
def _use_resumed(conn: Connection, e: Envelope) -> None:
    update_rows(conn, roster, {"entry_id": e.subject}, {"use_suspended": False})


# -- dispatches and the officer's tasks ---------------------------------------------------------
@HANDLERS.on(dispatch.DispatchRequested)
def _requested(conn: Connection, e: Envelope) -> None:
    d = e.data
    insert_row(conn, dispatches, {
        "dispatch_id": e.subject, "tenant": e.tenant, "status": "requested", "source": d["source"],
        "subject_ref": d["subject_ref"], "requested_on": _d(d["requested_on"])})


@HANDLERS.on(dispatch.SupporterAssigned)
def _assigned(conn: Connection, e: Envelope) -> None:
    update_rows(conn, dispatches, {"dispatch_id": e.subject}, {"supporter_id": e.data["supporter_id"]})


@HANDLERS.on(dispatch.DispatchStarted)
def _started(conn: Connection, e: Envelope) -> None:
    update_rows(conn, dispatches, {"dispatch_id": e.subject},
                {"status": "active", "started_on": _d(e.data["started_on"])})


@HANDLERS.on(dispatch.DispatchSuspended)
def _suspended(conn: Connection, e: Envelope) -> None:
    update_rows(conn, dispatches, {"dispatch_id": e.subject}, {"status": "suspended"})


@HANDLERS.on(dispatch.DispatchResumed)
def _resumed(conn: Connection, e: Envelope) -> None:
    update_rows(conn, dispatches, {"dispatch_id": e.subject}, {"status": "active"})


@HANDLERS.on(dispatch.DispatchEnded)
def _ended(conn: Connection, e: Envelope) -> None:
    update_rows(conn, dispatches, {"dispatch_id": e.subject}, {
        "status": "ended", "ended_on": _d(e.data["ended_on"]), "end_reason": e.data["reason"]})
    update_rows(conn, tasks, {"dispatch_id": e.subject}, {"open": False})


@HANDLERS.on(dispatch.SubjectDataErased)
def _erased(conn: Connection, e: Envelope) -> None:
    update_rows(conn, dispatches, {"dispatch_id": e.subject}, {"erased": True})
    update_rows(conn, erasure_tasks, {"dispatch_id": e.subject}, {"open": False})


@HANDLERS.on(dispatch.SourceErasureNotified)
def _source_erasure_notified(conn: Connection, e: Envelope) -> None:
    d = e.data
    insert_row(conn, erasure_tasks, {
        "dispatch_id": e.subject, "tenant": e.tenant, "source": d["source"],
        "erased_at_source_on": _d(d["erased_at_source_on"]), "notified_on": _d(d["notified_on"]), "open": True})


@HANDLERS.on(dispatch.ActivityReported)
def _activity_reported(conn: Connection, e: Envelope) -> None:
    d = e.data
    if d["next_step"] == "continue":  # nothing for the officer to do
        return
    insert_row(conn, tasks, {
        "report_id": d["report_id"], "dispatch_id": e.subject, "tenant": e.tenant,
        "supporter_id": d["supporter_id"], "next_step": d["next_step"],
        "reported_on": _d(d["reported_on"]), "open": True})


@HANDLERS.on(dispatch.ReportReviewed)
def _report_reviewed(conn: Connection, e: Envelope) -> None:
    update_rows(conn, tasks, {"report_id": e.data["report_id"]}, {"open": False})


# -- deployments to places, programmes and agencies ------------------------------------------
@HANDLERS.on(dispatch.SupporterDeployed)
def _deployed(conn: Connection, e: Envelope) -> None:
    d = e.data
    insert_row(conn, deployments, {
        "deployment_id": e.subject, "tenant": e.tenant, "status": "planned", "supporter_id": d["supporter_id"],
        "target_kind": d["target_kind"], "target_id": d["target_id"], "target_name": d["target_name"],
        "role": d["role"], "starts_on": _d(d["starts_on"]), "ends_on": _d(d["ends_on"])})


@HANDLERS.on(dispatch.DeploymentAccepted)
def _deployment_accepted(conn: Connection, e: Envelope) -> None:
    update_rows(conn, deployments, {"deployment_id": e.subject}, {"status": "active"})


@HANDLERS.on(dispatch.DeploymentEnded)
def _deployment_ended(conn: Connection, e: Envelope) -> None:
    update_rows(conn, deployments, {"deployment_id": e.subject}, {"status": "ended", "end_reason": e.data["reason"]})
