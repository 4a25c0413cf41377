"""Rebuilding a SQL projection fed by consumers, without ever answering from half a replay (issue 13).

- **Generation.** A rebuild empties the read models and the positions and adds one to the
  projection's generation, in one transaction whose first statement takes the generation row: it
  waits for a batch being applied, and the next batch waits for it.
- **Fence.** Every batch checks, in its own transaction, that the generation is still the one its
  consumer read its position under. A consumer that read its position before a rebuild cannot
  apply what it fetched then: its apply fails, and its next position read raises
  `ProjectionRebuilt`, so the consumer runner makes its server-side consumer again from the new
  position + 1 (the start of the stream). This holds for a rebuild made by another process too.
- **Replay.** A rebuild records, per stream, a target: the stream's end when the replay began
  (read by the live service, `record_targets`). Until every position has reached its target the
  projection is *replaying* and must not answer (`ProjectionReplaying`, 503). Starting on empty
  read models is a replay as well.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import math
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from nats.js.errors import NotFoundError
from sqlalchemy import (
    JSON,
    BigInteger,
    Column,
    Connection,
    DateTime,
    Engine,
    MetaData,
    Select,
    String,
    Table,
    select,
)
from sqlalchemy.exc import IntegrityError

from libs.domain.errors import DomainError
from libs.platform.readmodels.projection import Shape, SqlProjection, _table

log = logging.getLogger(__name__)


class RebuildableProjection(SqlProjection):
    """A SqlProjection that can be emptied and replayed while its service runs."""

    def __init__(self, engine: Engine, metadata: MetaData, *, shape: Shape | None = None) -> None:
        self.rebuilds = _table(metadata, "projection_rebuilds",
            Column("projection", String(64), primary_key=True),
            Column("generation", BigInteger, nullable=False),
            Column("started_at", DateTime(timezone=True)),
            Column("started_by", String(200)),
            Column("targets", JSON(none_as_null=True)),  # {stream: end when the replay began}; NULL: not read yet
            Column("targets_at", DateTime(timezone=True)),
            Column("finished_at", DateTime(timezone=True)))
        super().__init__(engine, metadata, shape=shape)
        self._read_under: dict[str, int] = {}  # stream → generation its position was last read under
        with contextlib.suppress(IntegrityError), engine.begin() as conn:  # replicas starting together
            if conn.execute(self._row()).first() is None:
                conn.execute(self.rebuilds.insert().values(projection=self.name, generation=0))

    def read_models(self) -> list[Table]:
        """The tables a rebuild empties (never the tracking tables' rows of other projections)."""
        raise NotImplementedError

    # -- the fence --------------------------------------------------------------------------------
    def position(self, stream: str) -> int:
        with self.engine.connect() as conn:
            generation = self._generation(conn)  # first: a rebuild between the two reads is seen later
            position = self._position(conn, stream)
        before, self._read_under[stream] = self._read_under.get(stream), generation
        if before is not None and before != generation:
            raise ProjectionRebuilt(f"{self.name} was rebuilt (generation {generation}): {stream} starts again "
                                    f"after position {position}")
        return position

    def _advance(self, conn: Connection, stream: str, position: int) -> None:
        self._writable(conn)
        generation = self._generation(conn, lock=True)
        read_under = self._read_under.get(stream)
        if read_under is not None and read_under != generation:
            raise ProjectionRebuilt(f"{self.name} was rebuilt while {stream} up to {position} was being applied")
        super()._advance(conn, stream, position)

    def _writable(self, conn: Connection) -> None:
        """First in every transaction that writes the read models: raises if this code may not
        (a newer release's stamp, readmodels/stamps.py)."""

    def _generation(self, conn: Connection, *, lock: bool = False) -> int:
        query = select(self.rebuilds.c.generation).where(self.rebuilds.c.projection == self.name)
        if lock and conn.dialect.name == "postgresql":  # FOR SHARE: a rebuild's UPDATE waits for this batch
            query = query.with_for_update(read=True)
        # (SQLite: the batch's transaction holds the write lock from its BEGIN IMMEDIATE on, so no
        # rebuild commits between this read and its writes: store/sqlite_begin.py.)
        return conn.execute(query).scalar() or 0

    # -- rebuild and replay -------------------------------------------------------------------------
    def rebuild(self, *, by: str, drop: bool = False) -> int:
        """Empty the read models (`drop`: drop and create them, for a new shape) and the positions,
        and start a replay; one transaction. Returns the new generation."""
        tables = self.read_models()
        now = datetime.now(UTC)
        with self.engine.begin() as conn:
            self._writable(conn)
            conn.execute(self.rebuilds.update().where(self.rebuilds.c.projection == self.name).values(
                generation=self.rebuilds.c.generation + 1, started_at=now, started_by=by, targets=None,
                targets_at=None, finished_at=None))
            if drop:
                self.metadata.drop_all(conn, tables=tables)
                self.metadata.create_all(conn, tables=tables)
            else:
                for table in reversed(tables):
                    conn.execute(table.delete())
            for tracking in (self.positions, self.seen, self.skipped):
                conn.execute(tracking.delete().where(tracking.c.projection == self.name))
            return self._generation(conn)

    def replay_if_empty(self, *, by: str) -> bool:
        """At start: read models with no recorded position replay the streams (the service must not
        answer from them until they are back); True when a replay was started."""
        with self.engine.begin() as conn:
            if conn.execute(select(self.positions.c.stream).where(self.positions.c.projection == self.name)).first():
                return False
            # A replay under way (e.g. after an offline rebuild) goes on as recorded.
            conn.execute(self.rebuilds.update().where(
                self.rebuilds.c.projection == self.name,
                self.rebuilds.c.started_at.is_(None) | self.rebuilds.c.finished_at.is_not(None),
            ).values(started_at=datetime.now(UTC), started_by=by, targets=None, targets_at=None, finished_at=None))
            return True

    def record_targets(self, generation: int, targets: dict[str, int]) -> None:
        """The end of each stream when the replay began; only for the replay of that generation."""
        with self.engine.begin() as conn:
            conn.execute(self.rebuilds.update().where(
                self.rebuilds.c.projection == self.name, self.rebuilds.c.generation == generation,
                self.rebuilds.c.started_at.is_not(None), self.rebuilds.c.targets.is_(None),
            ).values(targets=targets, targets_at=datetime.now(UTC)))

    def finish(self, generation: int) -> None:
        with self.engine.begin() as conn:
            conn.execute(self.rebuilds.update().where(
                self.rebuilds.c.projection == self.name, self.rebuilds.c.generation == generation,
                self.rebuilds.c.finished_at.is_(None)).values(finished_at=datetime.now(UTC)))

    def settled_state(self) -> ReplayState:
        """The replay state, with a replay that has reached every target recorded as finished first
        (so "done" always comes with its `finished_at`, whoever looks first: the job or a reader)."""
        state = self.replay_state()
        if state.started_at is not None and state.finished_at is None and not state.replaying:
            self.finish(state.generation)
            state = self.replay_state()
        return state

    def replay_state(self) -> ReplayState:
        with self.engine.connect() as conn:
            row = conn.execute(self._row()).one()
            positions = {r.stream: r.position for r in conn.execute(
                select(self.positions.c.stream, self.positions.c.position).where(
                    self.positions.c.projection == self.name))}
        return ReplayState(
            projection=self.name, generation=row.generation, started_at=_utc(row.started_at),
            started_by=row.started_by, targets=row.targets, targets_at=_utc(row.targets_at),
            finished_at=_utc(row.finished_at), positions=positions)

    def _row(self) -> Select[Any]:
        return select(self.rebuilds).where(self.rebuilds.c.projection == self.name)


@dataclass(frozen=True)
class ReplayState:
    projection: str
    generation: int
    started_at: datetime | None  # None: never rebuilt nor replayed
    started_by: str | None
    targets: dict[str, int] | None  # None while the streams' ends are not read yet
    targets_at: datetime | None
    finished_at: datetime | None
    positions: dict[str, int]

    @property
    def replaying(self) -> bool:
        if self.started_at is None:
            return False
        return self.targets is None or any(self.position(s) < t for s, t in self.targets.items())

    def position(self, stream: str) -> int:
        return self.positions.get(stream, 0)

    def streams(self) -> list[dict]:
        """Progress per stream: position, target and what remains (target None: not read yet)."""
        names = sorted(set(self.positions) | set(self.targets or {}))
        return [{"stream": s, "position": self.position(s),
                 "target": None if self.targets is None else self.targets.get(s, 0),
                 "remaining": None if self.targets is None else max(self.targets.get(s, 0) - self.position(s), 0)}
                for s in names]

    def seconds_left(self, now: datetime | None = None) -> float | None:
        """At the pace since the targets were read; None while nothing is known."""
        if not self.replaying or not self.targets or self.targets_at is None:
            return None
        done = sum(min(self.position(s), t) for s, t in self.targets.items())
        left = sum(self.targets.values()) - done
        elapsed = ((now or datetime.now(UTC)) - self.targets_at).total_seconds()
        return None if done <= 0 or elapsed <= 0 else elapsed * left / done

    def retry_after(self) -> int:
        left = self.seconds_left()
        return 5 if left is None else min(max(math.ceil(left), 1), 60)

    def public(self) -> dict:
        """As JSON (the ops endpoint and the 503 problem show the same)."""
        return {
            "projection": self.projection, "generation": self.generation,
            "state": "replaying" if self.replaying else ("done" if self.started_at else "never-rebuilt"),
            "started_at": _iso(self.started_at), "started_by": self.started_by,
            "finished_at": _iso(self.finished_at), "seconds_left": _round(self.seconds_left()),
            "streams": self.streams(),
        }


class ProjectionRebuilt(RuntimeError):
    """The projection was rebuilt since this consumer read its position: start again from the new one."""


class ProjectionReplaying(DomainError):
    """Answering now would give partial numbers: the read models are being replayed."""

    problem = "projection-replaying"
    title = "The read models are being rebuilt from the streams"
    status = 503

    def __init__(self, state: ReplayState) -> None:
        progress = ", ".join(
            f"{s['stream']} {s['position']}/{'?' if s['target'] is None else s['target']}" for s in state.streams())
        retry = state.retry_after()
        super().__init__(f"{state.projection} is replaying its streams since {_iso(state.started_at)} "
                         f"({progress or 'reading the streams’ ends'}); try again in {retry} s",
                         replay=state.public())
        self.headers = {"Retry-After": str(retry)}


async def watch_replay(runtime: Any, projection: RebuildableProjection) -> None:
    """A job of the service that feeds `projection`: read the streams' ends for a replay that has no
    targets yet, record when it finished, and show it on the consumers' health (/readyz, /metrics)."""
    state = await asyncio.to_thread(projection.replay_state)
    consumers = [c for c in runtime.consumers if c.handler is projection]
    if state.replaying and state.targets is None:
        for consumer in consumers:  # shown at once (the reports answer 503 already), not after the wait
            consumer.health.replaying = True
        with contextlib.suppress(asyncio.TimeoutError):  # at start the bus connects beside this job
            await asyncio.wait_for(runtime.bus.wait_connected(), timeout=5)
    if state.replaying and state.targets is None and runtime.bus.connected:
        ends = await stream_ends(runtime.bus, [c.spec.name for c in consumers])
        await asyncio.to_thread(projection.record_targets, state.generation, ends)
        log.info("%s replays its streams up to %s", projection.name, ends)
        state = await asyncio.to_thread(projection.replay_state)
    if state.started_at is not None and state.finished_at is None and not state.replaying:
        state = await asyncio.to_thread(projection.settled_state)
        log.info("%s replayed its streams up to %s", projection.name, state.targets)
    for consumer in consumers:
        target = (state.targets or {}).get(consumer.spec.name, 0)
        replaying = state.replaying and (state.targets is None or state.position(consumer.spec.name) < target)
        consumer.health.replaying, consumer.health.replay_target = replaying, target if replaying else 0


async def stream_ends(bus: Any, streams: list[str]) -> dict[str, int]:
    """The sequence of each stream's last message (0 for a stream that is empty or not made yet)."""
    ends = {}
    for name in streams:
        try:
            state = (await bus.js.stream_info(name)).state
        except NotFoundError:
            ends[name] = 0
            continue
        ends[name] = state.last_seq if state.messages else 0
    return ends


def _utc(moment: datetime | None) -> datetime | None:
    """SQLite gives back naive datetimes: every instant stored here is UTC."""
    if moment is None or moment.tzinfo is not None:
        return moment
    return moment.replace(tzinfo=UTC)


def _iso(moment: datetime | None) -> str | None:
    return None if moment is None else moment.isoformat()


def _round(seconds: float | None) -> float | None:
    return None if seconds is None else round(seconds, 1)
