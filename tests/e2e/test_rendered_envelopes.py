"""The followers' read of the log takes the envelopes a save of this process rendered for its
outbox instead of decoding the same rows again (store/log.py LogReader._decoded, issue 15): the
same envelopes decoding gives, and a row that is not the one rendered at its position (another
aggregate, version or state: SQLite gives a rolled-back save's rowid to the next) is decoded."""

from __future__ import annotations

from dataclasses import replace
from typing import Any

from libs.platform.store.log import LogReader
from tests.e2e.test_consultation_slice import _setup_case


def _counting_decodes(app: Any) -> list[int]:
    decoded: list[int] = []
    plain = app.mapper.to_domain_event

    def to_domain_event(n: Any) -> Any:
        decoded.append(n.id)
        return plain(n)

    app.mapper.to_domain_event = to_domain_event
    return decoded


def test_the_followers_read_takes_what_the_saves_rendered_and_decodes_any_other_row(nats_server, start_service):
    intake = start_service("intake", nats_server.url)
    centre_id, case_id = _setup_case(intake)
    runtime = intake.runtime
    app, reader = runtime.application, runtime.followers[0].reader
    after = reader.max_position()
    with intake.client(role="centre_staff", org=centre_id) as staff:
        for summary in ("母親から電話相談", None):
            r = staff.post(f"/v1/cases/{case_id}/consultations", json={
                "channel": "phone", "occurred_at": "2016-05-01T10:00:00+09:00", "summary": summary})
            assert r.status_code == 201, r.text
    decoding = LogReader("intake", app)
    decoding._rendered = None  # decodes every row, as before
    expected = decoding.envelopes(decoding._select(after, 10))
    assert [e.sequence for e in expected] == list(range(after + 1, after + 3))
    decoded = _counting_decodes(app)
    assert reader.read(after, 10) == expected
    assert decoded == []  # each decoded again without: [after + 1, after + 2]

    # Another row at a position than the one rendered there: decoded.
    first = expected[0].sequence
    stored, envelope = app.rendered.get(first)
    app.rendered.put(first, ((stored[0], stored[1] + 1, *stored[2:]), replace(envelope, data={})))
    assert reader.read(after, 10) == expected
    assert decoded == [first]
