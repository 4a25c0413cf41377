"""A failed batch costs the consumer runner a few transactions, not one per buffered message
(messaging/consumer_batches.py): a poison message in a batch of 2,000 is found by halving, the
rest still committed in batches, in order and once; a failure of the database retries the batch."""

from __future__ import annotations

import math

import pytest
from sqlalchemy import BigInteger, Column, MetaData, Table, create_engine, select
from sqlalchemy.exc import OperationalError

from libs.platform.messaging.cloudevents import Envelope
from libs.platform.messaging.consumer import ConsumerRunner
from libs.platform.messaging.deadletters import DeadLetters
from libs.platform.readmodels.projection import SqlProjection
from tests.fault.test_consumer_order import SPEC, _bus, _drain, _envelope, _publish

pytestmark = pytest.mark.fault
BATCH = 2_000
MAX_DELIVER = 3


class CountingProjection(SqlProjection):
    """Keeps each message's sequence; fails as told; counts its transactions."""

    name = "bisect-test"

    def __init__(self, engine, fail: dict[int, int], error: type[Exception] = ValueError) -> None:
        metadata = MetaData()
        self.rows = Table("applied", metadata, Column("seq", BigInteger, primary_key=True))
        super().__init__(engine, metadata)
        self.fail, self.error = fail, error
        self.batches: list[int] = []  # the size of each batch tried (one tried alone is one of one)
        self.alone = 0  # messages tried alone
        self.skips = 0

    def project(self, conn, envelope: Envelope) -> None:
        if self.fail.get(envelope.sequence, 0) > 0:
            self.fail[envelope.sequence] -= 1
            if self.error is OperationalError:
                raise OperationalError("INSERT …", {}, Exception("database is locked"))
            raise self.error(f"poison {envelope.sequence}")
        conn.execute(self.rows.insert().values(seq=envelope.sequence))

    def apply_batch(self, envelopes, stream, position) -> None:
        self.batches.append(len(envelopes))
        super().apply_batch(envelopes, stream, position)

    def apply(self, envelope, stream, position) -> None:
        self.alone += 1
        super().apply(envelope, stream, position)

    def skip(self, stream, position, reason) -> None:
        self.skips += 1
        super().skip(stream, position, reason)

    def sequences(self) -> list[int]:
        with self.engine.connect() as conn:
            return [r.seq for r in conn.execute(select(self.rows.c.seq).order_by(self.rows.c.seq))]


async def test_one_poison_message_in_a_batch_of_2000_costs_a_few_transactions_and_the_rest_commit_in_batches(
        nats_server, tmp_path):
    engine = create_engine(f"sqlite:///{tmp_path / 'p.db'}")
    poison = 1_234
    projection = CountingProjection(engine, fail={poison: 999})
    async with _bus(nats_server.url) as bus:
        await _publish(nats_server.url, [_envelope(i) for i in range(1, BATCH + 1)])
        runner = ConsumerRunner(bus=bus, spec=SPEC, handler=projection, max_deliver=MAX_DELIVER,
                                batch_size=BATCH, dead_letters=DeadLetters(engine))
        await _drain(runner, lambda: projection.position("INTAKE") == BATCH)
        assert projection.sequences() == [s for s in range(1, BATCH + 1) if s != poison]  # once, in order
        assert runner.dead_lettered == 1 and projection.skips == 1
        # The whole batch twice, then one halving per power of two down to the poison, which is tried
        # alone MAX_DELIVER times (and the one before it, when the last halving leaves it alone), then
        # what is after it in a batch (two, when the server handed the 2,000 over in two fetches).
        # Were every buffered message tried alone: ~1,234.
        # How the server splits the 2,000 into fetches moves the halvings' boundaries (a loaded CI machine
        # made one more message go alone): a few more, and still nothing like ~1,234.
        halvings, splits = math.ceil(math.log2(BATCH)), 4
        assert projection.alone <= MAX_DELIVER + 1 + splits, projection.alone
        transactions = runner.batch_transactions + projection.alone + projection.skips
        assert transactions <= 2 * (2 + halvings) + (MAX_DELIVER + 1) + 1 + 2 + 2 * splits, \
            (projection.batches, projection.alone)


async def test_a_failure_of_the_database_retries_the_whole_batch_and_applies_nothing_alone(nats_server, tmp_path):
    engine = create_engine(f"sqlite:///{tmp_path / 'p.db'}")
    projection = CountingProjection(engine, fail={7: 2}, error=OperationalError)  # e.g. the database locked
    async with _bus(nats_server.url) as bus:
        await _publish(nats_server.url, [_envelope(i) for i in range(1, 201)])
        runner = ConsumerRunner(bus=bus, spec=SPEC, handler=projection, max_deliver=MAX_DELIVER, batch_size=BATCH)
        await _drain(runner, lambda: projection.position("INTAKE") == 200)
        assert projection.sequences() == list(range(1, 201))
        assert projection.alone == 0 and runner.dead_lettered == 0
        assert projection.batches[:3] == [projection.batches[0]] * 3  # the same batch, after each back-off
