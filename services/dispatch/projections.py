"""Dispatch's read models: from its own log the roster, dispatches and deployments by state and
officer tasks; from INTAKE the places, programmes and agencies a supporter can be deployed to."""

from __future__ import annotations

from datetime import date

from sqlalchemy import Boolean, Column, Connection, Date, MetaData, String, Table, Text

from libs.platform.messaging.cloudevents import Envelope
from libs.platform.readmodels.projection import SqlProjection

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


def _d(value: str | None) -> date | None:
    return date.fromisoformat(value) if value else None


class DispatchReadModel(SqlProjection):
    name = "dispatch-read"

    def __init__(self, engine) -> None:  # noqa: ANN001
        super().__init__(engine, metadata)

    def project(self, conn: Connection, e: Envelope) -> None:
        d = e.data
        entry = roster.c.entry_id == e.subject
        this = dispatches.c.dispatch_id == e.subject
        match e.name:
            case "RosterReceived":
                conn.execute(roster.insert().values(
                    entry_id=e.subject, tenant=e.tenant, supporter_id=d["supporter_id"], registrar=d["registrar"],
                    registration_number=d["registration_number"], term_ends_on=_d(d["term_ends_on"]),
                    received_on=_d(d["received_on"])))
            case "RosterEntryRefreshed":
                conn.execute(roster.update().where(entry).values(
                    registration_number=d["registration_number"], term_ends_on=_d(d["term_ends_on"]),
                    received_on=_d(d["received_on"]), ended=None))
            case "SupporterIntentReconfirmed":
                conn.execute(roster.update().where(entry).values(intent_reconfirmed_on=_d(d["confirmed_on"])))
            case "SupporterTermRenewed":
                conn.execute(roster.update().where(entry).values(term_ends_on=_d(d["term_ends_on"])))
                conn.execute(roster.update().where(entry, roster.c.ended == "expired").values(ended=None))
            case "SupporterRegistrationEnded":
                conn.execute(roster.update().where(entry).values(ended=d["reason"]))
            case "SupporterUseSuspensionReceived" | "SupporterUseResumptionReceived":
                conn.execute(roster.update().where(entry).values(
                    use_suspended=e.name == "SupporterUseSuspensionReceived"))
            case "DispatchRequested":
                conn.execute(dispatches.insert().values(
                    dispatch_id=e.subject, tenant=e.tenant, status="requested", source=d["source"],
                    subject_ref=d["subject_ref"], requested_on=_d(d["requested_on"])))
            case "SupporterAssigned":
                conn.execute(dispatches.update().where(this).values(supporter_id=d["supporter_id"]))
            case "DispatchStarted":
                conn.execute(dispatches.update().where(this).values(status="active", started_on=_d(d["started_on"])))
            case "DispatchSuspended":
                conn.execute(dispatches.update().where(this).values(status="suspended"))
            case "DispatchResumed":
                conn.execute(dispatches.update().where(this).values(status="active"))
            case "DispatchEnded":
                conn.execute(dispatches.update().where(this).values(
                    status="ended", ended_on=_d(d["ended_on"]), end_reason=d["reason"]))
                conn.execute(tasks.update().where(tasks.c.dispatch_id == e.subject).values(open=False))
            case "SubjectDataErased":
                conn.execute(dispatches.update().where(this).values(erased=True))
            case "ActivityReported" if d["next_step"] != "continue":
                conn.execute(tasks.insert().values(
                    report_id=d["report_id"], dispatch_id=e.subject, tenant=e.tenant,
                    supporter_id=d["supporter_id"], next_step=d["next_step"],
                    reported_on=_d(d["reported_on"]), open=True))
            case "SupporterDeployed":
                conn.execute(deployments.insert().values(
                    deployment_id=e.subject, tenant=e.tenant, status="planned", supporter_id=d["supporter_id"],
                    target_kind=d["target_kind"], target_id=d["target_id"], target_name=d["target_name"],
                    role=d["role"], starts_on=_d(d["starts_on"]), ends_on=_d(d["ends_on"])))
            case "DeploymentAccepted":
                conn.execute(deployments.update().where(deployments.c.deployment_id == e.subject).values(status="active"))
            case "DeploymentEnded":
                conn.execute(deployments.update().where(deployments.c.deployment_id == e.subject).values(
                    status="ended", end_reason=d["reason"]))
            case "ReportReviewed":
                conn.execute(tasks.update().where(tasks.c.report_id == d["report_id"]).values(open=False))


# -- where supporters can be deployed, as INTAKE publishes it (public directory data only) -------
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


class DeploymentTargets(SqlProjection):
    name = "dispatch-targets"

    def __init__(self, engine) -> None:  # noqa: ANN001
        super().__init__(engine, targets_metadata)

    def project(self, conn: Connection, e: Envelope) -> None:
        d = e.data
        match e.name:
            case "PlaceOpened":
                self._add(conn, e.subject, "place", d["name"], {d["municipality"], e.tenant})
            case "ProgrammeStarted":
                self._add(conn, e.subject, "programme", d["name"], set(d["operators"]))
            case "AgencyRegistered":
                self._add(conn, e.subject, "agency", d["name"], {d["municipality"]})
            case "ProgrammeEnded" | "PlaceClosed":
                conn.execute(targets.update().where(targets.c.target_id == e.subject).values(closed=True))

    @staticmethod
    def _add(conn: Connection, target_id: str, kind: str, name: str, local_governments: set[str]) -> None:
        conn.execute(targets.insert().values(target_id=target_id, kind=kind, name=name,
                                             local_governments=" ".join(sorted(local_governments)), closed=False))
