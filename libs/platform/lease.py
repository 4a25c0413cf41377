"""Leases: which replica runs which background role, with fencing (issue 16, deploy/README).

Several replicas of a service serve HTTP against one PostgreSQL. Each background role — the relay,
each consumer, each log follower, each scheduled job, the checkpoints — must run in exactly one of
them at a time. A role runs only in the replica that holds its lease: a row of `leases` (in the
service's schema) with the holder, a `generation` and an expiry on the *database's* clock.

- The holder renews the row every `ttl / 3`. A standby takes the row over once it has expired,
  and every take-over adds one to the generation (a renewal keeps it).
- Fencing. Every transaction a role opens on the service's engine while it runs (its positions,
  read models, dead letters, checkpoints) first takes a share lock on its lease row and checks that
  the row still names this replica and the generation its work began under (a `Tenure`, fixed when
  the work starts: work left over from an earlier tenure of this replica, say a thread that hung
  while the lease went elsewhere and came back, is refused although the lease is held again);
  otherwise it raises `Fenced` before anything is written. The lock is held until the transaction
  ends, so a take-over (an UPDATE of that row) waits for a write under way and every later write of
  the old holder sees the new generation. The check's transaction sets
  `idle_in_transaction_session_timeout` to the lease's length, so a holder paused (SIGSTOP) inside
  a transaction cannot hold up a take-over for longer than that: PostgreSQL ends its session.
- A holder that cannot renew (a fenced write, the row taken, the database gone for longer than the
  lease) stops the role at once and becomes a standby again.
- On a graceful stop the holder lets the row expire now, so a standby takes over at once.

Why not a session advisory lock: a paused holder's connection stays open, so its lock never goes
and nothing ever takes over; and it fences nothing. Why not a NATS KV lease: the writes to fence are
in PostgreSQL, and only a check in the same transaction as the write fences them.

NATS publishes of a stale relay are harmless: JetStream drops a message whose `Nats-Msg-Id` it
saw within the stream's duplicate window, and the relay's position write is fenced. Writes a
role makes through the eventsourcing Application (a process application's events) are not on this
engine; they are kept once by the application's own tracking record and the aggregates' versions.

A web-only replica (`TSUNAGU_BACKGROUND=off`) takes no lease: it only reads the rows (`watch`),
so that its /readyz and /metrics show who runs each role and how long a role has had no holder
(a worker replica stopped and none beside it: `unheld_seconds`).

SQLite stays single-process: `TSUNAGU_REPLICAS` above 1 needs PostgreSQL (Settings refuses).
"""

from __future__ import annotations

import asyncio
import contextlib
import contextvars
import logging
import time
from collections.abc import Callable, Coroutine, Iterator
from typing import Any

from sqlalchemy import Engine, event, text

from libs.platform.health import LoopSuperseded
from libs.platform.lease_rows import Fenced, Lease, Tenure, leases, metadata, replica_id, startup_lock
from libs.platform.store.commits import sleep_or_stop

__all__ = ["Fenced", "Lease", "Leases", "Tenure", "leases", "replica_id", "startup_lock"]

log = logging.getLogger(__name__)

_current: contextvars.ContextVar[Tenure | None] = contextvars.ContextVar("tsunagu_lease", default=None)


