"""A log follower's projection counts an event once (`projected_events`) only when projecting it
changes something (issue 15): the privacy records pass most events by (a consultation recorded is
no provision, receipt or consent), and a round of theirs then only moves their position; nor does it
write that position at once (readmodels/follower.py): a batch that changes nothing is no transaction."""

from __future__ import annotations

from typing import Any

import pytest
from sqlalchemy import Engine, select

from tests.e2e.test_consultation_slice import _setup_case
from tests.e2e.test_intake_flow import _agency
from tests.fault.test_pipeline_faults import _consult
from tests.harness import backend, eventually
from tests.statements import sent_statements


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


AN_HOUR = 3600.0


def _position_writes(engine: Engine, projection: str) -> Any:
    """Every write of `projection`'s position on `engine`: one per transaction its follower commits
    (each batch applied writes its effect and its position together)."""
    return sent_statements(engine, keep_sent=lambda statement, parameters: "projection_positions" in statement
                           and statement.split()[0].upper() in ("UPDATE", "INSERT") and projection in repr(parameters))


def test_the_privacy_records_write_no_transaction_for_commands_that_change_nothing_in_them(
        nats_server, start_service):
    intake = start_service("intake", nats_server.url)
    runtime = intake.runtime
    follower = next(f for f in runtime.followers if f.handler.name == "privacy-records")
    centre_id, case_id = _setup_case(intake)
    before = runtime.relay.reader.max_position()
    eventually(lambda: follower.handler.position(follower.stream) == before)  # recorded, at most a second later
    follower.record_seconds = AN_HOUR  # from now on only an effect or the stop records its position

    with _position_writes(runtime.engine, follower.handler.name) as writes:
        _consult(intake, centre_id, case_id, 20)
        end = runtime.relay.reader.max_position()
        read = next(f for f in runtime.followers if f.handler.name == "intake-read")
        eventually(lambda: follower.position() == end and read.handler.position(read.stream) == end)
        assert writes == []  # 20 commands, nothing for the privacy records: no transaction of theirs
        assert follower.handler.position(follower.stream) == before < end  # recorded behind, harmless
        assert follower.lag() == 0 and follower.health.position == end  # readiness shows where it is

        agency = _agency(intake, "ハローワーク飯田橋", "hello_work")
        with intake.client(role="centre_staff", org=centre_id) as staff:  # a consent: an effect
            staff.post(f"/v1/cases/{case_id}/share-consents", json={
                "agency_ids": [agency], "items": ["name"], "explained_on": "2016-06-01",
                "consent_text_version": "v"}).raise_for_status()
        end = runtime.relay.reader.max_position()
        eventually(lambda: follower.handler.position(follower.stream) == end)
        assert len(writes) == 1  # the effect and the position past the 20 passed by, in one transaction

        _consult(intake, centre_id, case_id, 3)
        end = runtime.relay.reader.max_position()
        eventually(lambda: follower.position() == end)
        assert len(writes) == 1
        intake.stop()  # the run records what it passed by as it stops
    assert follower.handler.position(follower.stream) == end
    assert len(writes) == 2


@pytest.mark.skipif(backend() != "postgresql", reason="replicas need PostgreSQL")
def test_a_replica_standing_by_reads_its_writes_although_the_holder_recorded_no_position_for_them(
        nats_server, start_service):
    """A web-only replica's read waits until the worker's read models reach the log (Runtime.catch_up):
    the privacy records' recorded position stays behind the consultations they passed by, and the
    wait takes that as caught up (the events after it change nothing there), not as a read model behind."""
    worker = start_service("intake", nats_server.url, replicas=2, lease_seconds=1.0)
    web = start_service("intake", nats_server.url, replicas=2, lease_seconds=1.0, background=False)
    follower = next(f for f in worker.runtime.followers if f.handler.name == "privacy-records")
    centre_id, case_id = _setup_case(web)
    before = web.runtime.relay.reader.max_position()
    eventually(lambda: follower.handler.position(follower.stream) == before)
    follower.record_seconds = AN_HOUR
    _consult(web, centre_id, case_id, 3)
    with web.client(role="centre_staff", org=centre_id) as staff:
        r = staff.get(f"/v1/centres/{centre_id}/workload", params={"fy": 2016})
    assert r.status_code == 200, r.text
    assert r.json()["consultations"] == 3
    assert follower.handler.position(follower.stream) == before < web.runtime.relay.reader.max_position()


def test_a_services_own_read_model_passes_by_the_events_it_has_no_handler_for(nats_server, start_service):
    """A consent is kept by the privacy records and in no list of intake's (IGNORED in its read
    model): the read model's follower writes no transaction for it (SqlProjection.pass_by_unhandled)."""
    intake = start_service("intake", nats_server.url)
    runtime = intake.runtime
    read = next(f for f in runtime.followers if f.handler.name == "intake-read")
    records = next(f for f in runtime.followers if f.handler.name == "privacy-records")
    centre_id, case_id = _setup_case(intake)
    agency = _agency(intake, "ハローワーク飯田橋", "hello_work")
    before = runtime.relay.reader.max_position()
    eventually(lambda: read.handler.position(read.stream) == before)
    read.record_seconds = AN_HOUR
    with _position_writes(runtime.engine, read.handler.name) as writes:
        with intake.client(role="centre_staff", org=centre_id) as staff:
            staff.post(f"/v1/cases/{case_id}/share-consents", json={
                "agency_ids": [agency], "items": ["name"], "explained_on": "2016-06-01",
                "consent_text_version": "v"}).raise_for_status()
        end = runtime.relay.reader.max_position()
        eventually(lambda: records.handler.position(records.stream) == end and read.position() == end)
        assert writes == []
    assert read.handler.position(read.stream) == before < end
