"""An empty fetch ahead must not read the position beside a running apply (commit a7af1c6,
messaging/delivery.py `_fetch_ahead`): RebuildableProjection.position answers a rebuild once
(ProjectionRebuilt) and then reads under the new generation, so a read taken there used up the
news before the apply's fence, and a batch fetched before the rebuild landed on the emptied tables.

Driven, not timed: the batch's apply waits (before its transaction) while another process
rebuilds; only then does the fetch ahead go to the server, which has nothing for it (the message
it would have had is deleted); the apply goes on once that fetch has ended."""

from __future__ import annotations

import asyncio
import contextlib
import threading
from typing import Any

import pytest

from libs.platform.messaging.consumer import ConsumerRunner
from libs.platform.readmodels.rebuilds import ProjectionRebuilt
from libs.platform.store.db import make_engine
from tests.fault.test_consumer_liveness import SPEC, _bus, _publish
from tests.fault.test_rebuild_fence import Fenced

pytestmark = pytest.mark.fault


class AheadAfterTheRebuild(ConsumerRunner):
    """The fetch after the first one (the fetch ahead of its apply) waits for `rebuilt`, then finds
    the server empty: the stream's next message is deleted first."""

    def __init__(self, *args: Any, rebuilt: asyncio.Event, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.rebuilt = rebuilt
        self.fetches = 0
        self.ahead_ended = asyncio.Event()

    async def _fetch(self, timeout: float, **kwargs: Any) -> bool:
        self.fetches += 1
        if self.fetches != 2:
            return await super()._fetch(timeout, **kwargs)
        await self.rebuilt.wait()
        await self.bus.js.delete_msg(SPEC.name, 3)
        try:
            return await super()._fetch(timeout, **kwargs)
        finally:
            self.ahead_ended.set()


async def test_an_empty_fetch_ahead_does_not_use_up_a_rebuilds_news_before_the_running_apply_sees_it(
        nats_server, database) -> None:
    engine = make_engine(database.settings("idlerace", nats_server.url))
    projection = Fenced(engine)
    await _publish(nats_server.url, 1, 3)
    bus = await _bus(nats_server.url)
    rebuilt = asyncio.Event()
    # Batches of two: messages 1 and 2 fetched, 3 pending, so a fetch goes ahead of their apply.
    # idle_check_seconds=0: an empty fetch's idle check, where it runs, reads the position at once.
    runner = AheadAfterTheRebuild(bus=bus, spec=SPEC, handler=projection, batch_size=2,
                                  idle_check_seconds=0.0, rebuilt=rebuilt)
    applying, go = threading.Event(), threading.Event()

    def hold() -> None:  # in the apply's thread, before its transaction
        applying.set()
        assert go.wait(60)

    projection.before_batch = hold
    try:
        await runner.subscribe()  # the position read under generation 0
        step = asyncio.create_task(runner.step(timeout=0.2))
        assert await asyncio.to_thread(applying.wait, 60), "the batch was not applied"
        await asyncio.to_thread(Fenced(engine).rebuild, by="another process")
        rebuilt.set()
        await asyncio.wait_for(runner.ahead_ended.wait(), 60)
        assert runner.fetches == 2
        go.set()
        with contextlib.suppress(ProjectionRebuilt):  # the fence's news: the runner starts again
            await asyncio.wait_for(step, 60)
        # Nothing fetched under generation 0 on the emptied read models, and no position past the
        # replay's start: the replay begins at message 1.
        assert projection.sequences() == []
        state = projection.replay_state()
        assert state.generation == 1 and not state.positions.get("INTAKE"), state
    finally:
        go.set()
        await runner._unsubscribe()
        await bus.close()
        engine.dispose()
