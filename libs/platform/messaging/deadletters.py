"""Dead letters kept in the service's own database, so neither a restart nor a lost core-NATS
message hides them: readiness counts the open ones until an operator resolves each (after fixing
the cause and, for a projection, rebuilding it)."""

from __future__ import annotations

from datetime import UTC, datetime

from sqlalchemy import (
    BigInteger,
    Column,
    DateTime,
    Engine,
    MetaData,
    String,
    Table,
    Text,
    func,
    select,
)
from sqlalchemy.exc import IntegrityError

metadata = MetaData()
dead_letters = Table(
    "dead_letters", metadata,
    Column("consumer", String(100), primary_key=True),
    Column("stream", String(64), primary_key=True),
    Column("position", BigInteger, primary_key=True),
    Column("reason", Text, nullable=False),
    Column("recorded_at", DateTime(timezone=True), nullable=False),
    Column("resolved_at", DateTime(timezone=True), nullable=True),
    Column("resolved_by", String(200), nullable=True),
)
# The stream each consumer's positions are sequences of: its `stream_info().created` when the
# consumer last subscribed (messaging/stream_renewed.py).
consumer_streams = Table(
    "consumer_streams", metadata,
    Column("consumer", String(100), primary_key=True),
    Column("stream", String(64), primary_key=True),
    Column("created", String(64), nullable=False),
)


class DeadLetters:
    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        metadata.create_all(engine)

    def record(self, *, consumer: str, stream: str, position: int, reason: str) -> None:
        """Idempotent: the same message dead-lettered again (a crash before its ack) is one row. One
        resolved before is open again: it failed again (a rebuild replayed it, the cause not gone)."""
        reason = plain(reason)
        try:
            with self.engine.begin() as conn:
                conn.execute(dead_letters.insert().values(consumer=consumer, stream=stream, position=position,
                                                          reason=reason, recorded_at=datetime.now(UTC)))
        except IntegrityError:
            this = ((dead_letters.c.consumer == consumer) & (dead_letters.c.stream == stream)
                    & (dead_letters.c.position == position) & dead_letters.c.resolved_at.is_not(None))
            with self.engine.begin() as conn:
                conn.execute(dead_letters.update().where(this).values(
                    reason=reason, recorded_at=datetime.now(UTC), resolved_at=None, resolved_by=None))

    def open_count(self) -> int:
        with self.engine.connect() as conn:
            return conn.execute(select(func.count()).select_from(dead_letters)
                                .where(dead_letters.c.resolved_at.is_(None))).scalar_one()

    def listed(self, *, open_only: bool) -> list[dict]:
        query = select(dead_letters).order_by(dead_letters.c.consumer, dead_letters.c.stream, dead_letters.c.position)
        if open_only:
            query = query.where(dead_letters.c.resolved_at.is_(None))
        with self.engine.connect() as conn:
            return [dict(r._mapping) for r in conn.execute(query)]

    def resolve(self, *, consumer: str, stream: str, position: int, by: str) -> bool:
        """Mark one dead letter resolved; False when there is no such open dead letter."""
        this = ((dead_letters.c.consumer == consumer) & (dead_letters.c.stream == stream)
                & (dead_letters.c.position == position) & dead_letters.c.resolved_at.is_(None))
        with self.engine.begin() as conn:
            done = conn.execute(dead_letters.update().where(this).values(resolved_at=datetime.now(UTC), resolved_by=by))
            return done.rowcount == 1

    def stream_created(self, *, consumer: str, stream: str) -> str | None:
        """The `created` of the stream this consumer's positions were taken from (None: not known)."""
        this = (consumer_streams.c.consumer == consumer) & (consumer_streams.c.stream == stream)
        with self.engine.connect() as conn:
            return conn.execute(select(consumer_streams.c.created).where(this)).scalar()

    def keep_stream_created(self, *, consumer: str, stream: str, created: str) -> None:
        this = (consumer_streams.c.consumer == consumer) & (consumer_streams.c.stream == stream)
        with self.engine.begin() as conn:
            if not conn.execute(consumer_streams.update().where(this).values(created=created)).rowcount:
                try:
                    with conn.begin_nested():
                        conn.execute(consumer_streams.insert().values(consumer=consumer, stream=stream,
                                                                      created=created))
                except IntegrityError:  # another replica's, just now: the same stream
                    pass


REASON_CHARS = 2000


def plain(reason: str) -> str:
    """A reason a text column takes: no NUL (PostgreSQL's text refuses it, and an error's message may
    quote the value that had one; SQLAlchemy's quotes parameters escaped), and not the whole of a
    long statement."""
    reason = reason.replace("\x00", "\\x00")
    return reason if len(reason) <= REASON_CHARS else reason[:REASON_CHARS] + "…"
