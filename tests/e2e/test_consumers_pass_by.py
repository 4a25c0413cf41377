"""A consumer passes by the messages that change nothing in its handler (issue 15): dispatch follows
the whole INTAKE stream for a handful of event types, and each batch of consultations cost its
deployment targets and its process tracker a transaction that only moved a position. Passed by, the
position is kept in memory and recorded with the next effect, after `record_seconds`, or at stop
(messaging/consumer_passby.py); readiness shows the kept position; a crash loses only that."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from datetime import date

from sqlalchemy import select

from libs.platform.messaging.consumer import ConsumerRunner
from services.dispatch.read_models import targets
from tests.e2e.test_consultation_slice import _setup_case
from tests.e2e.test_dispatch_flow import CITY
from tests.e2e.test_programmes_and_places import TOWN
from tests.fault.test_pipeline_faults import _consult
from tests.harness import eventually, published
from tests.statements import sent_statements

AN_HOUR = 3600.0
DAY = date.today().isoformat()


def _intake_runners(dispatch) -> list[ConsumerRunner]:
    runners = [c for c in dispatch.runtime.consumers if c.spec.name == "INTAKE"]
    assert {c.durable for c in runners} == {"dispatch-intake", "dispatch-targets-intake"}
    return runners


def _stream_end(intake, nats_url: str) -> int:
    return published(intake, nats_url)[-1].metadata.sequence.stream


@contextmanager
def _position_writes(dispatch) -> Iterator[tuple[list[str], list[str]]]:
    """Every write of an INTAKE position by dispatch: the targets' row in projection_positions (on the
    service's engine), the process tracker's in dispatch's tracking table (on the event store's)."""
    def targets_position(statement: str, parameters: object) -> bool:
        return "projection_positions" in statement and "dispatch-targets" in repr(parameters) and \
            statement.split()[0].upper() in ("UPDATE", "INSERT")

    def tracking(statement: str, _parameters: object) -> bool:
        return "_tracking" in statement and statement.split()[0].upper() in ("UPDATE", "INSERT")

    store = dispatch.runtime.application.factory.datastore.engine
    with sent_statements(dispatch.runtime.engine, keep_sent=targets_position) as projected, \
            sent_statements(store, keep_sent=tracking) as tracked:
        yield projected, tracked


def _quiet(intake, dispatch, nats_url: str) -> int:
    """Everything intake logged is published and dispatch's INTAKE consumers are at its end, as their
    positions are recorded; returns that end."""
    end = _stream_end(intake, nats_url)
    eventually(lambda: all(c.handler.position("INTAKE") == end for c in _intake_runners(dispatch)))
    return end


def test_dispatch_writes_no_transaction_for_consultations_it_does_nothing_with(nats_server, start_service):
    intake = start_service("intake", nats_server.url)
    dispatch = start_service("dispatch", nats_server.url)
    centre_id, case_id = _setup_case(intake)
    before = _quiet(intake, dispatch, nats_server.url)
    runners = _intake_runners(dispatch)
    for runner in runners:
        runner.record_seconds = AN_HOUR  # from now on only an effect or the stop records their positions

    with _position_writes(dispatch) as (projected, tracked):
        _consult(intake, centre_id, case_id, 20)  # one at a time: many batches
        end = _stream_end(intake, nats_server.url)
        eventually(lambda: all(c.health.position == end for c in runners))
        assert projected == [] and tracked == []  # 20 consultations, nothing for dispatch: no transaction
        for runner in runners:
            assert runner.handler.position("INTAKE") == before < end  # recorded behind, harmless
            assert runner.position() == end and runner.health.lag == 0  # readiness shows where it is
        dispatch.stop()  # each run records what it passed by as it stops
    assert len(projected) == 1 and len(tracked) == 1
    assert all(c.handler.position("INTAKE") == end for c in runners)


def test_a_consumer_that_dies_with_messages_passed_by_loses_and_doubles_nothing(nats_server, start_service):
    intake = start_service("intake", nats_server.url)
    dispatch = start_service("dispatch", nats_server.url)
    centre_id, case_id = _setup_case(intake)
    with intake.client(role="centre_staff", org=centre_id) as staff:  # dispatch's process acts on it
        staff.post(f"/v1/cases/{case_id}/supporter-requests", json={
            "municipality": CITY, "needs": ["visit"], "preferences": {}, "requested_on": DAY}).raise_for_status()
    before = _quiet(intake, dispatch, nats_server.url)
    for runner in _intake_runners(dispatch):
        runner.record_seconds = AN_HOUR
    _consult(intake, centre_id, case_id, 5)
    end = _stream_end(intake, nats_server.url)
    eventually(lambda: all(c.position() == end for c in _intake_runners(dispatch)))
    for runner in _intake_runners(dispatch):
        runner._passing.clear()  # the process dies here: the positions it kept in memory are gone
    dispatch.stop()
    assert all(c.handler.position("INTAKE") == before for c in _intake_runners(dispatch))

    with intake.client(role="municipal_officer", org=TOWN) as town:  # a target, while dispatch is down
        town.post("/v1/programmes", json={
            "kind": "station", "name": "ステーション", "starts_on": "2024-04-01",
            "funding": {"national": "1/2", "prefecture": "1/4", "municipality": "1/4"}}).raise_for_status()
    dispatch.start()  # handed the consultations again (passed by again), then the programme
    end = _quiet(intake, dispatch, nats_server.url)
    with dispatch.runtime.engine.connect() as conn:
        assert [r.name for r in conn.execute(select(targets.c.name))] == ["ステーション"]
    with dispatch.client(role="municipal_officer", org=CITY) as city:
        requested = eventually(lambda: city.get("/v1/dispatches", params={"status": "requested"}).json()["data"])
    assert [d["subject_ref"] for d in requested] == [case_id]  # one dispatch for the one request
    assert all(c.handler.position("INTAKE") == end for c in _intake_runners(dispatch))
