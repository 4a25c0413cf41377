"""A service's log followers each run their own loop, so one read
model that hangs (a lock wait, a slow handler, a read-your-writes caller holding its lock) stops no
other read model of the service (followers sharing one loop, tried in issue 15, failed this)."""

from __future__ import annotations

import asyncio
import threading
import time

from sqlalchemy import create_engine

from libs.platform.messaging.cloudevents import Envelope
from libs.platform.readmodels.follower import LogFollower
from libs.platform.store.log import LogReader
from libs.platform.tests.test_event_bounds import _app, _place
from libs.platform.tests.test_followers import Seen

RELEASED = threading.Event()


class Hanging(Seen):
    """A read model whose apply waits (as on a row lock another transaction holds)."""

    def project(self, conn, envelope: Envelope) -> None:
        RELEASED.wait(60)
        super().project(conn, envelope)


def test_one_hanging_read_model_holds_up_no_other(tmp_path) -> None:
    RELEASED.clear()
    app = _app()
    engine = create_engine(f"sqlite:///{tmp_path / 'rm.db'}")
    other = create_engine(f"sqlite:///{tmp_path / 'rm2.db'}")  # its own database: no lock shared with the hanging one
    reader = LogReader("intake", app, shared=True)
    hanging = LogFollower(reader, Hanging(engine, "a"), poll_seconds=0.05, wakeup=app.commits.wakeup())
    working = LogFollower(reader, Seen(other, "b"), poll_seconds=0.05, wakeup=app.commits.wakeup())

    async def main() -> bool:
        stop = asyncio.Event()
        tasks = [asyncio.create_task(f.run(stop)) for f in (hanging, working)]
        try:
            for _ in range(3):
                app.save(_place())
            deadline = time.monotonic() + 20
            while working.health.position < 3 and time.monotonic() < deadline:
                await asyncio.sleep(0.05)
            return working.health.position >= 3
        finally:
            RELEASED.set()
            stop.set()
            await asyncio.wait_for(asyncio.gather(*tasks), timeout=30)

    progressed = asyncio.run(main())
    assert progressed, "the working read model stayed at position 0 while another one hung"
