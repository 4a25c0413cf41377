"""Reporting read models: SQL tables maintained from the INTAKE stream.

They can be dropped and rebuilt from the streams at any time (the streams are kept forever).
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Column, Connection, DateTime, Integer, MetaData, String, Table

from libs.domain.fiscal import fiscal_year
from libs.platform.cloudevents import Envelope
from libs.platform.projection import SqlProjection

metadata = MetaData()
centres = Table(
    "rp_centres", metadata,
    Column("centre_id", String(36), primary_key=True),
    Column("tenant", String(6), nullable=False, index=True),
    Column("name", String(200), nullable=False),
    Column("kind", String(16), nullable=False),
    Column("site", String(16), nullable=False),
    Column("registered_at", DateTime(timezone=True), nullable=False),
)
cases = Table(
    "rp_cases", metadata,
    Column("case_id", String(36), primary_key=True),
    Column("centre_id", String(36), nullable=False, index=True),
    Column("tenant", String(6), nullable=False),
    Column("client_kind", String(16), nullable=False),
    Column("age_group", String(16), nullable=False),
)
consultations = Table(
    "rp_consultations", metadata,
    Column("event_id", String(36), primary_key=True),
    Column("consultation_id", String(36), nullable=False),
    Column("case_id", String(36), nullable=False),
    Column("centre_id", String(36), nullable=False, index=True),
    Column("tenant", String(6), nullable=False),
    Column("channel", String(16), nullable=False),
    Column("consulted_by", String(16), nullable=False),
    Column("occurred_at", DateTime(timezone=True), nullable=False),
    Column("fy", Integer, nullable=False, index=True),
)


class ReportingProjection(SqlProjection):
    name = "reporting"

    def __init__(self, engine) -> None:  # noqa: ANN001
        super().__init__(engine, metadata)

    def project(self, conn: Connection, envelope: Envelope) -> None:
        handler = getattr(self, f"_on_{envelope.context}_{envelope.name}", None)
        if handler is not None:  # events this projection does not count are only tracked
            handler(conn, envelope, envelope.data)

    def _on_intake_CentreRegistered(self, conn: Connection, e: Envelope, d: dict) -> None:
        conn.execute(centres.insert().values(
            centre_id=e.subject, tenant=d["tenant"], name=d["name"], kind=d["kind"], site=d["site"],
            registered_at=datetime.fromisoformat(e.time)))

    def _on_intake_CaseOpened(self, conn: Connection, e: Envelope, d: dict) -> None:
        conn.execute(cases.insert().values(
            case_id=e.subject, centre_id=d["centre_id"], tenant=d["tenant"],
            client_kind=d["client_kind"], age_group=d["age_group"]))

    def _on_intake_ConsultationRecorded(self, conn: Connection, e: Envelope, d: dict) -> None:
        occurred_at = datetime.fromisoformat(d["occurred_at"])
        conn.execute(consultations.insert().values(
            event_id=e.id, consultation_id=d["consultation_id"], case_id=e.subject,
            centre_id=d["centre_id"], tenant=e.tenant, channel=d["channel"],
            consulted_by=d["consulted_by"], occurred_at=occurred_at, fy=fiscal_year(occurred_at)))
