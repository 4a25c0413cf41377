"""Commits made by another process ring this one's CommitSignal (store/commits.py), through the
NOTIFY every insert into a PostgreSQL events table already sends (store/core_inserts.py).

With replicas, a worker's relay and log followers would otherwise learn of a web replica's write
only by polling the log (every 50 ms, a few hundred statements a second from an idle worker,
each contending with the requests for the same two cores on a small machine). A replica that runs
background loops listens instead, on one connection of its own, and rings at each notification.

The listener is a loop like the others (DESIGN §8): its health (kind `listener`) counts the
notifications as its position and its failures in a row, in /readyz and /metrics, and a listener
that keeps failing makes the replica unready like any loop. While it is not listening it rings
every `FALLBACK_RING_SECONDS` itself, as the replicas' poll did before, so a write made by another
replica is never left for the loops' slow poll (relay_poll_seconds) to find.

A NOTIFY channel is per database, not per schema: two services' schemas in one database never share
a channel (the table names differ), but two copies of one service in one database (tests) ring each
other now and then, which costs a round that finds nothing.
"""

from __future__ import annotations

import asyncio
import logging

import psycopg
from sqlalchemy import Engine

from libs.platform.health import LoopHealth
from libs.platform.store.commits import CommitSignal, sleep_or_stop

log = logging.getLogger(__name__)

FALLBACK_RING_SECONDS = 0.05
RETRY_SECONDS = 1.0


async def ring_on_notify(engine: Engine, channel: str, commits: CommitSignal, stop: asyncio.Event,
                         *, health: LoopHealth, check_seconds: float = 1.0, own: str | None = None) -> None:
    """Until `stop`: LISTEN on `channel` and ring `commits` at every notification but those whose
    payload is `own` (this replica's writer: store/core_inserts.py `origin`; its commits rang already); when
    the connection cannot be made or is lost, ring every FALLBACK_RING_SECONDS for a second, then
    connect again."""
    args, params = engine.dialect.create_connect_args(engine.url)
    heard = 0
    while not stop.is_set():
        try:
            with health.round():  # a connection that never comes, a LISTEN that never returns
                conn = await psycopg.AsyncConnection.connect(*args, **{**params, "autocommit": True})
            async with conn:
                with health.round():
                    await conn.execute(psycopg.sql.SQL("LISTEN {}").format(psycopg.sql.Identifier(channel)))
                commits.ring()  # what was committed before LISTEN: one round finds it
                health.succeeded()
                while not stop.is_set():
                    with health.round():  # at most check_seconds, unless the connection hangs
                        async for notification in conn.notifies(timeout=check_seconds, stop_after=1):
                            heard += 1  # its position: every notification heard, its own writer's too
                            if own is None or notification.payload != own:
                                commits.ring()
                    health.observe(heard, heard)
                    health.succeeded()
        except Exception as e:  # noqa: BLE001 - the database is away or refuses LISTEN: ring meanwhile
            health.failed(e)
            log.warning("not listening on %s (%d failures in a row): %s; ringing every %.0f ms meanwhile",
                        channel, health.failures, type(e).__name__, 1000 * FALLBACK_RING_SECONDS)
            deadline = asyncio.get_running_loop().time() + RETRY_SECONDS
            while not stop.is_set() and asyncio.get_running_loop().time() < deadline:
                commits.ring()
                await sleep_or_stop(stop, FALLBACK_RING_SECONDS)
