"""The stamp: which generation of a projection's code keeps the read models, so that replicas of an
older and a newer release can run side by side (a rolling deploy) without the older one leaving the
newer one's tables behind.

A projection's code keeps a set of tables; its *generation* (a number the code carries, bumped by a
release whose projection keeps more tables, or fewer, or keeps one differently) says which. The
database carries a stamp: the generation of the newest code that has kept them (`projection_stamps`,
one row per projection; none yet reads as 0, i.e. a release before stamps).

- **Taking over.** At start, a replica whose generation is the stamp's or newer derives what it keeps
  that the database lacks and moves the stamp to its generation, in one transaction whose first
  statement takes the stamp row (FOR UPDATE): it waits for a batch of an older replica under way,
  and every later batch of that replica waits for it and then sees the new stamp. So no write of the
  older code lands after the derivation. The stamp only moves forward (UPDATE … WHERE generation <
  :new): of two replicas starting at once, the older never moves it back.
- **Standing down.** Every transaction that writes the read models (a batch, a dead letter's skip,
  a rebuild) first reads the stamp under a share lock (`_writable`; on SQLite the transaction holds
  the write lock from its BEGIN IMMEDIATE); a stamp newer than the code raises
  `ProjectionSuperseded` before anything is written. Its consumers stop for good, with no dead
  letter and their leases released, never taken again (health.LoopSuperseded): the replica is
  unready with the reason (/readyz, `tsunagu_loop_superseded`, an error log) until it is replaced.
  `watch_stamp`, a job of every replica, finds it out where no consumer runs (a standby replica).
- **Reads.** An older replica refuses them (503 projection-superseded; the proxy tries another): a
  newer generation may stop keeping a table the older code reads (stop 28's pivots replaced the
  consultation cells), and once only newer replicas project, that table stops moving. A report
  checks the stamp after its query: not newer then, no newer replica had projected anything yet.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any, ClassVar

from sqlalchemy import BigInteger, Column, Connection, DateTime, Engine, MetaData, String, select
from sqlalchemy.exc import IntegrityError

from libs.domain.errors import DomainError
from libs.platform.health import LoopSuperseded
from libs.platform.readmodels.projection import Shape, _table
from libs.platform.readmodels.rebuilds import RebuildableProjection

log = logging.getLogger(__name__)


class ProjectionSuperseded(DomainError, LoopSuperseded):
    """A newer release keeps the read models: this replica's code may neither write nor read them."""

    problem = "projection-superseded"
    title = "A newer release keeps the read models; this replica's is older"
    status = 503
    headers: ClassVar[dict[str, str]] = {"Retry-After": "1"}

    def __init__(self, projection: str, generation: int, stamp: int) -> None:
        super().__init__(
            f"{projection}: the read models are kept at generation {stamp} by a newer release, this replica's "
            f"code keeps generation {generation}: it projects no more and answers no report (replace it with "
            f"the newer release)", generation=generation, stamp=stamp)


class StampedProjection(RebuildableProjection):
    """A RebuildableProjection whose code carries a generation, checked against the database's stamp."""

    def __init__(self, engine: Engine, metadata: MetaData, *, generation: int, shape: Shape | None = None) -> None:
        self.stamps = _table(metadata, "projection_stamps",
            Column("projection", String(64), primary_key=True),
            Column("generation", BigInteger, nullable=False),
            Column("stamped_at", DateTime(timezone=True)),
            Column("stamped_by", String(200)))
        if generation < 1:
            raise ValueError(f"a projection's generation starts at 1 (0 is a database never stamped): {generation}")
        self.code_generation = generation
        super().__init__(engine, metadata, shape=shape)

    def stamp(self, conn: Connection | None = None, *, lock: str = "") -> int:
        """The generation the read models are kept at (0: never stamped). `lock`: "share" or
        "update" (PostgreSQL; a writing transaction on SQLite holds the database's write lock)."""
        if conn is None:
            with self.engine.connect() as conn:
                return self.stamp(conn)
        query = select(self.stamps.c.generation).where(self.stamps.c.projection == self.name)
        if lock and conn.dialect.name == "postgresql":
            query = query.with_for_update(read=lock == "share")
        return conn.execute(query).scalar() or 0

    def superseded(self, stamp: int | None = None) -> ProjectionSuperseded | None:
        stamp = self.stamp() if stamp is None else stamp
        return ProjectionSuperseded(self.name, self.code_generation, stamp) if stamp > self.code_generation else None

    def require_current(self) -> None:
        """Raises ProjectionSuperseded when a newer release keeps the read models (a read's check)."""
        if (superseded := self.superseded()) is not None:
            raise superseded

    def _writable(self, conn: Connection) -> None:
        if (superseded := self.superseded(self.stamp(conn, lock="share"))) is not None:
            raise superseded

    def position(self, stream: str) -> int:
        self.require_current()  # a consumer (re)made on a superseded replica stops before fetching
        return super().position(stream)

    def take_over(self, derive: Callable[[Connection, int], None], *, by: str) -> int:
        """At start: unless the stamp is newer than this code, `derive(conn, stamp found)` what this
        generation keeps and the database lacks, and stamp the database with this generation, in one
        transaction (see the module's docstring). Returns the stamp found (0: none)."""
        mine, now = self.code_generation, datetime.now(UTC)
        for attempt in (1, 2):
            try:
                with self.engine.begin() as conn:
                    found = self.stamp(conn, lock="update")  # first: waits for an older replica's batch
                    if found > mine:
                        log.error("%s", ProjectionSuperseded(self.name, mine, found))
                        return found
                    if found == 0:  # no row (generations start at 1); of two inserting, the second reads again
                        conn.execute(self.stamps.insert().values(
                            projection=self.name, generation=mine, stamped_at=now, stamped_by=by))
                    elif found < mine:
                        conn.execute(self.stamps.update().where(
                            self.stamps.c.projection == self.name, self.stamps.c.generation < mine,
                        ).values(generation=mine, stamped_at=now, stamped_by=by))
                    derive(conn, found)
                if found < mine:
                    log.warning("%s: read models stamped with generation %s (were %s) by %s: replicas of older "
                                "releases stop projecting", self.name, mine, found, by)
                return found
            except IntegrityError:
                if attempt == 2:
                    raise
        raise AssertionError("unreachable")


async def watch_stamp(runtime: Any, projection: StampedProjection) -> None:
    """A job of every replica (not under a lease): a stamp newer than this code stops the
    projection's consumers here, whether they run now or stand by (health.LoopSuperseded)."""
    superseded = await asyncio.to_thread(projection.superseded)
    if superseded is None:
        return
    for consumer in runtime.consumers:
        if consumer.handler is projection and not consumer.health.superseded:
            consumer.health.superseded = str(superseded)
            log.error("consumer %s stops for good: %s", consumer.durable, superseded)
