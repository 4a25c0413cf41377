"""The relay keeps its position in memory while it runs (issue 15: reading it was a statement in
every round): it reads it when a run begins and after a failure (then from the stream itself,
`reconcile`), and a failure between publishing and recording still loses and duplicates nothing."""

from __future__ import annotations

import sys

import pytest

from tests.e2e.test_consultation_slice import _setup_case
from tests.fault.test_pipeline_faults import _assert_stream_is_the_log_once, _consult, relay_killed_after_publish
from tests.harness import eventually

pytestmark = pytest.mark.fault

ROUNDS = ("_prepared", "publish_batch", "_position_now")  # the rounds' reads of the position


def _spy_position(relay) -> list[str]:
    """Which of the relay's rounds read its position from the database."""
    reads: list[str] = []
    position = relay.position

    def spied(conn=None):
        caller = sys._getframe(1).f_code.co_name
        if caller in ROUNDS:
            reads.append(caller)
        return position(conn)

    relay.position = spied
    return reads


def test_a_running_relay_reads_its_position_only_after_a_failure(nats_server, start_service):
    intake = start_service("intake", nats_server.url)
    relay = intake.runtime.relay
    centre_id, case_id = _setup_case(intake)
    _consult(intake, centre_id, case_id, 1)
    eventually(lambda: relay.lag() == 0)
    reads = _spy_position(relay)
    _consult(intake, centre_id, case_id, 5)
    eventually(lambda: relay.lag() == 0)
    assert reads == []  # kept in memory: no round read it

    failures = relay_killed_after_publish(relay, times=1)
    _consult(intake, centre_id, case_id, 2)
    eventually(lambda: relay.lag() == 0 and failures)
    # After the failure the relay asked the stream (reconcile) and recorded where it ends: what
    # it keeps is what is recorded, and the stream is the log once.
    assert relay._recorded == relay.position()
    _assert_stream_is_the_log_once(intake, nats_server.url, 10)


def test_the_relay_s_rounds_are_spaced_less_than_the_followers_but_spaced(nats_server, start_service):
    """The relay's round is the first hop of every other service's lag: its rounds begin at most
    `relay_min_interval_seconds` apart (a commit after a quiet spell wakes it at once; a ring during
    a round runs the next round as soon as the spacing allows, with every commit made meanwhile),
    shorter than the log followers' `loop_min_interval_seconds` (issue 15: the 50 ms spacing was ~22 ms
    of the median end-to-end lag at 30 commits/s). Not none: a round per commit was a third of a
    sequential command's CPU spent beside the request (issue 15's profile; 20 ms halved the relay's
    rounds at 70 commits/s, and its statements per command went from 6.9 to 4.9)."""
    intake = start_service("intake", nats_server.url)
    settings, runtime = intake.runtime.settings, intake.runtime
    assert runtime.relay.wakeup.min_interval == settings.relay_min_interval_seconds
    assert 0 < settings.relay_min_interval_seconds < settings.loop_min_interval_seconds
    assert runtime.followers and all(f.wakeup.min_interval == settings.loop_min_interval_seconds > 0
                                     for f in runtime.followers)
