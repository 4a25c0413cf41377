"""Attack (h-attack4): a log written by main's code (eventsourcing's JSONTranscoder: the one thing
about how events are encoded that the TopLevelTranscoder changed) read, extended and verified under
the new code. The service first writes with the library's transcoder (cases, consultations at odd
offsets and with microseconds, a snapshot's worth on one case, a void), then with its own
(imports onto the same cases, single consultations): every stored state is what either transcoder
writes for its decoded value, the stream is the log once, in order and chained, audit verify ok,
and each case takes a following If-Match command."""

from __future__ import annotations

from eventsourcing.persistence import JSONTranscoder

from tests.e2e.test_attack_import_mix import WHEN, _check_log, _follow_with_if_match
from tests.e2e.test_consultation_import import _item, _second_case
from tests.e2e.test_consultation_slice import _setup_case
from tests.harness import eventually, log_positions, published


def test_a_log_written_with_the_librarys_transcoder_reads_and_verifies_under_ours(nats_server, start_service):
    intake = start_service("intake", nats_server.url)
    app = intake.runtime.application
    ours = app.mapper.transcoder
    library = JSONTranscoder()
    app.register_transcodings(library)
    app.mapper.transcoder = library  # main's code
    try:
        centre_id, first = _setup_case(intake)
        cases = [first, _second_case(intake, centre_id)]
        with intake.client(role="centre_staff", org=centre_id) as staff:
            for k in range(55):  # past a snapshot (every 50 events) on the first case
                offset = ("-05:30", "+14:00", "Z", "+09:00")[k % 4]
                r = staff.post(f"/v1/cases/{cases[k % 5 == 0]}/consultations", json={
                    "channel": "phone", "occurred_at": f"2016-05-01T10:00:00.{k:06d}{offset}",
                    "summary": f"旧 {k} \u2028😀" if k % 2 else None})
                assert r.status_code == 201, r.text
            made = r.json()["id"]
            r = staff.post(f"/v1/cases/{cases[0]}/consultations/{made}/void",
                           json={"on": "2016-05-02", "reason": "duplicate_entry"})
            assert r.status_code in (200, 201), r.text
        old = log_positions(intake)
        eventually(lambda: len(published(intake, nats_server.url)) == len(old))
    finally:
        app.mapper.transcoder = ours
    with intake.client(role="centre_staff", org=centre_id) as staff:
        r = staff.post("/v1/consultation-imports", json={"consultations": [
            _item(cases[k % 2], WHEN, f"新 {k}") for k in range(30)]}, headers={"Idempotency-Key": "new"})
        assert r.status_code == 201, r.text
        r = staff.post(f"/v1/cases/{cases[1]}/consultations", json={"channel": "visit", "occurred_at": WHEN})
        assert r.status_code == 201, r.text
    for n in app.recorder.select_notifications(start=None, limit=100_000):
        assert ours.encode(ours.decode(n.state)) == n.state == library.encode(library.decode(n.state))
    _check_log(intake, nats_server.url, cases)
    _follow_with_if_match(intake, centre_id, cases)
