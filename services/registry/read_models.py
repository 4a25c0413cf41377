"""The registry's own read models, fed from its event log: supporter search and roster receipts."""

from __future__ import annotations

from datetime import date

from sqlalchemy import Boolean, Column, Connection, Date, MetaData, String, Table, Text

from libs.domain import audit, registry
from libs.platform.messaging.cloudevents import Envelope
from libs.platform.messaging.consumer import Handler
from libs.platform.messaging.handlers import EventHandlers
from libs.platform.readmodels.projection import ProjectionHandler, SqlProjection
from libs.platform.runtime import Runtime

metadata = MetaData()
supporters = Table(
    "rg_supporters", metadata,
    Column("supporter_id", String(36), primary_key=True),
    Column("tenant", String(6), nullable=False, index=True),
    Column("status", String(16), nullable=False, index=True),
    Column("certificate_number", String(32), nullable=False),
    Column("registration_number", String(16)),
    Column("applied_on", Date, nullable=False),
    Column("term_starts_on", Date),
    Column("term_ends_on", Date, index=True),
    Column("consent_active", Boolean, nullable=False),
    # Added later (nullable: rows projected before read NULL as "not known then").
    Column("use_suspended", Boolean, nullable=True),
    Column("ended_on", Date, nullable=True, index=True),
    Column("erased", Boolean, nullable=True),
)
roster_entries = Table(
    "rg_roster_entries", metadata,
    Column("roster_id", String(36), primary_key=True),
    Column("supporter_id", String(36), primary_key=True),
    Column("tenant", String(6), nullable=False),
    Column("recipient", String(6), nullable=False, index=True),
    Column("provided_on", Date, nullable=False),
    Column("registration_number", String(16), nullable=False),
    Column("consent_id", String(36), nullable=False),
    Column("items", Text, nullable=False),
)


IGNORED = {
    "the registrar's set-up and training are not listed":
        (registry.RegistrarOpened, registry.RegistrarConfigured, registry.NumberAllocated,
         registry.TrainingCourseScheduled, registry.TrainingAttended, registry.TrainingCompleted,
         registry.ContinuingTrainingAttended),
    "personal details and screening: in the log only, sealed":
        (registry.ScreeningRecorded, registry.SupporterDetailsChanged, registry.RevocationInquiryRecorded),
    "access to personal data is audited, not listed": (audit.PersonalDataAccessed,),
}
HANDLERS: EventHandlers[ProjectionHandler] = EventHandlers("registry", ignored=IGNORED)


def _d(value: str) -> date:
    return date.fromisoformat(value)


class RegistryReadModel(SqlProjection):
    name = "registry-read"
    handlers = HANDLERS
    pass_by_unhandled = True

    def __init__(self, engine) -> None:
        super().__init__(engine, metadata)


def make_read_models(runtime: Runtime) -> list[Handler]:
    return [RegistryReadModel(runtime.engine)]


def _supporter(e: Envelope):
    return supporters.c.supporter_id == e.subject


@HANDLERS.on(registry.RegistrationApplied)
def _applied(conn: Connection, e: Envelope) -> None:
    d = e.data
    conn.execute(supporters.insert().values(
        supporter_id=e.subject, tenant=e.tenant, status="applied",
        certificate_number=d["certificate_number"], applied_on=_d(d["applied_on"]), consent_active=False))


@HANDLERS.on(registry.RegistrationConsented)
def _consented(conn: Connection, e: Envelope) -> None:
    conn.execute(supporters.update().where(_supporter(e)).values(consent_active=True))


@HANDLERS.on(registry.RegistrationConsentWithdrawn)
def _consent_withdrawn(conn: Connection, e: Envelope) -> None:
    conn.execute(supporters.update().where(_supporter(e)).values(consent_active=False))


@HANDLERS.on(registry.SupporterRegistered)
def _registered(conn: Connection, e: Envelope) -> None:
    d = e.data
    conn.execute(supporters.update().where(_supporter(e)).values(
        status="registered", registration_number=d["registration_number"],
        term_starts_on=_d(d["term_starts_on"]), term_ends_on=_d(d["term_ends_on"])))


@HANDLERS.on(registry.RegistrationRenewed)
def _renewed(conn: Connection, e: Envelope) -> None:
    d = e.data
    conn.execute(supporters.update().where(_supporter(e)).values(
        status="registered", term_starts_on=_d(d["term_starts_on"]), term_ends_on=_d(d["term_ends_on"]),
        ended_on=None))


def _ended(status: str, field: str) -> ProjectionHandler:
    def project(conn: Connection, e: Envelope) -> None:
        conn.execute(supporters.update().where(_supporter(e)).values(status=status, ended_on=_d(e.data[field])))
    return project


HANDLERS.on(registry.RegistrationRefused)(_ended("refused", "refused_on"))
HANDLERS.on(registry.RegistrationExpired)(_ended("expired", "term_ended_on"))
HANDLERS.on(registry.RegistrationWithdrawn)(_ended("withdrawn", "withdrawn_on"))
HANDLERS.on(registry.RegistrationRevoked)(_ended("revoked", "revoked_on"))


@HANDLERS.on(registry.SupporterUseSuspended)
def _use_suspended(conn: Connection, e: Envelope) -> None:
    conn.execute(supporters.update().where(_supporter(e)).values(use_suspended=True))


@HANDLERS.on(registry.SupporterUseResumed)
def _use_resumed(conn: Connection, e: Envelope) -> None:
    conn.execute(supporters.update().where(_supporter(e)).values(use_suspended=False))


@HANDLERS.on(registry.SupporterDataErased)
def _data_erased(conn: Connection, e: Envelope) -> None:
    conn.execute(supporters.update().where(_supporter(e)).values(erased=True))


@HANDLERS.on(registry.RosterProvided)
def _roster_provided(conn: Connection, e: Envelope) -> None:
    d = e.data
    for entry in d["entries"]:
        conn.execute(roster_entries.insert().values(
            roster_id=e.subject, supporter_id=entry["supporter_id"], tenant=e.tenant,
            recipient=d["recipient"], provided_on=_d(d["provided_on"]),
            registration_number=entry["registration_number"], consent_id=entry["consent_id"],
            items=",".join(d["items"])))
