"""A loop blocked inside a round (a statement waiting on a lock, a driver call that never returns)
neither observes nor fails: with lag 0 it looked fine for ever. A round that runs for the stall time
without the position moving is stuck; and what a loop's failure says never holds a statement's values."""

from __future__ import annotations

from pathlib import Path

import pytest
from sqlalchemy import text
from sqlalchemy.exc import StatementError

from libs.platform import health
from libs.platform.health import LoopHealth
from libs.platform.privacy.sealing import Sealer
from libs.platform.store.db import eventsourcing_env, make_engine
from libs.platform.web.metrics import LoopCollector
from services.intake.application import IntakeApplication
from tests.harness import Database

SECRET = "山田花子 090-1234-5678"


@pytest.fixture
def clock(monkeypatch):
    now = [1000.0]
    monkeypatch.setattr(health.time, "monotonic", lambda: now[0])
    return now


def test_a_round_that_runs_past_the_stall_time_without_progress_is_stuck_though_the_lag_is_0(clock):
    loop = LoopHealth("follower", "intake-read", stream="intake")
    loop.observe(5, 5)
    loop.succeeded()
    with loop.round():
        clock[0] += 59
        assert loop.problem(stall_seconds=60, max_failures=10) is None
        clock[0] += 2
        report = loop.report(stall_seconds=60, max_failures=10)
        assert (report["lag"], report["state"], report["seconds_in_round"]) == (0, "stuck", 61.0)
        assert "a round has run for 61 s without progress (at position 5)" == report["problem"]
    assert loop.problem(stall_seconds=60, max_failures=10) is None  # the round ended
    assert loop.report(stall_seconds=60, max_failures=10)["seconds_in_round"] == 0


def test_a_long_round_whose_position_moves_is_not_stuck(clock):
    loop = LoopHealth("consumer", "reporting-intake", stream="INTAKE")
    loop.observe(0, 0)
    with loop.round():
        for position in range(100, 1000, 100):  # a one-by-one buffer shows its progress as it goes
            clock[0] += 30
            loop.observe(position, position)
            assert loop.problem(stall_seconds=60, max_failures=10) is None
        clock[0] += 61
        assert "a round has run for 61 s" in (loop.problem(stall_seconds=60, max_failures=10) or "")


def test_a_round_that_fails_ends_and_the_metrics_show_how_long_the_round_under_way_has_run(clock):
    loop = LoopHealth("relay", "INTAKE", stream="INTAKE")
    loop.observe(3, 3)
    with pytest.raises(RuntimeError), loop.round():
        clock[0] += 100
        raise RuntimeError("boom")
    assert loop.seconds_in_round() == 0
    with loop.round():
        clock[0] += 7
        collector = LoopCollector("intake", lambda: [loop], lambda: 0, lambda _: False)
        samples = {m.name: s.value for m in collector.collect() for s in m.samples if s.labels.get("name") == "INTAKE"}
        assert samples["tsunagu_loop_round_seconds"] == 7


def test_a_jobs_long_round_is_judged_by_its_period(clock):
    loop = LoopHealth("job", "end-retention", period=3600)
    loop.observe(1, handled=1)  # a round ended
    loop.succeeded()
    with loop.round():
        clock[0] += 600  # a long sweep
        assert loop.problem(stall_seconds=60, max_failures=10) is None
        assert loop.seconds_in_round() == 600
        clock[0] += 3100
        assert "no round ended for 3700 s" in (loop.problem(stall_seconds=60, max_failures=10) or "")


def _failed_insert(engine) -> StatementError:
    with engine.begin() as conn:
        conn.execute(text("CREATE TABLE IF NOT EXISTS t_hidden (k TEXT PRIMARY KEY)"))
        conn.execute(text("DELETE FROM t_hidden"))
        conn.execute(text("INSERT INTO t_hidden (k) VALUES (:k)"), {"k": "first"})
    with pytest.raises(StatementError) as failed, engine.begin() as conn:
        conn.execute(text("INSERT INTO t_hidden (k) VALUES (:k), (:other)"), {"k": SECRET, "other": "first"})
    with engine.begin() as conn:
        conn.execute(text("DROP TABLE t_hidden"))
    return failed.value


def test_an_error_of_the_services_engines_never_holds_a_statements_values(tmp_path: Path):
    """A loop logs its failure and shows it in /readyz: the values (personal information, sealed or
    not) stay out of both, in the service's engine and in the event store's own."""
    settings = Database(tmp_path).settings("intake", "nats://127.0.0.1:1")
    engine = make_engine(settings)
    app = IntakeApplication(eventsourcing_env(settings), Sealer(engine, b"k" * 32))
    try:
        for each in (engine, app.factory.datastore.engine):  # type: ignore[attr-defined]
            message = str(_failed_insert(each))
            assert "INSERT INTO t_hidden" in message and "parameters hidden" in message
            assert SECRET not in message and "first" not in message
    finally:
        app.close()
        engine.dispose()
