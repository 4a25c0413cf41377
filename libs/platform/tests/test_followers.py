"""Log followers cost little per round (issue 15) and stay right: one read of the log serves all
of a service's followers woken by one commit, a running follower keeps its position in memory,
and a new run (a replica's new tenure) starts from the recorded position."""

from __future__ import annotations

import asyncio
import time

from sqlalchemy import BigInteger, Column, MetaData, String, Table, create_engine, event, select

from libs.platform.messaging.cloudevents import Envelope
from libs.platform.readmodels.follower import LogFollower
from libs.platform.readmodels.projection import SqlProjection
from libs.platform.store import log
from libs.platform.store.log import LogReader
from libs.platform.tests.test_event_bounds import _app, _place

AN_HOUR = 3600.0


class Seen(SqlProjection):
    """Keeps each applied event's position; an event applied twice breaks the primary key."""

    def __init__(self, engine, name: str) -> None:
        self.name = name
        metadata = MetaData()
        self.rows = Table(f"seen_{name}", metadata, Column("seq", BigInteger, primary_key=True),
                          Column("id", String(64)))
        super().__init__(engine, metadata)

    def project(self, conn, envelope: Envelope) -> None:
        conn.execute(self.rows.insert().values(seq=envelope.sequence, id=envelope.id))

    def sequences(self) -> list[int]:
        with self.engine.connect() as conn:
            return [r.seq for r in conn.execute(select(self.rows.c.seq).order_by(self.rows.c.seq))]


def _reads(reader: LogReader, monkeypatch) -> list[int]:
    """The positions `reader` read the log after, one entry per query of the store."""
    reads: list[int] = []
    select_notifications = reader._select

    def counted(after: int, limit: int):
        reads.append(after)
        return select_notifications(after, limit)

    monkeypatch.setattr(reader, "_select", counted)
    return reads


def test_the_followers_woken_by_one_commit_read_the_log_once_between_them(tmp_path, monkeypatch):
    monkeypatch.setattr(log, "SHARED_READ_SECONDS", AN_HOUR)  # no timing in a test: only the commit counts
    app = _app()
    engine = create_engine(f"sqlite:///{tmp_path / 'rm.db'}")
    reader = LogReader("intake", app, shared=True)
    models = [Seen(engine, name) for name in ("a", "b")]
    followers = [LogFollower(reader, model) for model in models]
    reads = _reads(reader, monkeypatch)
    for _ in range(3):
        app.save(_place())
    end = reader.max_position()
    for follower in followers:
        follower._round()
    assert len(reads) == 1
    assert [m.sequences() for m in models] == [list(range(1, end + 1))] * 2
    app.save(_place())  # a commit: what was read before no longer tells the end
    for follower in followers:
        follower._round()
    assert len(reads) == 2
    assert [m.sequences() for m in models] == [list(range(1, end + 2))] * 2


def test_a_read_after_a_write_reads_the_log_afresh(tmp_path, monkeypatch):
    monkeypatch.setattr(log, "SHARED_READ_SECONDS", AN_HOUR)
    app = _app()
    reader = LogReader("intake", app, shared=True)
    follower = LogFollower(reader, Seen(create_engine(f"sqlite:///{tmp_path / 'rm.db'}"), "a"))
    follower._round()
    reads = _reads(reader, monkeypatch)
    follower.catch_up()
    assert len(reads) == 1


def test_a_running_follower_reads_its_position_from_the_database_only_when_its_run_begins(tmp_path):
    app = _app()
    engine = create_engine(f"sqlite:///{tmp_path / 'rm.db'}")
    follower = LogFollower(LogReader("intake", app, shared=True), Seen(engine, "a"), poll_seconds=0.01)
    statements: list[str] = []
    event.listen(engine, "before_cursor_execute", lambda *a: statements.append(a[2]))

    async def main() -> None:
        stop = asyncio.Event()
        task = asyncio.create_task(follower.run(stop))
        app.save(_place())
        deadline = time.monotonic() + 30
        while follower.health.position < 1 or follower.health.handled_total < 1:
            assert time.monotonic() < deadline
            await asyncio.sleep(0.01)
        statements.clear()
        await asyncio.sleep(0.3)  # idle rounds, every 10 ms
        stop.set()
        await asyncio.wait_for(task, timeout=10)

    asyncio.run(main())
    assert not [s for s in statements if "projection_positions" in s]


def test_a_new_run_starts_from_the_recorded_position_where_another_holder_left_it(tmp_path):
    """A replica's new tenure: meanwhile another replica's follower moved the position on. The run
    must start there: from a position kept from before, its first batch would move the position
    back (StalePosition) and the follower would report failures."""
    app = _app()
    engine = create_engine(f"sqlite:///{tmp_path / 'rm.db'}")
    model = Seen(engine, "a")
    mine = LogFollower(LogReader("intake", app, shared=True), model, poll_seconds=0.01)
    theirs = LogFollower(LogReader("intake", app), Seen(engine, "a"))

    async def run_until(position: int) -> None:
        stop = asyncio.Event()
        task = asyncio.create_task(mine.run(stop))
        deadline = time.monotonic() + 30
        while mine.health.position < position:
            assert time.monotonic() < deadline, mine.health.report(stall_seconds=60, max_failures=10)
            await asyncio.sleep(0.01)
        stop.set()
        await asyncio.wait_for(task, timeout=10)

    app.save(_place())
    asyncio.run(run_until(1))
    for _ in range(2):
        app.save(_place())
    theirs.catch_up()  # the other holder, while this one stood by
    app.save(_place())
    asyncio.run(run_until(4))
    assert mine.health.failures_total == 0, mine.health.last_error
    assert model.sequences() == [1, 2, 3, 4]
    assert mine.handler.position(mine.stream) == 4


def test_a_shared_read_never_serves_a_position_it_did_not_see(tmp_path):
    app = _app()
    reader = LogReader("intake", app, shared=True)
    app.save(_place())
    assert [e.sequence for e in reader.read(0, 10)] == [1]
    app.save(_place())
    # Another process's write rings nothing here: a reader asking after a position beyond what
    # was read (it applied that from elsewhere) is not served the old read.
    assert reader._shared is not None and reader._shared.get(5, 10) is None
    assert [e.sequence for e in reader.read(1, 10, shared=True)] == [2]
