"""Reporting read models: SQL tables maintained from the INTAKE, REGISTRY and DISPATCH streams.

They can be emptied and replayed from the streams at any time (the streams are kept forever),
online or offline: see services/reporting/rebuild.py and libs/platform/readmodels/rebuilds.py.
"""

from __future__ import annotations

from sqlalchemy import Connection, Engine, Table, inspect

from libs.platform.messaging.cloudevents import Envelope
from libs.platform.readmodels.rebuilds import RebuildableProjection
from services.reporting.projections import dispatch, intake, programmes, registry
from services.reporting.projections.common import Handlers
from services.reporting.projections.tables import (  # noqa: F401 - the tables, for the queries
    activities,
    cases,
    centre_profiles,
    centres,
    consultations,
    deployment_activities,
    dispatch_events,
    metadata,
    outreach_visits,
    referrals,
    rosters,
    support_decisions,
    supporter_endings,
    supporter_terms,
)

HANDLERS: Handlers = {**intake.HANDLERS, **programmes.HANDLERS, **registry.HANDLERS, **dispatch.HANDLERS}


class ReportingProjection(RebuildableProjection):
    """One projection over the three streams: one name, one position per stream."""

    name = "reporting"

    def __init__(self, engine: Engine, *, check_shape: bool = True) -> None:
        super().__init__(engine, metadata)
        stale = outdated_tables(engine) if check_shape else []
        if stale:  # fail at start-up, not by dead-lettering every message that touches them
            raise OutdatedReadModels(
                f"reporting tables of an older shape: {', '.join(stale)}; "
                "stop the service and run `python -m services.reporting.rebuild`, then start it")

    def read_models(self) -> list[Table]:
        return read_model_tables()

    def project(self, conn: Connection, envelope: Envelope) -> None:
        handler = HANDLERS.get((envelope.context, envelope.name))
        if handler is not None:  # events this projection does not count are only tracked
            handler(conn, envelope)


def read_model_tables() -> list[Table]:
    """The rp_* tables: what a rebuild empties (never the submissions, nor the positions of others)."""
    return [t for t in metadata.sorted_tables if t.name.startswith("rp_")]


class OutdatedReadModels(RuntimeError):
    """The database holds rp_* tables made by an older version of this projection."""


def outdated_tables(engine: Engine) -> list[str]:
    """The rp_* tables whose columns differ from those this code writes."""
    inspector = inspect(engine)
    return [
        table.name for table in metadata.sorted_tables
        if table.name.startswith("rp_") and inspector.has_table(table.name)
        and {c["name"] for c in inspector.get_columns(table.name)} != set(table.columns.keys())
    ]
