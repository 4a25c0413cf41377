"""A consultation import (POST /v1/consultation-imports) records below the aggregate machinery
(services/intake/domain/consultations.py: Case.record_consultations), so it is checked here against
the commands it replaces: the same consultations recorded one POST at a time, on cases of the same
centre, must leave the same stored events, ledger rows, published messages and hash chain, and
cases whose versions and state let later commands run as after single commands."""

from __future__ import annotations

from typing import Any

from sqlalchemy import select

from libs.platform.messaging.cloudevents import Envelope
from tests.e2e.test_consultation_slice import _setup_case
from tests.harness import assert_stream_is_the_log_once, eventually, log_positions, published

SEALED_OR_IDS = {"consultation_id", "summary", "timestamp", "originator_id"}


def _open_case(intake: Any, centre_id: str) -> str:
    with intake.client(role="centre_staff", org=centre_id) as staff:
        r = staff.post("/v1/cases", json={"centre_id": centre_id, "client_kind": "person", "age_group": "adult"})
        assert r.status_code == 201, r.text
        return str(r.json()["id"])


def _items(case_ids: list[str]) -> list[dict[str, Any]]:
    """Consultations of several cases, interleaved, some without a summary."""
    return [{"case_id": case_ids[n % len(case_ids)], "channel": ("phone", "visit", "email")[n % 3],
             "consulted_by": ("person", "family")[n % 2], "occurred_at": f"2016-07-{1 + n:02d}T10:00:00+09:00",
             "summary": f"移行記録 {n}" if n % 4 else None} for n in range(18)]


def _stored(app: Any, case_id: str) -> list[tuple[str, int, dict[str, Any]]]:
    """Each stored event of the case: its topic, version and decoded state, ids and time left out
    and the sealed summary opened."""
    out = []
    for stored in app.recorder.select_events(case_id):
        state = app.mapper.transcoder.decode(stored.state)
        summary = state.get("summary")
        state = {k: v for k, v in state.items() if k not in SEALED_OR_IDS}
        state["summary"] = app.sealer.open(summary) if summary else None
        out.append((stored.topic, stored.originator_version, state))
    return out


def _ledger(app: Any, case_id: str) -> list[tuple[str, int, bool, bool, str]]:
    """The case's creations-ledger rows: kind, version, whether they hold a key and a request digest,
    and whether the resource is the consultation its event at that version recorded."""
    created = {e.originator_version: str(e.consultation_id) for e in app.events.get(case_id)
               if type(e).__name__ == "ConsultationRecorded"}
    table = app.recorder.creations
    with app.recorder.datastore.engine.connect() as conn:
        rows = conn.execute(select(table).where(table.c.aggregate_id == case_id)).mappings().all()
    return sorted((r["kind"], r["version"], r["key_digest"] is not None, r["request_digest"] is not None,
                   "its event" if created.get(r["version"]) == r["resource_id"] else "another")
                  for r in rows if r["kind"] == "consultation")


def _message(envelope: Envelope, case_id: str) -> tuple[Any, ...]:
    data = {k: v for k, v in envelope.data.items() if k not in SEALED_OR_IDS}
    return envelope.type, envelope.subject == case_id, envelope.tenant, data, envelope.data.get("summary") is None


def test_an_import_stores_publishes_and_chains_what_as_many_single_commands_would(nats_server, start_service):
    intake = start_service("intake", nats_server.url)
    centre_id, _ = _setup_case(intake)
    imported = [_open_case(intake, centre_id) for _ in range(3)]
    single = [_open_case(intake, centre_id) for _ in range(3)]
    with intake.client(role="centre_staff", org=centre_id) as staff:
        r = staff.post("/v1/consultation-imports", json={"consultations": _items(imported)},
                       headers={"Idempotency-Key": "history"})
        assert r.status_code == 201, r.text
        for n, item in enumerate(_items(single)):
            body = {k: v for k, v in item.items() if k != "case_id" and v is not None}
            r = staff.post(f"/v1/cases/{item['case_id']}/consultations", json=body,
                           headers={"Idempotency-Key": f"one-{n}"})
            assert r.status_code == 201, r.text
    app = intake.runtime.application
    for a, b in zip(imported, single, strict=True):
        assert _stored(app, a) == _stored(app, b)
        assert _ledger(app, a) == _ledger(app, b)
        assert len(_ledger(app, a)) == 6
        assert app.repository.get(a).version == app.repository.get(b).version == 7
    everything = len(log_positions(intake))
    eventually(lambda: len(published(intake, nats_server.url)) == everything)
    envelopes = assert_stream_is_the_log_once(intake, nats_server.url)  # each once, in order, chained
    for a, b in zip(imported, single, strict=True):
        assert [_message(e, a) for e in envelopes if e.subject == a] == \
            [_message(e, b) for e in envelopes if e.subject == b]
    with intake.client(role="auditor", org="000000") as auditor:
        eventually(lambda: auditor.get("/v1/audit/verify").json()["relay_position"] == log_positions(intake)[-1])
        verdict = auditor.get("/v1/audit/verify").json()
        assert verdict["verified"], verdict
    with intake.client(role="centre_staff", org=centre_id) as staff:  # a later command, If-Match the version
        r = staff.post(f"/v1/cases/{imported[0]}/consultations", headers={"If-Match": '"7"'},
                       json={"channel": "phone", "occurred_at": "2016-08-01T10:00:00+09:00"})
        assert r.status_code == 201, r.text
