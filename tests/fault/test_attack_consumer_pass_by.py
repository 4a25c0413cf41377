"""Attack (h-attack6) on the consumer's pass-by (messaging/consumer_passby.py): messages that change
nothing are passed by unapplied and only their position is recorded, later. Here the runner runs as
a service runs it (`run`, its own retries), its position owed for an hour, while:
- forged, replayed and invalid messages sit among those passed by (each dead-lettered, once);
- the server-side consumer is deleted (made again after the owed position, nothing handed twice);
- nats-server restarts (the consumer made again, nothing lost);
- the process dies (its run cancelled, nothing recorded at stop): a new runner reads the passed-by
  messages again and passes them by again, and applies the one that mattered once."""

from __future__ import annotations

import asyncio
import contextlib
import os
from collections.abc import AsyncIterator, Callable
from typing import Any

import nats
import pytest
from sqlalchemy import create_engine, select

from libs.platform.messaging.cloudevents import Envelope
from libs.platform.messaging.consumer import ConsumerRunner
from libs.platform.messaging.deadletters import DeadLetters
from libs.platform.messaging.signing import HEADER, EventSigner, EventVerifier, public_key_hex
from tests.fault.test_consumer_order import SPEC, RecordingProjection, _bus

pytestmark = pytest.mark.fault
AN_HOUR = 3600.0
SUBJECT = "intake.130001.probe.Probe"


class PassingProjection(RecordingProjection):
    """Applies the envelopes whose data says `matters`; passes by the rest, and counts how often each
    of those was offered to `changes` (handed by the server: a passed-by message is asked once)."""

    def __init__(self, engine) -> None:
        super().__init__(engine, fail={})
        self.offered: dict[int, int] = {}

    def changes(self, envelope: Envelope) -> bool:
        if envelope.data.get("matters"):
            return True
        self.offered[envelope.sequence] = self.offered.get(envelope.sequence, 0) + 1
        return False

    def skipped_positions(self) -> list[int]:
        with self.engine.connect() as conn:
            return sorted(r.position for r in conn.execute(select(self.skipped.c.position)))


def _body(seq: int, *, matters: bool = False) -> bytes:
    return Envelope(id=f"id-{seq}", source="/tsunagu/intake", type="jp.tsunagu.intake.Probe.v1", subject="s",
                    time="2016-04-01T00:00:00+09:00", tenant="130001", sequence=seq, aggregate="probe",
                    data={"matters": True} if matters else {}).to_json()


async def _publish(url: str, messages: list[tuple[bytes, dict[str, str]]]) -> None:
    nc = await nats.connect(url)
    try:
        js = nc.jetstream()
        for body, headers in messages:
            await js.publish(SUBJECT, body, headers=headers or None)
    finally:
        await nc.close()


def _signed(signer: EventSigner | None, seqs: range, *,
            matters: int | None = None) -> list[tuple[bytes, dict[str, str]]]:
    out = []
    for seq in seqs:
        body = _body(seq, matters=seq == matters)
        out.append((body, {HEADER: signer.header(body)} if signer else {}))
    return out


async def _until(check: Callable[[], Any], timeout: float = 30.0) -> None:
    deadline = asyncio.get_running_loop().time() + timeout
    while not check():
        if asyncio.get_running_loop().time() > deadline:
            raise AssertionError("not reached")
        await asyncio.sleep(0.05)


def _runner(bus, projection, **kwargs: Any) -> ConsumerRunner:
    return ConsumerRunner(bus=bus, spec=SPEC, handler=projection, max_deliver=3, idle_check_seconds=0.3,
                          record_seconds=AN_HOUR, **kwargs)


@contextlib.asynccontextmanager
async def _running(url: str, tmp_path, **kwargs: Any) -> AsyncIterator[tuple[PassingProjection, ConsumerRunner, Any]]:
    """A passing projection on a SQLite file and its runner, run as a service runs it, then stopped
    (which records what it owes)."""
    projection = PassingProjection(create_engine(f"sqlite:///{tmp_path / 'p.db'}"))
    async with _bus(url) as bus:
        runner = _runner(bus, projection, **kwargs)
        stop = asyncio.Event()
        task = asyncio.create_task(runner.run(stop))
        try:
            yield projection, runner, bus
        finally:
            stop.set()
            await task


