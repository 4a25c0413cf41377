"""Drop and rebuild the reporting read models so they are replayed from the start of the streams.

Run it with the reporting service stopped: `python -m services.reporting.rebuild`.

1. `rebuild(engine)` drops and recreates every rp_* table and deletes this projection's rows in
   projection_positions, projected_events and skipped_messages, in one transaction: the recorded
   position of every stream is 0 again.
2. `reset_consumers(bus)` deletes the projection's durable JetStream consumers. The consumer runner
   creates them again with DeliverPolicy.ALL, so the streams (kept forever) are delivered from their
   first message. Without this step the old durables, having acked everything, would only deliver
   new messages, and the runner would wait for the missing ones forever.
"""

from __future__ import annotations

import asyncio
import logging
import sys

from nats.js.errors import NotFoundError
from sqlalchemy import Engine, Table

from libs.platform.bus import Bus
from libs.platform.db import make_engine
from libs.platform.settings import Settings
from libs.platform.streams import STREAMS
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


def durable_names() -> list[tuple[str, str]]:
    """(stream, durable) of each consumer of this projection, named as the consumer runner names them."""
    return [(spec.name, f"{ReportingProjection.name}-{spec.name.lower()}") for spec in STREAMS.values()]


async def reset_consumers(bus: Bus) -> list[str]:
    """Delete the projection's durable consumers; returns the ones that existed."""
    deleted = []
    for stream, durable in durable_names():
        try:
            await bus.js.delete_consumer(stream, durable)
            deleted.append(durable)
        except NotFoundError:
            pass
    return deleted


async def _reset(settings: Settings, timeout: float) -> list[str]:
    bus = Bus(settings.nats_url, name="tsunagu-reporting-rebuild")
    await asyncio.wait_for(bus.connect(), timeout)
    try:
        return await reset_consumers(bus)
    finally:
        await bus.close()


def main() -> int:
    settings = Settings.from_env("reporting")
    engine = make_engine(settings)
    try:
        rebuild(engine)
    finally:
        engine.dispose()
    print("reporting read models dropped and recreated; positions reset to 0")
    try:
        deleted = asyncio.run(_reset(settings, timeout=5))
    except (TimeoutError, asyncio.TimeoutError):
        print(f"NATS at {settings.nats_url} did not answer: delete the durables "
              f"{', '.join(d for _, d in durable_names())} before starting reporting", file=sys.stderr)
        return 1
    print(f"durable consumers deleted: {', '.join(deleted) or 'none existed'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