class Leases:
    """The leases of one service's replica, on its engine (PostgreSQL)."""

    def __init__(self, engine: Engine, *, ttl: float = 5.0, me: str | None = None) -> None:
        self.engine = engine
        self.ttl = ttl
        self.me = me or replica_id()
        self.roles: dict[str, Lease] = {}
        metadata.create_all(engine)
        event.listen(engine, "begin", self._fence)

    def lease(self, role: str) -> Lease:
        return self.roles.setdefault(role, Lease(role))

    # -- fencing -------------------------------------------------------------------------------
    @contextlib.contextmanager
    def fencing(self, lease: Lease) -> Iterator[None]:
        """Transactions begun in this context (threads started from it too) are fenced by `lease`
        at the generation it has now: they pass only while this replica holds that generation."""
        token = _current.set(Tenure(lease, lease.generation))
        try:
            yield
        finally:
            _current.reset(token)

    def _fence(self, conn: Any) -> None:
        tenure = _current.get()
        if tenure is None or self.roles.get(tenure.lease.role) is not tenure.lease:  # none, or another Leases' one
            return
        lease = tenure.lease
        # The DBAPI connection directly: SQLAlchemy is inside its own begin here. psycopg opens the
        # transaction with this first statement, and the transaction SQLAlchemy commits is this one.
        cur = conn.connection.dbapi_connection.cursor()
        try:
            cur.execute(f"SET LOCAL idle_in_transaction_session_timeout = {int(self.ttl * 1000)}")
            cur.execute("SELECT holder, generation FROM leases WHERE role = %s FOR SHARE", (lease.role,))
            row = cur.fetchone()
        except Exception as e:  # the raw driver's error: a transient one for consumers, not the message's
            raise ConnectionError(f"{lease.role}: the lease could not be checked ({type(e).__name__}: {e})") from e
        finally:
            cur.close()
        holds = lease.held and row is not None and row[0] == self.me and row[1] == lease.generation
        if not holds:  # the row says this replica's lease has gone
            self._lose(lease, row[0] if row else "", row[1] if row else 0)
        if not holds or tenure.generation != lease.generation:  # gone, or held again since the work began
            raise Fenced(f"{lease.role}: generation {tenure.generation} of {self.me} is no longer the lease's "
                         f"({row[0] if row else 'none'}, generation {row[1] if row else 0}); write refused")

    def _lose(self, lease: Lease, holder: str, generation: int) -> None:
        if lease.held:
            lease.lost += 1
            log.warning("lease %s: lost (now %s, generation %s); standing by", lease.role, holder, generation)
        lease.held, lease.holder, lease.generation = False, holder, generation
        if lease.on_lost is not None:
            lease.on_lost()

    # -- the row -------------------------------------------------------------------------------
    def try_hold(self, lease: Lease) -> bool:
        """Renew the lease if this replica holds it, take it if it has expired; True if held now."""
        ttl = f"{self.ttl} seconds"
        with self.engine.begin() as conn:
            conn.execute(text("SET LOCAL lock_timeout = '2s'"))
            conn.execute(text(
                "INSERT INTO leases (role, holder, generation, expires_at) "
                "VALUES (:role, '', 0, now() - interval '1 second') ON CONFLICT (role) DO NOTHING"),
                {"role": lease.role})
            row = conn.execute(text(
                "UPDATE leases SET generation = CASE WHEN holder = :me AND generation = :gen THEN generation "
                "ELSE generation + 1 END, holder = :me, expires_at = now() + CAST(:ttl AS interval) "
                "WHERE role = :role AND ((holder = :me AND generation = :gen) OR expires_at < now()) "
                "RETURNING holder, generation, extract(epoch FROM expires_at - now())"),
                {"role": lease.role, "me": self.me, "gen": lease.generation if lease.held else -1, "ttl": ttl}).first()
            held = row is not None
            if row is None:
                row = conn.execute(text(
                    "SELECT holder, generation, extract(epoch FROM expires_at - now()) FROM leases WHERE role = :role"),
                    {"role": lease.role}).first()
        assert row is not None
        lease.seen_at, lease.expires_in, lease.absent_since = time.monotonic(), float(row[2]), None
        if held and not lease.held:
            lease.takeovers += 1
            log.warning("lease %s: taken by %s, generation %s", lease.role, self.me, row[1])
        elif not held and lease.held:
            self._lose(lease, row[0], row[1])
        lease.held, lease.holder, lease.generation = held, row[0], row[1]
        return held

    def release(self, lease: Lease) -> None:
        """Let the lease expire now (a graceful stop): a standby takes it at its next try."""
        if not lease.held:
            return
        lease.held = False
        with self.engine.begin() as conn:
            conn.execute(text("UPDATE leases SET expires_at = now() - interval '1 second' "
                              "WHERE role = :role AND holder = :me AND generation = :gen"),
                         {"role": lease.role, "me": self.me, "gen": lease.generation})
        log.warning("lease %s: released by %s (stopping)", lease.role, self.me)

    def read(self) -> None:
        """Every lease row, read only: a web-only replica's view of who runs which role."""
        with self.engine.connect() as conn:
            rows = {r[0]: r for r in conn.execute(text(
                "SELECT role, holder, generation, extract(epoch FROM expires_at - now()) FROM leases"))}
        for role, lease in self.roles.items():
            if (row := rows.get(role)) is not None:
                lease.seen(row[1], row[2], float(row[3]))
            elif lease.absent_since is None:
                lease.absent_since = time.monotonic()

    async def watch(self, stop: asyncio.Event) -> None:
        """Read the rows every third of a lease, never taking one (TSUNAGU_BACKGROUND=off)."""
        while not stop.is_set():
            try:
                await asyncio.to_thread(self.read)
            except Exception as e:  # noqa: BLE001 - the database is away: /readyz says so already
                log.info("leases: cannot read (%s: %s)", type(e).__name__, e)
            await sleep_or_stop(stop, self.ttl / 3)

    # -- running a role ------------------------------------------------------------------------
    async def run(self, role: str, body: Callable[[asyncio.Event], Coroutine[Any, Any, Any]], stop: asyncio.Event,
                  on_standby: Callable[[bool], None] | None = None) -> None:
        """Run `body(inner_stop)` while this replica holds the lease of `role`; stand by otherwise.
        `on_standby(True/False)` says which (health reports it)."""
        lease = self.lease(role)
        every = self.ttl / 3
        while not stop.is_set():
            if on_standby is not None:
                on_standby(True)
            try:
                held = await asyncio.to_thread(self.try_hold, lease)
            except Exception as e:  # noqa: BLE001 - the database is away: try again
                log.info("lease %s: cannot take (%s: %s)", role, type(e).__name__, e)
                held = False
            if not held:
                await sleep_or_stop(stop, every)
                continue
            inner, loop = asyncio.Event(), asyncio.get_running_loop()
            # Lost in a worker thread (a fenced write, a renewal): asyncio.Event is not thread-safe.
            lease.on_lost = _set_from_any_thread(loop, inner)
            if on_standby is not None:
                on_standby(False)
            with self.fencing(lease):
                task = asyncio.create_task(body(inner))
            last_renewed = time.monotonic()
            while not (stop.is_set() or inner.is_set() or task.done()):
                await sleep_or_stop(stop, every, also=inner)
                if stop.is_set() or inner.is_set():
                    break
                try:
                    if not await asyncio.to_thread(self.try_hold, lease):
                        break
                    last_renewed = time.monotonic()
                except Exception as e:  # noqa: BLE001 - a renewal that fails for a lease's length loses it
                    log.warning("lease %s: cannot renew (%s: %s)", role, type(e).__name__, e)
                    if time.monotonic() - last_renewed > self.ttl * 2 / 3:
                        lease.held = False
                        break
            inner.set()
            lease.on_lost = None
            _, pending = await asyncio.wait([task], timeout=5)
            for t in pending:
                t.cancel()
            ended = task.exception() if task.done() and not task.cancelled() else None
            if ended is not None:
                log.error("role %s ended: %s", role, ended)
            if isinstance(ended, LoopSuperseded):  # for good: another replica's code must run it
                await self._give_up(lease, str(ended), stop, on_standby)
                return
            if stop.is_set():
                with contextlib.suppress(Exception):  # the database may be gone; the lease then expires
                    await asyncio.to_thread(self.release, lease)
                return
            log.warning("lease %s: %s stood down at generation %s", role, self.me, lease.generation)
            lease.held = False

    async def _give_up(self, lease: Lease, reason: str, stop: asyncio.Event,
                       on_standby: Callable[[bool], None] | None) -> None:
        """Let the lease go now and never compete for it again in this process (health says why)."""
        lease.standby_reason = f"superseded: {reason}"
        with contextlib.suppress(Exception):  # the database may be gone; the lease then expires
            await asyncio.to_thread(self.release, lease)
        lease.held = False
        if on_standby is not None:
            on_standby(True)
        await stop.wait()


def _set_from_any_thread(loop: asyncio.AbstractEventLoop, event: asyncio.Event) -> Callable[[], None]:
    def set_event() -> None:
        loop.call_soon_threadsafe(event.set)

    return set_event
