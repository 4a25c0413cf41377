"""Attack (h-attack5 on merge-s31): events gone from the relay's stream must never leave /readyz
ready (messaging/stream_gaps.py). Real nats-server (the wheel's) and the real store; the operator's
deletes and purges go through the JetStream API as `nats stream rmm/purge` would.

- the stream's first message deleted (no event before the hole: judged from GENESIS);
- a purge up to a sequence (`seq`) and one that keeps the last messages (`keep`);
- two adjacent events of different aggregates deleted (the chain is over the whole log, so the
  event after the hole never chains from the one before it);
- a message deleted in the middle while commands keep coming;
- a deleted message, then nats-server restarted (its duplicate window forgotten) and unreachable
  for a while: the flag stays all along, and comes back at once in a new relay.
Held on merge-s31, but for one: an event deleted from a stream created anew under the running
relay where the old stream's deleted foreign message had been (the last test: fixed)."""

from __future__ import annotations

import threading
import time

import pytest

from tests.e2e.test_consultation_import import _second_case
from tests.e2e.test_consultation_slice import _setup_case
from tests.fault.test_pipeline_faults import _consult
from tests.fault.test_readiness import _unready_because
from tests.fault.test_relay_gaps import _checked_again
from tests.fault.test_relay_order import _delete, _foreign, _on_stream
from tests.harness import eventually, log_positions, stream_messages

pytestmark = pytest.mark.fault


def _started(nats_server, start_service, events: int):
    intake = start_service("intake", nats_server.url)
    relay = intake.runtime.relay
    relay.gap_seconds = 0.3
    centre_id, case_id = _setup_case(intake)
    _consult(intake, centre_id, case_id, events)
    eventually(lambda: relay.lag() == 0)
    return intake, centre_id, case_id


def _missing(intake, count: int) -> None:
    noun = "messages" if count > 1 else "message"
    _unready_because(intake, f"stream INTAKE is missing {count} {noun}", "tsunagu audit verify --nats")
    relay = intake.runtime.relay
    _checked_again(relay)
    assert relay.health.missing == count, relay.health.missing_reason


def _purge(nats_url: str, **options) -> None:
    async def go(js) -> None:
        await js.purge_stream("INTAKE", **options)

    _on_stream(nats_url, go)


def _rebuilt(nats_url: str) -> None:
    """INTAKE deleted and created again with its settings, as an operator (or another replica's
    relay, which creates it) would, while this relay runs."""
    async def go(js) -> None:
        config = (await js.stream_info("INTAKE")).config
        await js.delete_stream("INTAKE")
        await js.add_stream(config)

    _on_stream(nats_url, go)


def _last_seq(nats_url: str) -> int:
    async def go(js) -> int:
        return (await js.stream_info("INTAKE")).state.last_seq

    return _on_stream(nats_url, go)


@pytest.mark.parametrize("what", ["the first message", "purge up to seq 4", "purge keeping 2",
                                  "two adjacent events of two cases"])
def test_events_deleted_or_purged_at_the_start_or_in_twos_are_flagged_with_their_count(
        nats_server, start_service, what):
    intake, centre_id, case_id = _started(nats_server, start_service, 3)
    other_case = _second_case(intake, centre_id) if what.startswith("two") else None
    if other_case:  # the log alternates between the two cases' events
        _consult(intake, centre_id, other_case, 1)
        _consult(intake, centre_id, case_id, 1)
        eventually(lambda: intake.runtime.relay.lag() == 0)
    held = len(stream_messages(nats_server.url, "INTAKE"))
    last = _last_seq(nats_server.url)
    if what == "the first message":
        _delete(nats_server.url, [1])
        lost = 1
    elif what == "purge up to seq 4":
        _purge(nats_server.url, seq=4)
        lost = 3
    elif what == "purge keeping 2":
        _purge(nats_server.url, keep=2)
        lost = held - 2
    else:
        _delete(nats_server.url, [last - 2, last - 1])
        lost = 2
    _missing(intake, lost)
    _consult(intake, centre_id, case_id, 1)  # published on after the loss: still flagged
    eventually(lambda: intake.runtime.relay.lag() == 0)
    _missing(intake, lost)


