"""A replay is one long backlog: it is stalled when its position stops moving, not while it advances."""

from __future__ import annotations

import pytest

from libs.platform import health
from libs.platform.health import LoopHealth
from libs.platform.web.metrics import LoopCollector


@pytest.fixture
def clock(monkeypatch):
    now = [1000.0]
    monkeypatch.setattr(health.time, "monotonic", lambda: now[0])
    return now


def test_a_replaying_loop_whose_position_moves_is_not_stalled_however_long_the_replay(clock):
    loop = LoopHealth("consumer", "reporting-intake", stream="INTAKE")
    loop.observe(0, 100_000)
    loop.replaying, loop.replay_target = True, 100_000
    for position in range(1_000, 50_000, 1_000):
        clock[0] += 2
        loop.observe(position, 100_000)
    assert loop.problem(stall_seconds=60, max_failures=10) is None  # 98 s into the replay, advancing
    report = loop.report(stall_seconds=60, max_failures=10)
    assert (report["replaying"], report["replay_target"], report["replay_remaining"]) == (True, 100_000, 51_000)
    clock[0] += 61
    loop.observe(49_000, 100_000)  # the same position again
    assert "has not shrunk" in (loop.problem(stall_seconds=60, max_failures=10) or "")


def test_a_loop_that_is_not_replaying_and_whose_lag_does_not_shrink_is_stuck_though_it_moves(clock):
    loop = LoopHealth("consumer", "reporting-intake", stream="INTAKE")
    loop.observe(0, 100_000)
    for position in range(1_000, 50_000, 1_000):  # it moves, but as much arrives as it handles
        clock[0] += 2
        loop.observe(position, 100_000 + position)
    assert loop.problem(stall_seconds=60, max_failures=10) is not None


def test_the_metrics_show_which_loop_replays_and_where_its_replay_ends():
    loop = LoopHealth("consumer", "reporting-intake", stream="INTAKE", replaying=True, replay_target=500)
    samples = {(m.name, s.labels.get("name")): s.value for m in
               LoopCollector("reporting", lambda: [loop], lambda: 0, lambda _: False).collect() for s in m.samples}
    assert samples[("tsunagu_loop_replaying", "reporting-intake")] == 1
    assert samples[("tsunagu_loop_replay_target", "reporting-intake")] == 500


def test_a_long_backlog_whose_lag_shrinks_is_not_stuck_and_one_that_stops_shrinking_is():
    import time as clock

    from libs.platform.health import LoopHealth

    loop = LoopHealth("consumer", "reporting-intake", stream="INTAKE")
    loop.observe(0, 50_000)
    for step in range(1, 4):  # works off 2,000 a round while 10 more arrive: far from the end
        clock.sleep(0.3)
        loop.observe(step * 2000, 50_000 + step * 10)
        assert loop.problem(stall_seconds=0.5, max_failures=10) is None
    clock.sleep(0.6)  # then nothing moves
    loop.observe(6000, 50_040)
    assert "has not shrunk" in (loop.problem(stall_seconds=0.5, max_failures=10) or "")


def test_a_loop_whose_last_round_failed_is_never_reported_caught_up_until_a_round_succeeds():
    """A consumer that cannot reach its stream (a leader election) still has the end of its last
    fetch: lag 0 then is a guess, not a fact (the soak's "CLAIMED QUIET")."""
    loop = LoopHealth("consumer", "dispatch-registry", stream="REGISTRY")
    loop.observe(39, 39)
    loop.failed("ServiceUnavailableError: nats: ServiceUnavailableError")
    report = loop.report(stall_seconds=60, max_failures=10)
    assert (report["lag"], report["state"]) == (0, "retrying")
    assert loop.problem(stall_seconds=60, max_failures=10) is None  # one failure: not unready for it
    loop.observe(39, 42)
    loop.succeeded()
    assert loop.report(stall_seconds=60, max_failures=10)["state"] == "ok"
