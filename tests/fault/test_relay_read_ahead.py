"""The relay reads the next batch while the PubAcks of a batch come back, and publishes it before
they are in (issue 15; tests/fault/test_relay_in_flight.py). When the batch before is then not
recorded, the one published after it is not recorded either: the relay starts again from the last
batch whose PubAcks all came, and the stream is still the log once, in order, chained."""

from __future__ import annotations

import pytest

from tests.e2e.test_consultation_slice import _setup_case
from tests.fault.test_pipeline_faults import (
    _assert_stream_is_the_log_once,
    _consult,
    _fy2016_total,
    relay_killed_after_publish,
)
from tests.harness import eventually

pytestmark = pytest.mark.fault


def test_a_relay_killed_with_a_batch_read_ahead_resends_from_its_position_and_duplicates_nothing(
        nats_server, start_service):
    intake = start_service("intake", nats_server.url)
    reporting = start_service("reporting", nats_server.url)
    relay = intake.runtime.relay
    relay.batch_size = 3  # a backlog of several full batches: each is followed by one read ahead
    kills = relay_killed_after_publish(relay)
    centre_id, case_id = _setup_case(intake)
    _consult(intake, centre_id, case_id, 10)  # 12 events in the log
    eventually(lambda: len(kills) >= 3)  # killed again and again with batches read ahead
    # After each failure the relay compared its record with the stream and recorded the batch whose
    # PubAcks had all come (the stream held the one after it too, unacknowledged: sent again, dropped
    # as duplicates): each batch killed once, in order.
    assert kills == sorted(set(kills))
    relay.after_publish = None
    eventually(lambda: relay.lag() == 0)
    _assert_stream_is_the_log_once(intake, nats_server.url, 12)
    assert eventually(lambda: _fy2016_total(reporting) == 10)
