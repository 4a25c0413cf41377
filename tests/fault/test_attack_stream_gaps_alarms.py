"""Attack (h-attack5 on merge-s31): no false alarm from the relay's lost-message flag
(messaging/stream_gaps.py): a healthy system made unready leaves the load balancer whole. Real
nats-server (the wheel's) and the real store, a steady command load where it matters:

- nats-server stopped (SIGTERM) and killed (SIGKILL) and started again, twice each, under load,
  and killed four times while the relay drains a backlog of imports in batches of 40;
- the relay "killed" between PubAck and record (its round fails after the PubAck) ten times under load;
- another publisher's messages on the stream (relay_order.FOREIGN_DEPTH) deleted by an operator,
  in the middle and at the end;
- the stream rebuilt from the store (deleted, the worker restarted: deploy/README.md) after it
  lost an event and held foreign messages.
After each, once caught up, the relay has looked again, /readyz is ready and missing is 0.
One BROKE on merge-s31: the stream deleted and created again while the relay runs (by an operator,
or by another replica's relay on its tenure) after it held foreign messages: the relay kept the
old stream's highest PubAck (12) and flagged the new stream, which holds the whole log (8), as
"missing 4 messages" until the process restarted (fixed: a stream whose `created` changed is a new
one, stream_gaps.py). The rest held."""

from __future__ import annotations

import signal
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager

import pytest

from libs.platform.messaging.cloudevents import Envelope
from tests.fault.test_attack_relay_kills import _kill_and_restart, _killed_with_two_batches_in_flight
from tests.fault.test_attack_stream_gaps import _last_seq, _missing, _rebuilt, _started
from tests.fault.test_pipeline_faults import _consult, relay_killed_after_publish
from tests.fault.test_readiness import _ready
from tests.fault.test_relay_gaps import _checked_again
from tests.fault.test_relay_order import _delete, _foreign, _on_stream
from tests.harness import assert_stream_is_the_log_once, eventually, log_positions, stream_messages

pytestmark = pytest.mark.fault


@contextmanager
def _steady_load(intake, centre_id: str, case_id: str) -> Iterator[list[int]]:
    """Consultations recorded one after another meanwhile (the store takes them with NATS down)."""
    stop, done = threading.Event(), [0]

    def load() -> None:
        while not stop.is_set():
            _consult(intake, centre_id, case_id, 1)
            done[0] += 1

    loader = threading.Thread(target=load)
    loader.start()
    try:
        yield done
    finally:
        stop.set()
        loader.join()


def _no_alarm(intake) -> None:
    relay = intake.runtime.relay
    relay.gap_seconds = 0.3
    eventually(lambda: relay.lag() == 0, timeout=60)
    _checked_again(relay)
    assert relay.health.missing == 0, relay.health.missing_reason
    _ready(intake, "relay_lag")


def _relay_positions(nats_url: str) -> list[int]:
    return [Envelope.from_json(m.data).sequence for m in stream_messages(nats_url, "INTAKE")
            if (m.headers or {}).get("Nats-Msg-Id")]


def test_nats_server_stopped_and_killed_under_load_raises_no_alarm(nats_server, start_service):
    intake, centre_id, case_id = _started(nats_server, start_service, 2)
    with _steady_load(intake, centre_id, case_id) as done:
        for how in (signal.SIGTERM, signal.SIGKILL, signal.SIGTERM, signal.SIGKILL):
            eventually(lambda before=done[0]: done[0] >= before + 3, timeout=30)
            proc = nats_server.proc
            proc.send_signal(how)
            proc.wait(timeout=10)
            nats_server.proc = None
            time.sleep(0.5)
            nats_server.start()
        eventually(lambda before=done[0]: done[0] >= before + 3, timeout=30)
    _no_alarm(intake)
    assert _relay_positions(nats_server.url) == log_positions(intake)


def test_a_relay_killed_between_puback_and_record_ten_times_under_load_raises_no_alarm(nats_server, start_service):
    intake, centre_id, case_id = _started(nats_server, start_service, 2)
    relay = intake.runtime.relay
    crashes = relay_killed_after_publish(relay, times=10)
    with _steady_load(intake, centre_id, case_id):
        eventually(lambda: len(crashes) == 10, timeout=60)
    _no_alarm(intake)
    intake.stop()  # a new process compares the stream with a record left behind it
    intake.start()
    _no_alarm(intake)
    assert _relay_positions(nats_server.url) == log_positions(intake)


@pytest.mark.parametrize("where", ["in the middle", "at the end"])
def test_foreign_messages_an_operator_deleted_raise_no_alarm(nats_server, start_service, where):
    intake, centre_id, case_id = _started(nats_server, start_service, 2)
    foreign = _foreign(nats_server.url, 3)
    if where == "in the middle":
        _consult(intake, centre_id, case_id, 2)
        eventually(lambda: intake.runtime.relay.lag() == 0)
    _delete(nats_server.url, foreign)
    _no_alarm(intake)
    _consult(intake, centre_id, case_id, 1)
    _no_alarm(intake)


def test_a_stream_rebuilt_from_the_store_after_a_loss_raises_no_alarm(nats_server, start_service):
    intake, centre_id, case_id = _started(nats_server, start_service, 3)
    _foreign(nats_server.url, 5)  # the old stream reaches further than the log: no PubAck may outlive it
    _consult(intake, centre_id, case_id, 2)
    eventually(lambda: intake.runtime.relay.lag() == 0)
    _delete(nats_server.url, [_last_seq(nats_server.url) - 1])
    _missing(intake, 1)

    async def drop(js) -> None:
        await js.delete_stream("INTAKE")

    _on_stream(nats_server.url, drop)
    intake.stop()
    intake.start()
    _no_alarm(intake)
    assert _relay_positions(nats_server.url) == log_positions(intake)
    _consult(intake, centre_id, case_id, 1)
    _no_alarm(intake)
    assert _relay_positions(nats_server.url) == log_positions(intake)


def test_a_stream_deleted_and_created_again_under_a_running_relay_raises_no_alarm(nats_server, start_service):
    """The worker not restarted: the stream created again by an operator (or by another replica's
    relay, which creates it on its tenure) while this relay runs."""
    intake, centre_id, case_id = _started(nats_server, start_service, 3)
    _foreign(nats_server.url, 5)  # the old stream reaches further than the log
    _consult(intake, centre_id, case_id, 2)
    eventually(lambda: intake.runtime.relay.lag() == 0)
    _rebuilt(nats_server.url)
    _consult(intake, centre_id, case_id, 1)
    eventually(lambda: _relay_positions(nats_server.url) == log_positions(intake), timeout=30)
    _no_alarm(intake)


def test_nats_server_killed_again_and_again_while_the_relay_drains_a_backlog_raises_no_alarm(
        nats_server, start_service):
    """Batches in flight when nats-server dies (what it had not written is lost with it, PubAcks
    the relay holds may reach past the restarted stream's end): the re-sent tail fills it again."""
    intake = start_service("intake", nats_server.url)
    relay = intake.runtime.relay
    relay.gap_seconds = 0.2
    _killed_with_two_batches_in_flight(nats_server, intake, "穴", "gaps")
    _kill_and_restart(nats_server, 3, 0.1)
    _no_alarm(intake)
    envelopes = assert_stream_is_the_log_once(intake, nats_server.url)
    assert len(envelopes) == len(log_positions(intake))
