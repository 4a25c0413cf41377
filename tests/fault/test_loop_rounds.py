"""A loop blocked inside a round makes the service unready (DESIGN §8). Found by a soak: a 90 s
`LOCK TABLE` left /readyz ready, because a loop waiting on a statement neither observes nor fails,
and the lag it last saw was 0. Each loop's round is now timed (health.LoopHealth.round)."""

from __future__ import annotations

import asyncio
import threading

import pytest
from sqlalchemy import text

from tests.fault.test_readiness import _ready, _unready_because
from tests.harness import backend

pytestmark = pytest.mark.fault


def _stuck(body: dict, name: str) -> dict:
    return next(loop for loop in body["checks"]["loops"] if loop["name"] == name)


def test_a_follower_blocked_in_its_read_with_nothing_pending_makes_the_service_unready(nats_server, start_service):
    intake = start_service("intake", nats_server.url, stall_seconds=2)
    _ready(intake)
    follower = next(f for f in intake.runtime.followers if f.handler.name == "intake-read")
    release = threading.Event()
    read = follower.reader.read

    def hangs(*args, **kwargs):  # a driver call that does not return (a lock, a half-open socket)
        release.wait(60)
        return read(*args, **kwargs)

    follower.reader.read = hangs
    try:
        body = _unready_because(intake, "follower intake-read", "a round has run for")
        stuck = _stuck(body, "intake-read")
        assert stuck["lag"] == 0 and stuck["state"] == "stuck" and stuck["seconds_in_round"] >= 2
        with intake.operator() as operator:
            metrics = operator.get("/metrics").text
        assert any(line.startswith("tsunagu_loop_round_seconds{") and 'name="intake-read"' in line
                   and float(line.rsplit(" ", 1)[1]) >= 2 for line in metrics.splitlines())
    finally:
        del follower.reader.read
        release.set()
    _ready(intake)


def test_a_relay_blocked_in_its_round_makes_the_service_unready(nats_server, start_service):
    intake = start_service("intake", nats_server.url, stall_seconds=2)
    _ready(intake)
    relay = intake.runtime.relay
    release = threading.Event()
    publish = relay.publish_batch

    async def hangs() -> int:
        await asyncio.to_thread(release.wait, 60)
        return await publish()

    relay.publish_batch = hangs
    try:
        body = _unready_because(intake, "relay INTAKE", "a round has run for")
        assert _stuck(body, "INTAKE")["lag"] == 0
    finally:
        del relay.publish_batch
        release.set()
    _ready(intake)


@pytest.mark.skipif(backend() != "postgresql", reason="a reader waits on a table lock in PostgreSQL only")
def test_a_table_lock_held_past_the_stall_time_makes_the_service_unready_until_it_is_released(
        nats_server, start_service):
    intake = start_service("intake", nats_server.url, stall_seconds=2)
    _ready(intake)
    store = intake.runtime.application.factory.datastore.engine
    holder = store.connect()
    holder.begin()
    try:
        holder.execute(text("LOCK TABLE intake_events IN ACCESS EXCLUSIVE MODE"))  # what an operator's DDL takes
        body = _unready_because(intake, "a round has run for")
        assert any(loop["state"] == "stuck" and loop["lag"] == 0 for loop in body["checks"]["loops"])
    finally:
        holder.rollback()
        holder.close()
    _ready(intake)
