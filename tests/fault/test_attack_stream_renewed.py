"""attack9: a stream deleted and created again under a running consumer (the documented way back
from lost messages: the relay sends its whole log again, numbered from 1 without the old stream's
foreign messages) is not followed silently from the old position: the new stream put later events
at sequences up to it, and reporting never counted 5 of the 8 consultations recorded after the
rebuild while it said ready (once the foreign messages' dead letters were resolved). The consumer
keeps the stream it read and dead-letters its position when the stream is another: unready until
an operator rebuilds its read model and resolves it (messaging/stream_renewed.py)."""

from __future__ import annotations

import pytest

from tests.e2e.test_consultation_slice import PREF
from tests.fault.test_attack_stream_gaps import _rebuilt, _started
from tests.fault.test_readiness import _consult
from tests.fault.test_relay_order import _foreign
from tests.harness import eventually, provision_streams

pytestmark = pytest.mark.fault


def _total(reporting) -> int:
    with reporting.client(role="prefecture_officer", org=PREF) as pref:
        return pref.get("/v1/reports/consultations", params={"fy": 2016}).json()["total"]


def _dead_letters(reporting) -> list[str]:
    return [d["reason"] for d in reporting.runtime.dead_letters.listed(open_only=True)]


def test_a_stream_created_anew_under_a_consumer_is_an_open_dead_letter_not_skipped_events(
        nats_server, start_service):
    intake, centre_id, case_id = _started(nats_server, start_service, 3)
    provision_streams(nats_server.url, "registry", "dispatch")
    reporting = start_service("reporting", nats_server.url)
    _foreign(nats_server.url, 5)  # the old stream's numbering runs 5 ahead of the log's
    _consult(intake, centre_id, case_id, 2)
    assert eventually(lambda: _total(reporting) == 5 and len(_dead_letters(reporting)) == 5, timeout=30)
    _rebuilt(nats_server.url)
    _consult(intake, centre_id, case_id, 8)
    assert eventually(lambda: [r for r in _dead_letters(reporting) if "created anew" in r], timeout=30)
