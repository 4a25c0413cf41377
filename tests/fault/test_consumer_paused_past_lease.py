"""A consumer replica paused (SIGSTOP, a frozen VM, a starved process) inside an apply for longer than
its lease: PostgreSQL ends its session (idle_in_transaction_session_timeout, store/db.py), and the
apply fails when it goes on, with an error psycopg classes as InternalError; or its session is
ended by pg_terminate_backend (a failover). That says nothing about the message: it is retried,
never dead-lettered. (h-attack6: both counted against the message, and after max_deliver of them
the message was dead-lettered, its effect never applied: the first by its class, both because
the read-model batch's cleanup replaced the error with SQLAlchemy's PendingRollbackError.)"""

from __future__ import annotations

import pytest
from sqlalchemy import create_engine, text

from libs.platform.messaging.consumer import ConsumerRunner
from libs.platform.messaging.deadletters import DeadLetters
from libs.platform.store.db import make_engine
from tests.fault.test_consumer_order import SPEC, RecordingProjection, _bus, _drain, _envelope, _publish
from tests.harness import POSTGRES_URL, Database, backend, eventually

pytestmark = [pytest.mark.fault, pytest.mark.skipif(backend() != "postgresql", reason="PostgreSQL's idle timeout")]


class PausedProjection(RecordingProjection):
    """Its apply of each message in `pauses` idles in its transaction until PostgreSQL has ended
    the session (or ends it itself, `terminate`), that many times."""

    def __init__(self, engine, pauses: dict[int, int], *, terminate: bool) -> None:
        super().__init__(engine, fail={})
        self.pauses = pauses
        self.terminate = terminate
        self.admin = create_engine(POSTGRES_URL)

    def project(self, conn, envelope) -> None:
        if self.pauses.get(envelope.sequence, 0) > 0:
            self.pauses[envelope.sequence] -= 1
            pid = conn.execute(text("SELECT pg_backend_pid()")).scalar()
            if self.terminate:
                with self.admin.connect() as admin:
                    admin.execute(text("SELECT pg_terminate_backend(:pid)"), {"pid": pid})
            eventually(lambda: self._ended(pid), timeout=30)
        super().project(conn, envelope)

    def _ended(self, pid: int) -> bool:
        with self.admin.connect() as conn:
            return not conn.execute(text("SELECT count(*) FROM pg_stat_activity WHERE pid = :pid"),
                                    {"pid": pid}).scalar()


@pytest.mark.parametrize("ended", ["for idling", "by pg_terminate_backend"])
async def test_an_apply_whose_session_the_server_ended_is_retried_not_dead_lettered(ended, nats_server, tmp_path):
    database = Database(tmp_path)
    # With replicas, every connection's transaction may idle a lease at most (1 s here).
    engine = make_engine(database.settings("probe", nats_server.url, replicas=2, lease_seconds=1.0))
    projection = PausedProjection(engine, pauses={2: 6}, terminate=ended != "for idling")
    try:
        async with _bus(nats_server.url) as bus:
            await _publish(nats_server.url, [_envelope(i) for i in range(1, 4)])
            store = DeadLetters(engine)
            runner = ConsumerRunner(bus=bus, spec=SPEC, handler=projection, max_deliver=3, dead_letters=store)
            await _drain(runner, lambda: projection.position("INTAKE") == 3)
        assert projection.pauses[2] == 0  # ended six times: more than max_deliver, batches and alone
        assert projection.order() == [1, 2, 3]
        assert runner.dead_lettered == 0 and store.open_count() == 0
    finally:
        projection.admin.dispose()
        engine.dispose()
        database.drop()
