"""A failure reading the batch after a fully acknowledged one does not undo that batch's record
(found by review of merge-s26: the batch read ahead failing dropped the batch before it, whose
PubAcks had all come, so the relay published it again and again and stalled one batch early)."""
import threading

import pytest

from tests.e2e.test_consultation_slice import _setup_case
from tests.fault.test_pipeline_faults import _consult
from tests.harness import eventually, log_positions

pytestmark = pytest.mark.fault


def test_a_batch_whose_pubacks_all_came_is_recorded_though_reading_the_next_one_fails(nats_server, start_service):
    intake = start_service("intake", nats_server.url)
    relay = intake.runtime.relay
    centre_id, case_id = _setup_case(intake)
    eventually(lambda: relay.lag() == 0)
    relay.batch_size = 3
    gate, prepared = threading.Event(), relay._prepared

    def held(*args):
        gate.wait(30)
        return prepared(*args)

    relay._prepared = held
    _consult(intake, centre_id, case_id, 9)
    positions = log_positions(intake)
    poison = positions[4]  # the read of the second batch (after the first one's end) always fails
    read = relay.outbox.read

    def failing(conn, after, chainhash, limit):
        if after == poison:
            raise RuntimeError("the second batch cannot be read")
        return read(conn, after, chainhash, limit)

    relay.outbox.read = failing
    gate.set()
    eventually(lambda: relay.health.failures >= 3)
    assert relay.position()[0] == poison  # the first batch, acknowledged, is recorded
