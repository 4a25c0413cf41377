"""What reporting does with other services' events: one projection (services/reporting/projections)
follows INTAKE, REGISTRY and DISPATCH, one durable consumer and one recorded position per stream.

Read models with no recorded position (a new database, or one emptied by an offline rebuild)
replay the streams from their start: the reports answer 503 until they are back.
"""

from __future__ import annotations

from libs.platform.messaging.consumer import Handler
from libs.platform.messaging.streams import STREAMS, StreamSpec
from libs.platform.runtime import Runtime
from services.reporting.projections import ReportingProjection
from services.reporting.submissions import create_tables as create_submission_tables

REPLAY_AT_START = "start on empty read models"  # who started the replay, as /v1/ops/rebuild shows it


def make_consumers(runtime: Runtime) -> list[tuple[StreamSpec, Handler]]:
    projection = ReportingProjection(runtime.engine)
    runtime.provide(projection)
    projection.replay_if_empty(by=REPLAY_AT_START)
    create_submission_tables(runtime.engine)
    return [(spec, projection) for spec in STREAMS.values()]
