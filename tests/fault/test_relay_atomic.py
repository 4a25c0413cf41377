"""The relay's batches are JetStream atomic batches (messaging/relay_order.py): a server that takes
smaller ones than the relay sends (jetstream.limits.batch.max_msgs) refuses each whole, and the
relay sends smaller ones from then on."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from libs.platform.tools.natsserver import EmbeddedNats
from tests.e2e.test_consultation_slice import _setup_case
from tests.fault.test_pipeline_faults import _consult
from tests.fault.test_relay_in_flight import _gated
from tests.harness import assert_stream_is_the_log_once, eventually

pytestmark = pytest.mark.fault


@pytest.fixture
def small_batches(tmp_path: Path) -> Iterator[EmbeddedNats]:
    server = EmbeddedNats(tmp_path / "nats", max_batch=4)
    server.start()
    yield server
    server.stop()


def test_a_server_taking_smaller_atomic_batches_makes_the_relays_batches_smaller(small_batches, start_service,
                                                                                  caplog):
    intake = start_service("intake", small_batches.url)
    relay = intake.runtime.relay
    centre_id, case_id = _setup_case(intake)
    eventually(lambda: relay.lag() == 0)
    gate = _gated(relay)
    _consult(intake, centre_id, case_id, 9)  # one batch of 9 waits
    gate.set()
    eventually(lambda: relay.lag() == 0, timeout=30)
    assert relay.batch_size == 4
    assert any("too large: 4" in r.getMessage() for r in caplog.records), "no batch was refused as too large"
    assert_stream_is_the_log_once(intake, small_batches.url)
