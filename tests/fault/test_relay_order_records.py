"""The review of h-order: a relay whose record stayed behind the stream (its PubAcks came, its record
did not) sent again from its record, and with the order header that re-send was refused for good
once it was no longer a duplicate: outside the duplicate window, or past a foreign message at the
stream's end. With the header every message was stored right after its predecessor, so the
stream's last event of this log proves the ones before it: the relay takes it as its position and
goes on (messaging/relay_order.py)."""

from __future__ import annotations

import threading
import time

import pytest

from tests.e2e.test_consultation_slice import _setup_case
from tests.fault.test_pipeline_faults import _consult
from tests.fault.test_relay_order import _foreign, _relay_messages, _window
from tests.harness import eventually, log_positions

pytestmark = pytest.mark.fault


def _record_lost_once(relay) -> tuple[threading.Event, list[int]]:
    """The relay's first batch gets all its PubAcks, then fails before its record (as a crash or a
    lost database answer would); its reads wait on the returned event until the test lets them go."""
    hold, failed = threading.Event(), []
    hold.set()
    read = relay._prepared

    def held(*args):
        hold.wait(30)
        return read(*args)

    def fail_once(last: int) -> None:
        if not failed:
            failed.append(last)
            hold.clear()
            raise RuntimeError("the PubAcks came, the record did not")

    relay._prepared, relay.after_publish = held, fail_once
    return hold, failed


def _acks_lost_once(relay) -> tuple[threading.Event, list[int]]:
    """The relay's first batch is stored but its PubAcks are given up on (a timeout far too short), so
    it does not know what the stream holds; its next read (sending again) waits on the returned event."""
    hold, failed = threading.Event(), []
    read, timeout = relay._prepared, relay.ack_timeout
    relay.ack_timeout = 1e-6

    def held(*args):
        if failed and relay.ack_timeout < timeout:  # the read after that batch failed: to send again
            relay.ack_timeout = timeout
            hold.wait(30)
            return read(*args)
        batch = read(*args)
        if batch.messages and relay.ack_timeout < timeout:
            failed.append(batch.last)  # the batch about to be published with PubAcks given up on
        return batch

    relay._prepared = held
    return hold, failed


def test_a_record_behind_the_stream_past_the_duplicate_window_takes_the_streams_end(nats_server, start_service):
    _window(nats_server.url, 1)
    intake = start_service("intake", nats_server.url)
    relay = intake.runtime.relay
    centre_id, case_id = _setup_case(intake)
    eventually(lambda: relay.lag() == 0)
    hold, failed = _acks_lost_once(relay)
    _consult(intake, centre_id, case_id, 3)
    eventually(lambda: failed and relay.ack_timeout > 1e-6)  # given up on, and reading to send again
    time.sleep(2.0)  # the duplicate window (1 s) passes: the state waited for is the clock's
    _consult(intake, centre_id, case_id, 2)
    hold.set()
    eventually(lambda: relay.lag() == 0, timeout=30)
    assert _relay_messages(nats_server.url) == log_positions(intake)


def test_a_record_behind_the_stream_and_a_foreign_message_after_it_takes_the_streams_last_event(
        nats_server, start_service):
    intake = start_service("intake", nats_server.url)
    relay = intake.runtime.relay
    centre_id, case_id = _setup_case(intake)
    eventually(lambda: relay.lag() == 0)
    hold, failed = _record_lost_once(relay)
    _consult(intake, centre_id, case_id, 3)
    eventually(lambda: failed)
    _foreign(nats_server.url, 1)
    _consult(intake, centre_id, case_id, 2)
    hold.set()
    eventually(lambda: relay.lag() == 0, timeout=30)
    assert _relay_messages(nats_server.url) == log_positions(intake)
