"""A rebuild while the real consumer runner holds a fetched batch: nothing fetched before the
rebuild is applied after it, and the runner replays the stream from its first message by itself
(libs/platform/readmodels/rebuilds.py; issue 13, point 7). On SQLite and PostgreSQL: the fence is a lock there."""

from __future__ import annotations

import pytest
from sqlalchemy import BigInteger, Column, MetaData, Table, func, select

from libs.platform.messaging.cloudevents import Envelope
from libs.platform.messaging.consumer import ConsumerRunner
from libs.platform.readmodels.rebuilds import RebuildableProjection
from libs.platform.store.db import make_engine
from tests.fault.test_consumer_liveness import SPEC, _bus, _publish, _run_until

pytestmark = pytest.mark.fault


class Fenced(RebuildableProjection):
    """Records each applied sequence (twice would break the primary key); `before_batch` runs once,
    just before the next batch's transaction, as another process's rebuild would."""

    name = "fenced"

    def __init__(self, engine) -> None:
        metadata = MetaData()
        self.rows = Table("fenced_applied", metadata, Column("seq", BigInteger, primary_key=True))
        super().__init__(engine, metadata)
        self.before_batch = None

    def read_models(self) -> list[Table]:
        return [self.rows]

    def project(self, conn, envelope: Envelope) -> None:
        conn.execute(self.rows.insert().values(seq=envelope.sequence))

    def apply_batch(self, envelopes: list[Envelope], stream: str, position: int) -> None:
        if self.before_batch is not None:
            hook, self.before_batch = self.before_batch, None
            hook()
        super().apply_batch(envelopes, stream, position)

    def sequences(self) -> list[int]:
        with self.engine.connect() as conn:
            return [r.seq for r in conn.execute(select(self.rows.c.seq).order_by(self.rows.c.seq))]

    def count(self) -> int:
        with self.engine.connect() as conn:
            return conn.execute(select(func.count()).select_from(self.rows)).scalar_one()


async def test_a_rebuild_while_a_fetched_batch_waits_replays_the_stream_from_its_start_and_applies_it_once(
        nats_server, database):
    engine = make_engine(database.settings("fence", nats_server.url))
    projection = Fenced(engine)
    await _publish(nats_server.url, 1, 300)
    bus = await _bus(nats_server.url)
    runner = ConsumerRunner(bus=bus, spec=SPEC, handler=projection)
    await _run_until(runner, lambda: projection.count() == 300, timeout=60)

    rebuilt = []
    projection.before_batch = lambda: rebuilt.append(Fenced(engine).rebuild(by="another process"))
    await _publish(nats_server.url, 301, 400)  # fetched under the old generation, applied after the rebuild?
    resubscribed = runner.resubscribed
    # (never projection.position() here: that is the runner's read, which the fence answers)
    await _run_until(runner, lambda: projection.replay_state().positions.get("INTAKE") == 400, timeout=60)
    assert rebuilt == [1]
    assert projection.sequences() == list(range(1, 401))  # replayed from 1, each once: 301.. not first
    assert runner.resubscribed > resubscribed
    state = projection.replay_state()
    assert state.generation == 1 and state.positions == {"INTAKE": 400}
    await bus.close()
    engine.dispose()