async def test_forged_replayed_and_invalid_messages_among_those_passed_by_are_dead_lettered_once(
        nats_server, tmp_path):
    seed = os.urandom(32).hex()
    signer = EventSigner(seed)
    genuine = _signed(signer, range(1, 4))
    forged = _body(4)
    stranger = _body(5)
    async with _running(nats_server.url, tmp_path, verifier=EventVerifier({"intake": public_key_hex(seed)}),
                        dead_letters=DeadLetters(create_engine(f"sqlite:///{tmp_path / 'p.db'}"))) as (
            projection, runner, _):
        await _publish(nats_server.url, [
            *genuine,                                                   # 1-3 passed by
            (forged, {HEADER: EventSigner("11" * 32).header(forged)}),  # 4: another key's signature
            (stranger, {}),                                             # 5: unsigned
            genuine[1],                                                 # 6: a genuine one replayed
            (b"not json at all", {HEADER: signer.header(b"not json at all")}),  # 7: signed, no envelope
        ])
        # 8-10 passed by (their log positions 4-6: after 3), 11 matters (log position 7).
        later = [_body(seq - 4, matters=seq == 11) for seq in range(8, 12)]
        await _publish(nats_server.url, [(b, {HEADER: signer.header(b)}) for b in later])
        await _until(lambda: projection.position("INTAKE") == 11)
    assert projection.order() == [7]  # only the one that mattered, once
    assert projection.skipped_positions() == [4, 5, 6, 7]
    assert runner.dead_lettered == 4 and DeadLetters(projection.engine).open_count() == 4
    assert projection.offered == {1: 1, 2: 1, 3: 1, 4: 1, 5: 1, 6: 1}  # none passed by twice


async def test_a_consumer_deleted_on_the_server_while_positions_are_owed_is_made_again_after_them(
        nats_server, tmp_path):
    async with _running(nats_server.url, tmp_path) as (projection, runner, bus):
        await _publish(nats_server.url, _signed(None, range(1, 21)))
        await _until(lambda: runner.position() == 20)
        assert projection.position("INTAKE") == 0  # owed, not recorded
        await bus.js.delete_consumer(SPEC.name, runner.durable)
        await _until(lambda: runner.resubscribed >= 2)
        await _publish(nats_server.url, _signed(None, range(21, 23), matters=21))
        await _until(lambda: runner.position() == 22)
    assert projection.order() == [21]
    assert projection.position("INTAKE") == 22  # recorded at the stop
    assert all(n == 1 for n in projection.offered.values()), projection.offered  # made again after 20


async def test_a_nats_restart_while_positions_are_owed_loses_nothing_and_applies_nothing_twice(
        nats_server, tmp_path):
    async with _running(nats_server.url, tmp_path) as (projection, runner, _):
        await _publish(nats_server.url, _signed(None, range(1, 31), matters=10))
        await _until(lambda: runner.position() == 30)
        nats_server.stop()
        nats_server.start()
        await _publish(nats_server.url, _signed(None, range(31, 41), matters=35))
        await _until(lambda: runner.position() == 40)
    assert projection.order() == [10, 35]
    assert projection.position("INTAKE") == 40


async def test_a_runner_killed_after_passing_by_reads_them_again_and_applies_the_one_that_mattered_once(
        nats_server, tmp_path):
    engine = create_engine(f"sqlite:///{tmp_path / 'p.db'}")
    projection = PassingProjection(engine)
    async with _bus(nats_server.url) as bus:
        runner = _runner(bus, projection)
        task = asyncio.create_task(runner.run(asyncio.Event()))
        await _publish(nats_server.url, _signed(None, range(1, 21), matters=20))
        await _until(lambda: projection.position("INTAKE") == 20)
        await _publish(nats_server.url, _signed(None, range(21, 31)))
        await _until(lambda: runner.position() == 30)
        task.cancel()  # dies: nothing recorded at a stop
        await asyncio.gather(task, return_exceptions=True)
        assert projection.position("INTAKE") == 20  # the effect's position; 21-30 only owed
        await _publish(nats_server.url, _signed(None, range(31, 41), matters=40))
        again = _runner(bus, PassingProjection(engine))
        stop = asyncio.Event()
        task = asyncio.create_task(again.run(stop))
        await _until(lambda: again.handler.position("INTAKE") == 40)
        stop.set()
        await task
        assert again.handler.offered == dict.fromkeys(range(21, 40), 1)  # read again from 21, not skipped
    assert projection.order() == [20, 40] and projection.skipped_positions() == []
