"""A running service says so in its own database, so that an offline tool (a rebuild) can refuse
to change the database under it.

Each instance writes one row every few seconds and deletes it when it stops. Times are the
database's clock (`now()`), never the caller's: the tool may run on another machine. An
instance is live when it beat within `LIVE_SECONDS`, unless it ran on this host under a process id
that no longer exists (killed, crashed): that one is gone, there is nothing to wait for.
"""

from __future__ import annotations

import os
import socket
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import (
    Column,
    DateTime,
    Engine,
    Integer,
    MetaData,
    String,
    Table,
    func,
    select,
)

BEAT_SECONDS = 5.0
LIVE_SECONDS = 3 * BEAT_SECONDS

metadata = MetaData()
heartbeats = Table(
    "service_heartbeats", metadata,
    Column("instance", String(64), primary_key=True),
    Column("service", String(32), nullable=False),
    Column("host", String(255), nullable=False),
    Column("pid", Integer, nullable=False),
    Column("beat_at", DateTime(timezone=True), nullable=False),
)


class Heartbeat:
    def __init__(self, engine: Engine, service: str) -> None:
        self.engine = engine
        self.service = service
        self.instance = f"{service}-{uuid.uuid4().hex[:12]}"
        metadata.create_all(engine)

    def beat(self) -> None:
        with self.engine.begin() as conn:
            updated = conn.execute(heartbeats.update().where(heartbeats.c.instance == self.instance)
                                   .values(beat_at=func.now())).rowcount
            if not updated:
                conn.execute(heartbeats.insert().values(instance=self.instance, service=self.service,
                                                        host=socket.gethostname(), pid=os.getpid(), beat_at=func.now()))

    def stop(self) -> None:
        with self.engine.begin() as conn:
            conn.execute(heartbeats.delete().where(heartbeats.c.instance == self.instance))


def beat(runtime: Any) -> None:
    """The service job: the instance's heartbeat, made on its first round."""
    heartbeat = runtime.components.get(Heartbeat)
    if heartbeat is None:
        heartbeat = runtime.provide(Heartbeat(runtime.engine, runtime.settings.service))
    heartbeat.beat()


def stop(runtime: Any) -> None:
    """When the service stops: it is not live any more."""
    if (heartbeat := runtime.components.get(Heartbeat)) is not None:
        heartbeat.stop()


def live_instances(engine: Engine, service: str) -> list[dict]:
    """The instances of `service` that beat within LIVE_SECONDS, each with `seconds_ago`."""
    metadata.create_all(engine)
    with engine.connect() as conn:
        rows = conn.execute(select(heartbeats, func.now().label("now")).where(heartbeats.c.service == service)).all()
    live = []
    for row in rows:
        ago = (_utc(row.now) - _utc(row.beat_at)) / timedelta(seconds=1)
        if ago <= LIVE_SECONDS and not _gone(row.host, row.pid):
            live.append({"instance": row.instance, "host": row.host, "pid": row.pid, "seconds_ago": max(ago, 0.0)})
    return live


def _gone(host: str, pid: int) -> bool:
    if host != socket.gethostname():
        return False  # another machine: only the age tells
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return True
    except PermissionError:  # exists, under another user
        return False
    return False


def _utc(moment: datetime | str) -> datetime:
    if isinstance(moment, str):  # SQLite's CURRENT_TIMESTAMP, as text, is UTC
        moment = datetime.fromisoformat(moment)
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=UTC)
