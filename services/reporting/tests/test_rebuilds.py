"""Rebuilds that cannot lie: a consumer never applies across a rebuild, a replay is known until it
has reached each stream's end, and an offline rebuild refuses to run under a live service."""

from __future__ import annotations

import contextlib
import subprocess
import sys
import threading
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import func, select

from libs.platform.readmodels.heartbeat import Heartbeat, heartbeats
from libs.platform.readmodels.rebuilds import ProjectionRebuilt, ProjectionReplaying
from services.reporting.projections import ReportingProjection, consultations
from services.reporting.queries import consultation_report
from services.reporting.rebuild import ReportingIsRunning, rebuild
from services.reporting.tests.conftest import MINISTRY, TOKYO


def _consultations(engine) -> int:
    with engine.connect() as conn:
        return conn.execute(select(func.count()).select_from(consultations)).scalar_one()


def test_a_consumer_that_read_its_position_before_a_rebuild_applies_nothing_after_it_and_starts_again(
        feed, engine):
    case = feed.case(feed.centre(TOKYO))
    late = feed.consultation(case, "2016-06-01T10:00:00+09:00")
    live = ReportingProjection(engine)  # the running service's, reading its position as a consumer does
    assert live.position("INTAKE") == 3
    ReportingProjection(engine).rebuild(by="another process")
    with pytest.raises(ProjectionRebuilt):  # what it fetched before the rebuild is never applied after it
        live.apply(late, "INTAKE", 4)
    assert _consultations(engine) == 0
    with pytest.raises(ProjectionRebuilt):  # its next read tells the runner to start again...
        live.position("INTAKE")
    assert live.position("INTAKE") == 0  # ...from the start of the stream
    for position, (stream, envelope) in enumerate(feed.log, start=1):
        live.apply(envelope, stream, position)
    assert _consultations(engine) == 1


def test_a_rebuild_committing_while_a_batch_checks_its_generation_never_lets_the_batch_into_the_emptied_tables(
        feed, engine):
    """The fence's generation read and the batch's writes are one transaction. On SQLite pysqlite sent
    the read before its BEGIN: a rebuild committed between the two let the batch write into the
    emptied tables with its position, and the replay started after it (test_attack_rebuild_under_load
    counted 0 of 60). Now the rebuild waits for the batch, or the batch is fenced."""
    case = feed.case(feed.centre(TOKYO))
    late = feed.consultation(case, "2016-06-01T10:00:00+09:00")
    live, other = ReportingProjection(engine), ReportingProjection(engine)
    assert live.position("INTAKE") == 3
    read, rebuilds = live._generation, list[threading.Thread]()

    def generation(conn, *, lock: bool = False) -> int:
        found = read(conn, lock=lock)
        if lock and not rebuilds:  # another process rebuilds right after the batch's check
            rebuilds.append(threading.Thread(target=other.rebuild, kwargs={"by": "another process"}))
            rebuilds[0].start()
            rebuilds[0].join(1.0)  # done at once when nothing holds it off
        return found

    live._generation = generation  # type: ignore[method-assign]
    with contextlib.suppress(ProjectionRebuilt):  # fenced, or applied before the rebuild: both fine
        live.apply(late, "INTAKE", 4)
    rebuilds[0].join(30)
    assert not rebuilds[0].is_alive()
    assert _consultations(engine) == 0 and other.position("INTAKE") == 0


def test_a_rebuild_is_a_replay_until_every_stream_reached_its_end_as_it_was_when_it_began(feed, projection):
    case = feed.case(feed.centre(TOKYO))
    feed.consultation(case, "2016-06-01T10:00:00+09:00")
    feed.registered(TOKYO, "2016-05-01", "2019-03-31")
    assert not projection.replay_state().replaying
    projection.rebuild(by="operator@mhlw")
    state = projection.replay_state()
    assert state.replaying and state.targets is None and state.started_by == "operator@mhlw"
    projection.record_targets(state.generation, {"INTAKE": 3, "REGISTRY": 1, "DISPATCH": 0})
    intake = [e for s, e in feed.log if s == "INTAKE"]
    projection.position("INTAKE")
    projection.apply_batch(intake[:2], "INTAKE", 2)
    state = projection.replay_state()
    assert state.replaying
    assert {s["stream"]: (s["position"], s["target"], s["remaining"]) for s in state.streams()} == {
        "DISPATCH": (0, 0, 0), "INTAKE": (2, 3, 1), "REGISTRY": (0, 1, 1)}
    projection.apply(intake[2], "INTAKE", 3)
    projection.apply(next(e for s, e in feed.log if s == "REGISTRY"), "REGISTRY", 1)
    assert not projection.replay_state().replaying
    projection.finish(state.generation)
    assert projection.replay_state().public()["state"] == "done"


def test_targets_read_for_an_older_rebuild_are_not_taken_for_a_newer_one(projection):
    first = projection.rebuild(by="a")
    projection.rebuild(by="b")
    projection.record_targets(first, {"INTAKE": 0})
    assert projection.replay_state().targets is None


def test_read_models_with_no_position_at_start_replay_the_streams_and_others_do_not(feed, projection):
    assert projection.replay_if_empty(by="start")
    assert projection.replay_state().replaying
    feed.centre(TOKYO)
    projection.record_targets(projection.replay_state().generation, {"INTAKE": 1})
    assert not projection.replay_state().replaying
    assert not projection.replay_if_empty(by="start")


def test_the_problem_of_a_replay_says_how_far_it_is_and_when_to_ask_again(feed, projection):
    feed.centre(TOKYO)
    projection.rebuild(by="operator")
    state = projection.replay_state()
    projection.record_targets(state.generation, {"INTAKE": 1})
    problem = ProjectionReplaying(projection.replay_state())
    assert problem.status == 503 and problem.problem == "projection-replaying"
    assert problem.headers["Retry-After"] == "5"  # no progress yet: nothing to estimate from
    replay = problem.extensions["replay"]
    assert isinstance(replay, dict) and replay["streams"] == [
        {"stream": "INTAKE", "position": 0, "target": 1, "remaining": 1}]
    assert "INTAKE 0/1" in problem.detail


def test_an_offline_rebuild_refuses_while_reporting_beats_and_runs_once_it_stopped(feed, engine):
    feed.consultation(feed.case(feed.centre(TOKYO)), "2016-06-01T10:00:00+09:00")
    running = Heartbeat(engine, "reporting")
    running.beat()
    with pytest.raises(ReportingIsRunning, match="tsunagu rebuild"):
        rebuild(engine)
    assert consultation_report(engine, MINISTRY, 2016)["total"] == 1  # untouched
    running.stop()
    rebuild(engine)
    assert consultation_report(engine, MINISTRY, 2016)["total"] == 0


def test_a_heartbeat_that_stopped_long_ago_or_of_a_process_that_died_here_does_not_block_a_rebuild(engine):
    silent = Heartbeat(engine, "reporting")
    silent.beat()
    with engine.begin() as conn:
        conn.execute(heartbeats.update().values(beat_at=datetime.now(UTC) - timedelta(minutes=5)))
    rebuild(engine)
    crashed = Heartbeat(engine, "reporting")
    crashed.beat()
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    with engine.begin() as conn:
        conn.execute(heartbeats.update().where(heartbeats.c.instance == crashed.instance).values(pid=dead.pid))
    rebuild(engine)
