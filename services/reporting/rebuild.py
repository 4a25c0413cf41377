"""Drop and rebuild the reporting read models so they are replayed from the start of the streams.

Run it with the reporting service stopped: `python -m services.reporting.rebuild`.

1. `rebuild(engine)` drops and recreates every rp_* table and deletes this projection's rows in
   projection_positions, projected_events and skipped_messages, in one transaction: the recorded
   position of every stream is 0 again.
2. When the service starts again, the consumer runner sees each durable ahead of the recorded
   position and recreates it from position + 1, so the streams (kept forever) are replayed from
   their first message.
"""

from __future__ import annotations

import logging
import sys

from sqlalchemy import Engine, Table

from libs.platform.db import make_engine
from libs.platform.settings import Settings
from services.reporting.projections import ReportingProjection, metadata

log = logging.getLogger(__name__)


def reporting_tables() -> list[Table]:
    return [t for t in metadata.sorted_tables if t.name.startswith("rp_")]


def rebuild(engine: Engine) -> None:
    """Empty read models and positions at 0, in one transaction."""
    projection = ReportingProjection(engine, check_shape=False)  # the tracking tables exist after this
    tables = reporting_tables()
    with engine.begin() as conn:
        metadata.drop_all(conn, tables=tables)
        for tracking in (projection.positions, projection.seen, projection.skipped):
            conn.execute(tracking.delete().where(tracking.c.projection == projection.name))
        metadata.create_all(conn, tables=tables)


def main() -> int:
    settings = Settings.from_env("reporting")
    engine = make_engine(settings)
    try:
        rebuild(engine)
    finally:
        engine.dispose()
    print("reporting read models dropped and recreated; positions reset to 0: start reporting to replay")
    return 0


if __name__ == "__main__":
    sys.exit(main())
