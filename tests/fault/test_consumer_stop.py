"""A consumer whose fetch waits for messages stops when its run is stopped, not when the fetch
expires (messaging/delivery.py, store/commits.unless_stopped): a service's stop waited for each
consumer's fetch to run out (1 s in service), most of the teardown of a test's services, and the
suite's slowest part that did nothing. Nothing is acked, so the fetch given up on loses nothing:
the next run starts at the database position + 1."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from sqlalchemy import create_engine

from libs.platform.messaging.consumer import ConsumerRunner
from tests.fault.test_consumer_liveness import SPEC, Counting, _bus, _publish
from tests.harness import backend

# Its projection in a SQLite file of its own: the PostgreSQL pass would only run it again.
pytestmark = [pytest.mark.fault,
              pytest.mark.skipif(backend() == "postgresql", reason="database-independent; runs in the SQLite pass")]
AN_HOUR = 3600.0


class HourLongFetches(ConsumerRunner):
    """Its fetches wait up to an hour for messages; `waiting` is set when one begins with `applied`
    messages applied (its position there)."""

    def __init__(self, *args: Any, applied: int, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.waiting, self.until = asyncio.Event(), applied

    async def step(self, timeout: float = 1.0) -> int:
        return await super().step(timeout=AN_HOUR)

    async def _fetch(self, timeout: float, **kwargs: Any) -> bool:
        if self.health.position == self.until:
            self.waiting.set()
        return await super()._fetch(timeout, **kwargs)


async def _stopped_while_waiting(runner: HourLongFetches) -> None:
    stop = asyncio.Event()
    run = asyncio.create_task(runner.run(stop))
    try:
        await asyncio.wait_for(runner.waiting.wait(), 60)
    finally:
        stop.set()
    await asyncio.wait_for(run, 30)  # an hour without the stop cutting the fetch short


async def test_a_consumer_waiting_for_messages_stops_at_once_and_its_next_run_misses_nothing(
        nats_server, tmp_path):
    projection = Counting(create_engine(f"sqlite:///{tmp_path / 'p.db'}"))
    await _publish(nats_server.url, 1, 2)
    bus = await _bus(nats_server.url)
    try:
        await _stopped_while_waiting(HourLongFetches(bus=bus, spec=SPEC, handler=projection, applied=2))
        assert projection.sequences() == [1, 2]
        await _publish(nats_server.url, 3, 4)  # while no run fetches: the next one takes them
        await _stopped_while_waiting(HourLongFetches(bus=bus, spec=SPEC, handler=projection, applied=4))
        assert projection.sequences() == [1, 2, 3, 4]
    finally:
        await bus.close()
