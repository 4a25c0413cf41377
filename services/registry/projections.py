"""The registry's own read models, fed from its event log: supporter search and roster receipts."""

from __future__ import annotations

from datetime import date

from sqlalchemy import Boolean, Column, Connection, Date, MetaData, String, Table, Text

from libs.platform.messaging.cloudevents import Envelope
from libs.platform.readmodels.projection import SqlProjection

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


ENDINGS = {"RegistrationRefused": ("refused", "refused_on"), "RegistrationExpired": ("expired", "term_ended_on"),
           "RegistrationWithdrawn": ("withdrawn", "withdrawn_on"), "RegistrationRevoked": ("revoked", "revoked_on")}


def _d(value: str) -> date:
    return date.fromisoformat(value)


class RegistryReadModel(SqlProjection):
    name = "registry-read"

    def __init__(self, engine) -> None:  # noqa: ANN001
        super().__init__(engine, metadata)

    def project(self, conn: Connection, e: Envelope) -> None:
        d = e.data
        where = supporters.c.supporter_id == e.subject
        match e.name:
            case "RegistrationApplied":
                conn.execute(supporters.insert().values(
                    supporter_id=e.subject, tenant=e.tenant, status="applied",
                    certificate_number=d["certificate_number"], applied_on=_d(d["applied_on"]),
                    consent_active=False))
            case "RegistrationConsented":
                conn.execute(supporters.update().where(where).values(consent_active=True))
            case "RegistrationConsentWithdrawn":
                conn.execute(supporters.update().where(where).values(consent_active=False))
            case "SupporterRegistered":
                conn.execute(supporters.update().where(where).values(
                    status="registered", registration_number=d["registration_number"],
                    term_starts_on=_d(d["term_starts_on"]), term_ends_on=_d(d["term_ends_on"])))
            case "RegistrationRenewed":
                conn.execute(supporters.update().where(where).values(
                    status="registered", term_starts_on=_d(d["term_starts_on"]), term_ends_on=_d(d["term_ends_on"]),
                    ended_on=None))
            case "RegistrationRefused" | "RegistrationExpired" | "RegistrationWithdrawn" | "RegistrationRevoked":
                status, on = ENDINGS[e.name]
                conn.execute(supporters.update().where(where).values(status=status, ended_on=_d(d[on])))
            case "SupporterUseSuspended" | "SupporterUseResumed":
                conn.execute(supporters.update().where(where).values(use_suspended=e.name == "SupporterUseSuspended"))
            case "SupporterDataErased":
                conn.execute(supporters.update().where(where).values(erased=True))
            case "RosterProvided":
                for entry in d["entries"]:
                    conn.execute(roster_entries.insert().values(
                        roster_id=e.subject, supporter_id=entry["supporter_id"], tenant=e.tenant,
                        recipient=d["recipient"], provided_on=_d(d["provided_on"]),
                        registration_number=entry["registration_number"], consent_id=entry["consent_id"],
                        items=",".join(d["items"])))
