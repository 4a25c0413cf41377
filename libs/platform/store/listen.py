"""Commits made by another process ring this one's CommitSignal (store/commits.py), through the
NOTIFY every insert into a PostgreSQL events table already sends (store/core.py).

With replicas, a worker's relay and log followers would otherwise learn of a web replica's write
only by polling the log (every 50 ms, a few hundred statements a second from an idle worker,
each contending with the requests for the same two cores on a small machine). A replica that runs
background loops listens instead, on one connection of its own, and rings at each notification;
the loops keep their slower poll as the fallback while this connection is down.

A NOTIFY channel is per database, not per schema: two services' schemas in one database never share
a channel (the table names differ), but two copies of one service in one database (tests) ring each
other now and then, which costs a round that finds nothing.
"""

from __future__ import annotations

import asyncio
import logging

import psycopg
from sqlalchemy import Engine

from libs.platform.store.commits import CommitSignal, sleep_or_stop

log = logging.getLogger(__name__)


async def ring_on_notify(engine: Engine, channel: str, commits: CommitSignal, stop: asyncio.Event,
                         *, check_seconds: float = 1.0) -> None:
    """Until `stop`: LISTEN on `channel` and ring `commits` at every notification; reconnect after
    a second when the connection is lost."""
    args, params = engine.dialect.create_connect_args(engine.url)
    while not stop.is_set():
        try:
            conn = await psycopg.AsyncConnection.connect(*args, **{**params, "autocommit": True})
            async with conn:
                await conn.execute(psycopg.sql.SQL("LISTEN {}").format(psycopg.sql.Identifier(channel)))
                commits.ring()  # what was committed before LISTEN: one round finds it
                while not stop.is_set():
                    async for _ in conn.notifies(timeout=check_seconds, stop_after=1):
                        commits.ring()
        except Exception as e:  # noqa: BLE001 - the database is away: the loops poll meanwhile
            log.info("listening on %s: %s: %s; again in 1 s", channel, type(e).__name__, e)
            await sleep_or_stop(stop, 1.0)
