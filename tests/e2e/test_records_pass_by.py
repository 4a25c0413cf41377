"""A log follower's projection counts an event once (`projected_events`) only when projecting it
changes something (issue 15): the privacy records pass most events by (a consultation recorded is
no provision, receipt or consent), and a round of theirs then only moves their position."""

from __future__ import annotations

from sqlalchemy import select

from tests.e2e.test_consultation_slice import _setup_case
from tests.e2e.test_intake_flow import _agency
from tests.fault.test_pipeline_faults import _consult
from tests.harness import eventually


def test_the_privacy_records_count_only_the_events_they_change_something_for(nats_server, start_service):
    intake = start_service("intake", nats_server.url)
    runtime = intake.runtime
    centre_id, case_id = _setup_case(intake)
    _consult(intake, centre_id, case_id, 3)
    agency = _agency(intake, "ハローワーク飯田橋", "hello_work")
    with intake.client(role="centre_staff", org=centre_id) as staff:  # a consent: the privacy records keep it
        staff.post(f"/v1/cases/{case_id}/share-consents", json={
            "agency_ids": [agency], "items": ["name"], "explained_on": "2016-06-01",
            "consent_text_version": "v"}).raise_for_status()
    end = runtime.relay.reader.max_position()
    eventually(lambda: all(f.handler.position(f.stream) == end for f in runtime.followers))

    envelopes = runtime.relay.reader.read(0, end)
    records = next(f.handler for f in runtime.followers if f.handler.name == "privacy-records")
    read = next(f.handler for f in runtime.followers if f.handler.name == "intake-read")
    seen = records.seen
    with runtime.engine.connect() as conn:
        counted = {(r.projection, r.event_id) for r in conn.execute(select(seen.c.projection, seen.c.event_id))}
    consultations = [e for e in envelopes if e.type.startswith("jp.tsunagu.intake.ConsultationRecorded")]
    assert len(consultations) == 3
    for e in consultations:  # projected by the workload read model, passed by by the privacy records
        assert (read.name, e.id) in counted and (records.name, e.id) not in counted
        assert not records.changes(e)
    # What the privacy records do change something for is still counted once.
    changed = {e.id for e in envelopes if records.changes(e)}
    assert changed and changed == {i for p, i in counted if p == records.name}
