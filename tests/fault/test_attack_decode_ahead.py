"""Attack (h-attack8) on the consumer's decode ahead (messaging/delivery.py `decode_ahead`): the batch
fetched while the one before it is applied is decoded then, and each message is still checked (its
signature, its place in the log) at its turn. Here, on a signed stream, with the next batch decoded
ahead in the buffer:
- a forged message (another key's signature) and a replay (a genuine message copied onto the stream
  again) in the middle of the batch decoded ahead: each dead-lettered once, the rest applied in order;
- the run cancelled while a worker thread applies a batch (a lease lost, a process stopping), the
  thread's commit landing after the cancellation, and the same runner run again (the lease
  retaken): nothing applied out of order or lost, nothing dead-lettered;
- nats-server restarted while a batch is applied and the next one is decoded ahead: the same."""

from __future__ import annotations

import asyncio
import os
import threading
import time
from typing import Any

import pytest
from sqlalchemy import create_engine

from libs.platform.messaging.consumer import ConsumerRunner
from libs.platform.messaging.deadletters import DeadLetters
from libs.platform.messaging.delivery import DECODED
from libs.platform.messaging.signing import HEADER, EventSigner, EventVerifier, public_key_hex
from tests.fault.test_attack_consumer_pass_by import _body, _publish, _until
from tests.fault.test_consumer_order import SPEC, RecordingProjection, _bus

pytestmark = pytest.mark.fault
BATCH = 4


class HeldProjection(RecordingProjection):
    """The batch that starts at `hold_at` waits in its worker thread, once, until the next batch is in
    the runner's buffer, decoded, and then until `release` is set: the test acts meanwhile."""

    runner: ConsumerRunner

    def __init__(self, engine: Any, hold_at: int | None = None) -> None:
        super().__init__(engine, fail={})
        self.hold_at = hold_at
        self.holding = threading.Event()
        self.release = threading.Event()
        self.decoded_behind: list[int] = []

    def apply_batch(self, envelopes, stream, position) -> None:
        if envelopes and envelopes[0].sequence == self.hold_at and not self.holding.is_set():
            deadline = time.monotonic() + 5.0
            while len(self.runner._buffer) < 2 * len(envelopes) and time.monotonic() < deadline:
                time.sleep(0.005)
            self.decoded_behind.append(sum(DECODED in vars(m) for m in self.runner._buffer[len(envelopes):]))
            self.holding.set()
            assert self.release.wait(15.0)
        super().apply_batch(envelopes, stream, position)


def _signed(signer: EventSigner, seqs: range) -> list[tuple[bytes, dict[str, str]]]:
    return [(body, {HEADER: signer.header(body)}) for body in (_body(s) for s in seqs)]


def _runner(bus, projection, signer_seed: str, **kwargs: Any) -> ConsumerRunner:
    runner = ConsumerRunner(bus=bus, spec=SPEC, handler=projection, batch_size=BATCH, max_deliver=3,
                            idle_check_seconds=0.3, verifier=EventVerifier({"intake": public_key_hex(signer_seed)}),
                            **kwargs)
    projection.runner = runner
    return runner


async def _wait_thread(event: threading.Event) -> None:
    await _until(event.is_set, timeout=15.0)


def _signed_stream(tmp_path, hold_at: int) -> tuple[str, EventSigner, HeldProjection]:
    """A producer's key seed and signer, and a held projection on a SQLite file."""
    seed = os.urandom(32).hex()
    return seed, EventSigner(seed), HeldProjection(create_engine(f"sqlite:///{tmp_path / 'p.db'}"), hold_at=hold_at)


async def test_a_forged_and_a_replayed_message_decoded_ahead_are_dead_lettered_once_and_the_rest_applied_in_order(
        nats_server, tmp_path):
    seed, signer, projection = _signed_stream(tmp_path, hold_at=1)
    engine = projection.engine
    projection.release.set()  # held only until 5-8 are fetched and decoded behind 1-4
    forged = _body(7)
    genuine = _signed(signer, range(1, 17))
    messages = [*genuine[:6],
                (forged, {HEADER: EventSigner("11" * 32).header(forged)}),  # 7: another key's signature
                *genuine[7:9],
                genuine[2],                                                 # 10: 3 copied onto the stream again
                *genuine[10:]]
    dead_letters = DeadLetters(engine)
    async with _bus(nats_server.url) as bus:
        await _publish(nats_server.url, messages)
        runner = _runner(bus, projection, seed, dead_letters=dead_letters)
        stop = asyncio.Event()
        task = asyncio.create_task(runner.run(stop))
        await _until(lambda: projection.position("INTAKE") == 16)
        stop.set()
        await task
    assert projection.decoded_behind == [4]  # the forged one was decoded ahead with 5, 6 and 8
    assert projection.order() == [s for s in range(1, 17) if s not in (7, 10)]
    assert runner.dead_lettered == 2 and dead_letters.open_count() == 2
    with engine.connect() as conn:
        reasons = sorted((r.position, r.reason.split(":")[0]) for r in conn.execute(projection.skipped.select()))
    assert reasons == [(7, "forged event"), (10, "forged event")]


CANCELLED = "the run cancelled, then the same runner run again"


@pytest.mark.parametrize("interruption", [CANCELLED, "nats-server restarted"])
async def test_an_interruption_while_a_batch_is_applied_and_the_next_decoded_ahead_loses_and_repeats_nothing(
        nats_server, tmp_path, interruption):
    seed, signer, projection = _signed_stream(tmp_path, hold_at=5)
    async with _bus(nats_server.url) as bus:
        await _publish(nats_server.url, _signed(signer, range(1, 21)))
        runner = _runner(bus, projection, seed)
        stop = asyncio.Event()
        task = asyncio.create_task(runner.run(stop))
        await _wait_thread(projection.holding)  # 5-8 in the thread, 9-12 decoded ahead
        if interruption == CANCELLED:  # a lease lost, then taken again: its buffer and subscription kept
            task.cancel()
            await asyncio.gather(task, return_exceptions=True)
            task = asyncio.create_task(runner.run(stop))
            await asyncio.sleep(0.3)  # the cancelled run's thread commits 5-8 after this, beside the new run
        else:
            nats_server.stop()
            nats_server.start()
        projection.release.set()
        await _publish(nats_server.url, _signed(signer, range(21, 25)))
        await _until(lambda: projection.position("INTAKE") == 24)
        stop.set()
        await task
    assert projection.decoded_behind == [4]
    assert projection.order() == list(range(1, 25))
    assert runner.dead_lettered == 0