def test_a_message_deleted_in_the_middle_while_commands_keep_coming_is_flagged(nats_server, start_service):
    intake, centre_id, case_id = _started(nats_server, start_service, 3)
    stop = threading.Event()

    def load() -> None:
        while not stop.is_set():
            _consult(intake, centre_id, case_id, 1)

    loader = threading.Thread(target=load)
    loader.start()
    try:
        for _ in range(3):  # each delete lands while the relay publishes
            time.sleep(0.5)
            _delete(nats_server.url, [_last_seq(nats_server.url) - 1])
    finally:
        stop.set()
        loader.join()
    eventually(lambda: intake.runtime.relay.lag() == 0)
    _missing(intake, 3)


def test_a_deleted_event_stays_flagged_through_a_nats_restart_an_unreachable_stream_and_a_relay_restart(
        nats_server, start_service):
    intake, centre_id, case_id = _started(nats_server, start_service, 4)
    _delete(nats_server.url, [_last_seq(nats_server.url) - 1])
    _missing(intake, 1)
    nats_server.stop()  # the stream cannot be asked (the relay's rounds fail): the flag stays as it was
    relay = intake.runtime.relay
    eventually(lambda: relay.health.failures >= 3, timeout=30)
    assert relay.health.missing == 1
    _unready_because(intake, "stream INTAKE is missing 1 message")
    nats_server.start()  # its duplicate window is rebuilt from what it stores: the deleted id gone
    _consult(intake, centre_id, case_id, 2)
    eventually(lambda: relay.lag() == 0, timeout=30)
    _missing(intake, 1)
    intake.stop()
    intake.start()
    _missing(intake, 1)


def test_an_event_deleted_from_a_stream_created_anew_where_a_foreign_message_was_deleted_is_flagged(
        nats_server, start_service):
    """BROKE on merge-s31 (fixed, stream_gaps.py): the relay remembers each judged hole by its
    sequences, and a stream deleted and created again under it (its rebuild) reuses them: an event
    deleted where the old stream's foreign message had been was taken for the foreign one, and
    /readyz stayed ready."""
    intake, centre_id, case_id = _started(nats_server, start_service, 3)
    [seq] = _foreign(nats_server.url, 1)
    _consult(intake, centre_id, case_id, 2)
    eventually(lambda: intake.runtime.relay.lag() == 0)
    _delete(nats_server.url, [seq])  # the operator's way out of a foreign message: no loss
    relay = intake.runtime.relay
    _checked_again(relay)
    assert relay.health.missing == 0
    _rebuilt(nats_server.url)
    _consult(intake, centre_id, case_id, 1)
    eventually(lambda: len(stream_messages(nats_server.url, "INTAKE")) == len(log_positions(intake)), timeout=30)
    _delete(nats_server.url, [seq])  # now an event of the log
    _missing(intake, 1)


@pytest.mark.parametrize("event_hole", ["among the first MAX_HOLES", "past MAX_HOLES"])
def test_a_lost_event_among_more_holes_than_are_judged_one_by_one_is_flagged(nats_server, start_service, event_hole):
    """160 holes that held only foreign messages (deleted one by one) and one that held an event:
    the first MAX_HOLES (100) holes are judged, the others counted as lost (an operator must look
    anyway): the lost event is flagged wherever it lies."""
    intake, centre_id, case_id = _started(nats_server, start_service, 2)
    if event_hole == "among the first MAX_HOLES":
        _consult(intake, centre_id, case_id, 2)
        eventually(lambda: intake.runtime.relay.lag() == 0)
        event = _last_seq(nats_server.url) - 1
    foreign: list[int] = []
    for _ in range(8):  # an event and the one before it within FOREIGN_DEPTH (100): the relay looks past them
        foreign += _foreign(nats_server.url, 40)
        _consult(intake, centre_id, case_id, 1)
        eventually(lambda: intake.runtime.relay.lag() == 0)
    if event_hole == "past MAX_HOLES":
        event = _last_seq(nats_server.url) - 1
    _delete(nats_server.url, [*foreign[::2], event])
    # 160 foreign holes and the event's: those past the first 100 counted (61 with the event's, or
    # 61 foreign ones after the event's judged lost among the first 100).
    _missing(intake, 61 if event_hole == "past MAX_HOLES" else 62)
