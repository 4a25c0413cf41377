"""Commits of another process wake this one's loops (libs/platform/store/listen.py): a NOTIFY on
the events table's channel, sent by another connection as every insert of another replica does,
rings the CommitSignal; and an intake service on PostgreSQL names that channel. A listener that
cannot listen says so in its health and rings on its own meanwhile (review: it used to fall back
to the loops' 0.5 s poll with nothing but an info line)."""

from __future__ import annotations

import asyncio
import uuid

import pytest
from sqlalchemy import create_engine, text

from libs.platform.health import LoopHealth
from libs.platform.store.commits import CommitSignal
from libs.platform.store.listen import ring_on_notify
from services.intake.bootstrap import SPEC
from tests.harness import POSTGRES_URL, Database, backend

postgres = pytest.mark.skipif(backend() != "postgresql", reason="LISTEN/NOTIFY is PostgreSQL's")


@postgres
def test_a_notify_from_another_connection_rings_the_commit_signal():
    channel = f"t_listen_{uuid.uuid4().hex[:10]}_events"
    engine = create_engine(POSTGRES_URL)
    commits = CommitSignal()

    async def scenario() -> int:
        stop = asyncio.Event()
        health = LoopHealth("listener", channel)
        listener = asyncio.create_task(ring_on_notify(engine, channel, commits, stop, health=health,
                                                      check_seconds=0.1))
        try:
            while commits.rings < 1:  # the ring at LISTEN: listening from now on
                await asyncio.sleep(0.01)
            before = commits.rings
            with engine.begin() as conn:  # another process's save: its insert's NOTIFY, at commit
                conn.execute(text(f"NOTIFY {channel}"))
            while commits.rings == before or health.position < 1:
                await asyncio.sleep(0.01)
            assert health.failures == 0
            return commits.rings - before
        finally:
            stop.set()
            await asyncio.wait_for(listener, timeout=10)

    try:
        assert asyncio.run(asyncio.wait_for(scenario(), timeout=30)) >= 1
    finally:
        engine.dispose()


@postgres
def test_the_listener_ignores_its_own_writers_notifications_and_rings_at_anothers():
    # A replica's own commits ring its commit signal in the process; the NOTIFY of the same commit
    # must not wake its loops a second time (each would run a round that finds nothing).
    channel = f"t_listen_{uuid.uuid4().hex[:10]}_events"
    engine = create_engine(POSTGRES_URL)
    commits = CommitSignal()

    async def scenario() -> tuple[int, int]:
        stop = asyncio.Event()
        health = LoopHealth("listener", channel)
        listener = asyncio.create_task(ring_on_notify(engine, channel, commits, stop, health=health,
                                                      check_seconds=0.1, own="mine"))
        try:
            while commits.rings < 1:  # the ring at LISTEN: listening from now on
                await asyncio.sleep(0.01)
            before = commits.rings
            with engine.begin() as conn:  # this replica's commit, then another replica's, in that order
                conn.execute(text(f"NOTIFY {channel}, 'mine'"))
            with engine.begin() as conn:
                conn.execute(text(f"NOTIFY {channel}, 'theirs'"))
            while health.position < 2:  # both heard (the position counts every notification)
                await asyncio.sleep(0.01)
            return commits.rings - before, health.position
        finally:
            stop.set()
            await asyncio.wait_for(listener, timeout=10)

    try:
        assert asyncio.run(asyncio.wait_for(scenario(), timeout=30)) == (1, 2)
    finally:
        engine.dispose()


@postgres
def test_a_listener_that_cannot_connect_counts_its_failures_and_rings_on_its_own_meanwhile():
    engine = create_engine("postgresql+psycopg://postgres@127.0.0.1:1/test")  # nothing listens there
    commits, health = CommitSignal(), LoopHealth("listener", "intake_events")

    async def scenario() -> None:
        stop = asyncio.Event()
        listener = asyncio.create_task(ring_on_notify(engine, "intake_events", commits, stop, health=health))
        try:
            while health.failures < 1 or commits.rings < 5:
                await asyncio.sleep(0.01)
        finally:
            stop.set()
            await asyncio.wait_for(listener, timeout=10)

    try:
        asyncio.run(asyncio.wait_for(scenario(), timeout=30))
    finally:
        engine.dispose()
    assert health.failures >= 1 and "OperationalError" in health.last_error
    assert health.problem(stall_seconds=30, max_failures=health.failures) is not None  # unready if it goes on


@postgres
def test_the_intake_store_names_the_channel_its_inserts_notify(tmp_path):
    from libs.platform.runtime import build_runtime
    from libs.platform.web.service import _commits_channel

    db = Database(tmp_path)
    runtime = build_runtime(SPEC, db.settings("intake", "nats://127.0.0.1:1"))
    try:
        assert _commits_channel(runtime) == "intake_events"
        core = runtime.application.recorder.core
        assert core.lock_and_notify.endswith(f"NOTIFY intake_events, '{core.origin}'")
    finally:
        runtime.application.close()
        runtime.engine.dispose()
        db.drop()
