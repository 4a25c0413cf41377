"""A role's lease as one replica sees it, the table of leases, and what the replicas share about
them (lease.py holds, renews and fences them: its docstring says how and why)."""

from __future__ import annotations

import contextlib
import os
import secrets
import socket
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import BigInteger, Column, DateTime, MetaData, String, Table, create_engine, text
from sqlalchemy.pool import NullPool

metadata = MetaData()
leases = Table(
    "leases", metadata,
    Column("role", String(200), primary_key=True),
    Column("holder", String(200), nullable=False),
    Column("generation", BigInteger, nullable=False),
    Column("expires_at", DateTime(timezone=True), nullable=False),
)


@contextlib.contextmanager
def startup_lock(url: str, schema: str) -> Iterator[None]:
    """Replicas starting at once create the same schema and tables (CREATE ... IF NOT EXISTS races
    in PostgreSQL: a unique violation in pg_type); one at a time, under a session advisory lock
    held while the service builds its runtime."""
    engine = create_engine(url, poolclass=NullPool, hide_parameters=True)
    try:
        with engine.connect() as conn:
            conn.execute(text("SELECT pg_advisory_lock(hashtext(:key))"), {"key": f"tsunagu-startup:{schema}"})
            conn.commit()
            try:
                yield
            finally:
                conn.execute(text("SELECT pg_advisory_unlock(hashtext(:key))"), {"key": f"tsunagu-startup:{schema}"})
                conn.commit()
    finally:
        engine.dispose()


class Fenced(ConnectionError):
    """This replica no longer holds the lease of the role that tried to write. A ConnectionError,
    so that loops treat it as a fault of the replica (retried, never a dead letter), not of the
    message."""


def replica_id() -> str:
    """This process among the replicas: host, pid and a random part (a restarted process with the
    same pid on the same host is another holder)."""
    return f"{socket.gethostname()}:{os.getpid()}:{secrets.token_hex(3)}"


@dataclass
class Lease:
    """One role's lease as this replica sees it."""

    role: str
    holder: str = ""  # the holder the row names, as last seen
    generation: int = 0
    expires_in: float = 0.0  # seconds, on the database's clock, as last seen
    held: bool = False
    takeovers: int = 0  # how often this replica took the lease
    lost: int = 0  # how often it lost it while holding it
    seen_at: float = field(default_factory=time.monotonic)
    on_lost: Callable[[], None] | None = None
    # Since when no row exists for the role (monotonic), as last seen; None once one is seen.
    absent_since: float | None = field(default_factory=time.monotonic)
    # Why this replica stands by for it whatever the row says (a web-only replica), if it does.
    standby_reason: str = ""

    def seen(self, holder: str, generation: int, expires_in: float) -> None:
        """The row as read now (expires_in negative: expired that many seconds ago)."""
        self.holder, self.generation, self.expires_in = holder, generation, expires_in
        self.seen_at, self.absent_since = time.monotonic(), None

    def unheld_seconds(self) -> float:
        """How long no replica has held the lease, as far as this replica has seen: 0 while a holder's
        lease runs (or this replica holds it)."""
        if self.held:
            return 0.0
        now = time.monotonic()
        if self.absent_since is not None:
            return now - self.absent_since
        return max(now - self.seen_at - self.expires_in, 0.0)

    def report(self, me: str) -> dict[str, Any]:
        left = max(self.expires_in - (time.monotonic() - self.seen_at), 0.0)
        body = {"state": "active" if self.held else "standby", "holder": self.holder, "generation": self.generation,
                "expires_in": round(left, 1), "mine": self.held and self.holder == me,
                "unheld_seconds": round(self.unheld_seconds(), 1)}
        if self.standby_reason:
            body["reason"] = self.standby_reason
        return body


@dataclass(frozen=True)
class Tenure:
    """The fencing token of work begun under a lease: which lease, and its generation then."""

    lease: Lease
    generation: int
