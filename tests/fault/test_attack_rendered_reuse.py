"""Attack (h-attack8) on the followers' reuse of what a save rendered (ServiceApplication.rendered,
store/log.py LogReader._decoded): a save refused after its outbox rendered its event (over the event
limit: 413) leaves that rendering at the position it would have taken; on SQLite the next save takes
the same position (the rolled-back rowid). Here the next save is an import, which the relay renders
(so nothing of this process overwrites the stale rendering). The followers' read must give what a
fresh read of the stored row gives."""

from __future__ import annotations

import pytest

from libs.platform.store.log import LogReader
from tests.e2e.test_consultation_import import _item
from tests.e2e.test_consultation_slice import _setup_case
from tests.harness import backend

pytestmark = pytest.mark.fault
WHEN = "2016-05-01T10:00:00+09:00"


def test_a_save_refused_after_rendering_then_an_import_at_its_position_is_read_as_stored(
        nats_server, start_service, monkeypatch):
    monkeypatch.setenv("TSUNAGU_MAX_EVENT_BYTES", "4096")
    intake = start_service("intake", nats_server.url)
    centre_id, case_id = _setup_case(intake)
    app, reader = intake.runtime.application, intake.runtime.followers[0].reader
    before = reader.max_position()
    with intake.client(role="centre_staff", org=centre_id) as staff:
        r = staff.post(f"/v1/cases/{case_id}/consultations", json={
            "channel": "phone", "occurred_at": WHEN, "summary": "相" * 3000})
        assert r.status_code == 413, r.text
        refused = [p for p in range(before + 1, before + 4) if app.rendered.get(p) is not None]
        assert refused, "the refused save rendered nothing: the attack did not happen"
        r = staff.post("/v1/consultation-imports", json={"consultations": [_item(case_id, WHEN, "移行した相談")]},
                       headers={"Idempotency-Key": "after the refused one"})
        assert r.status_code in (200, 201), r.text
    fresh = LogReader("intake", app)
    fresh._rendered = None  # decodes every row
    expected = fresh.envelopes(fresh._select(before, 10))
    if backend() == "sqlite":  # the import took the refused save's position (PostgreSQL leaves a gap)
        assert {e.sequence for e in expected} & set(refused)
    assert reader.read(before, 10) == expected
