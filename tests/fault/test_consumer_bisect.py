"""A failed batch costs the consumer runner a few transactions, not one per buffered message
(messaging/consumer_batches.py): a poison message in a batch of 2,000 is found by halving, the
rest still committed in batches, in order and once; a failure of the database retries the batch."""

from __future__ import annotations

import math
from dataclasses import fields

import pytest
from sqlalchemy import BigInteger, Column, MetaData, Table, create_engine, select
from sqlalchemy.exc import OperationalError

from libs.platform.messaging.cloudevents import Envelope
from libs.platform.messaging.consumer import ConsumerRunner
from libs.platform.messaging.deadletters import DeadLetters
from libs.platform.readmodels.projection import SqlProjection
from libs.platform.settings import Settings
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
        self.batches: list[int] = []  # the size of each transaction tried (one tried alone is one of one)
        self.alone: list[int] = []  # the sequence of each message tried alone, each time
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
        self.watch()
        super().apply_batch(envelopes, stream, position)

    def apply(self, envelope, stream, position) -> None:
        self.alone.append(envelope.sequence)
        self.watch()
        super().apply(envelope, stream, position)

    def skip(self, stream, position, reason) -> None:
        self.skips += 1
        self.watch()
        super().skip(stream, position, reason)

    def watch(self) -> None:
        """Called as each transaction begins (a test sets it to look at the runner's health then)."""

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
        # Every transaction tried is in the consumer's metrics, beside the fetches that brought the 2,000.
        assert runner.health.transactions_total == len(projection.batches)
        fetches = runner.health.fetches_total
        # The poison is tried alone MAX_DELIVER times. Another message goes alone only when the last halvings
        # leave it beside the poison (a prefix of three or two known to fail is tried one by one: two before
        # it or two after it at most), or when a fetch brought it alone: the server splits the 2,000 into
        # fetches as it likes (more pieces on a loaded machine), and the fetch that holds the poison brings
        # no other alone. Were every buffered message after a failure tried alone: ~1,234, from 1-2 fetches.
        assert projection.alone.count(poison) == MAX_DELIVER, projection.alone
        others = [s for s in projection.alone if s != poison]
        beside = [s for s in others if poison - 2 <= s <= poison + 2]
        assert len(others) - len(beside) <= fetches - 1, (projection.alone, fetches)
        # Transactions of many: one per fetch (the messages fetched while a batch is applied come next,
        # together), and per subscription at most one failing batch tried once more, then halved
        # (ceil(log2(2,000)) times at most), and the messages after the poison.
        halvings = math.ceil(math.log2(BATCH))
        in_batches = sum(1 for size in projection.batches if size > 1)
        assert in_batches <= fetches + runner.resubscribed * (1 + halvings) + 1, (projection.batches, fetches)


async def test_a_failure_of_the_database_retries_the_whole_batch_and_applies_nothing_alone(nats_server, tmp_path):
    engine = create_engine(f"sqlite:///{tmp_path / 'p.db'}")
    projection = CountingProjection(engine, fail={7: 2}, error=OperationalError)  # e.g. the database locked
    async with _bus(nats_server.url) as bus:
        await _publish(nats_server.url, [_envelope(i) for i in range(1, 201)])
        runner = ConsumerRunner(bus=bus, spec=SPEC, handler=projection, max_deliver=MAX_DELIVER, batch_size=BATCH)
        await _drain(runner, lambda: projection.position("INTAKE") == 200)
        assert projection.sequences() == list(range(1, 201))
        assert projection.alone == [] and runner.dead_lettered == 0
        assert projection.batches[:3] == [projection.batches[0]] * 3  # the same batch, after each back-off


# As deployed (Settings): a consumer failing this many times in a row makes the service unready.
MAX_FAILURES = next(f.default for f in fields(Settings) if f.name == "max_loop_failures")
DEPLOYED_DELIVER = next(f.default for f in fields(Settings) if f.name == "consumer_max_deliver")


async def test_two_poison_messages_in_one_large_batch_never_make_the_consumer_unready_while_it_makes_progress(
        nats_server, tmp_path):
    # Each failed half used to count as a failure in a row: one poison in 2,000 reached ~9 of the 10
    # (/readyz said "N failures in a row" while halves committed), and a second poison crossed them.
    engine = create_engine(f"sqlite:///{tmp_path / 'p.db'}")
    poisons = (700, 1_400)
    projection = CountingProjection(engine, fail=dict.fromkeys(poisons, 999))
    async with _bus(nats_server.url) as bus:
        await _publish(nats_server.url, [_envelope(i) for i in range(1, BATCH + 1)])
        runner = ConsumerRunner(bus=bus, spec=SPEC, handler=projection, max_deliver=DEPLOYED_DELIVER,
                                batch_size=BATCH, dead_letters=DeadLetters(engine))
        seen: list[tuple[int, str | None]] = []
        projection.watch = lambda: seen.append(  # type: ignore[method-assign]
            (runner.health.failures, runner.health.problem(stall_seconds=3600, max_failures=MAX_FAILURES)))
        await _drain(runner, lambda: projection.position("INTAKE") == BATCH)
        assert projection.sequences() == [s for s in range(1, BATCH + 1) if s not in poisons]
        assert runner.dead_lettered == 2
        assert [problem for _, problem in seen if problem] == [], max(n for n, _ in seen)
        assert runner.health.failures == 0 and runner.health.problem(stall_seconds=3600, max_failures=1) is None


async def test_a_consumer_whose_database_stays_down_still_goes_unready(nats_server, tmp_path):
    engine = create_engine(f"sqlite:///{tmp_path / 'p.db'}")
    projection = CountingProjection(engine, fail={7: 999}, error=OperationalError)  # "database is locked"
    async with _bus(nats_server.url) as bus:
        await _publish(nats_server.url, [_envelope(i) for i in range(1, 201)])
        runner = ConsumerRunner(bus=bus, spec=SPEC, handler=projection, max_deliver=DEPLOYED_DELIVER,
                                batch_size=BATCH)
        for _ in range(MAX_FAILURES):  # each round: the batch fails, then the runner backs off
            await runner.step(timeout=0.2)
        problem = runner.health.problem(stall_seconds=3600, max_failures=MAX_FAILURES)
        assert problem is not None and problem.startswith(f"{MAX_FAILURES} failures in a row"), problem
        assert projection.sequences() == [] and runner.dead_lettered == 0
