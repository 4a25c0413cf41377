"""Readiness is honest (issue 13, point 3): every way a background loop can stall makes /readyz
unready, naming the loop, its position and why; it never answers 500; and it is ready again once
the cause is gone."""

from __future__ import annotations

import threading

import pytest
from sqlalchemy import create_engine
from sqlalchemy.exc import OperationalError

from libs.platform.tools.natsserver import EmbeddedNats
from tests.e2e.test_consultation_slice import PREF, _setup_case
from tests.harness import eventually, provision_streams

pytestmark = pytest.mark.fault


def _unready_because(service, *words: str) -> dict:
    """Wait until /readyz is 503 and its detail names every word; returns the problem body."""
    with service.operator() as operator:
        def check() -> dict | None:
            r = operator.get("/readyz")
            body = r.json()
            return body if r.status_code == 503 and all(w in body.get("detail", "") for w in words) else None

        return eventually(check, timeout=30)


def _ready(service, caught_up: str | None = None) -> dict:
    """Wait until /readyz is 200 (and, when named, that lag of its checks is 0)."""
    with service.operator() as operator:
        def check() -> dict | None:
            r = operator.get("/readyz")
            ok = r.status_code == 200 and (caught_up is None or r.json()["checks"][caught_up] == 0)
            assert ok, f"{service.name}: {r.status_code} {r.text}"
            return r.json()

        return eventually(check, timeout=30)


def _consult(intake, centre_id: str, case_id: str, n: int) -> None:
    with intake.client(role="centre_staff", org=centre_id) as staff:
        for _ in range(n):
            r = staff.post(f"/v1/cases/{case_id}/consultations",
                           json={"channel": "phone", "occurred_at": "2016-07-01T10:00:00+09:00"})
            assert r.status_code == 201, r.text


def test_an_event_the_server_refuses_makes_the_relay_unready_naming_its_position_and_a_bigger_limit_releases_it(
        tmp_path, start_service):
    """The documented way out of a publish that fails for good: the operator raises the server's
    max_payload (deploy/README.md); the relay then publishes from where it stopped."""
    nats = EmbeddedNats(tmp_path / "nats", max_payload=512)  # smaller than any event of ours
    nats.start()
    try:
        intake = start_service("intake", nats.url, max_loop_failures=3)
        _setup_case(intake)
        body = _unready_because(intake, "relay INTAKE", "after position 0", "MaxPayloadError")
        relay = next(loop for loop in body["checks"]["loops"] if loop["kind"] == "relay")
        assert relay["state"] == "stuck" and relay["lag"] >= 1 and relay["consecutive_failures"] >= 3
        nats.stop()
        nats.max_payload = None  # the way out
        nats.start()
        _ready(intake, "relay_lag")
        assert eventually(lambda: intake.runtime.relay.position()[0] == 2)
    finally:
        nats.stop()


def test_a_consumer_started_before_its_producer_waits_unready_and_catches_up_once_the_owner_makes_its_stream(
        nats_server, start_service):
    """Issue 14: a consumer created another service's stream (and needed the permission to) when it
    came first. Now only the owner creates it; dispatch waits for INTAKE and REGISTRY, unready."""
    dispatch = start_service("dispatch", nats_server.url)
    body = _unready_because(dispatch, "consumer dispatch-intake", "waiting for stream INTAKE")
    waiting = {loop["name"]: loop.get("waiting_for") for loop in body["checks"]["loops"] if loop["kind"] == "consumer"}
    assert waiting == {"dispatch-intake": "stream INTAKE", "dispatch-targets-intake": "stream INTAKE",
                       "dispatch-registry": "stream REGISTRY"}, waiting
    assert all(loop["consecutive_failures"] == 0 for loop in body["checks"]["loops"]), "waiting is no failure"

    intake = start_service("intake", nats_server.url)
    _setup_case(intake)  # events on INTAKE before dispatch can read it
    _unready_because(dispatch, "waiting for stream REGISTRY")  # INTAKE is there now; REGISTRY not yet
    start_service("registry", nats_server.url)
    _ready(dispatch, "consumer_lag")
    health = next(c for c in dispatch.runtime.consumers if c.durable == "dispatch-intake").health
    # caught up on what intake published before dispatch could read it (a centre and a case at least)
    assert eventually(lambda: health.position >= 2 and health.lag == 0 and not health.waiting_for), health


def test_a_consumer_failing_on_its_database_again_and_again_makes_the_service_unready(nats_server, start_service):
    intake = start_service("intake", nats_server.url)
    provision_streams(nats_server.url, "registry", "dispatch")  # their services do not run here
    reporting = start_service("reporting", nats_server.url, max_loop_failures=3)
    _ready(reporting)
    runner = next(c for c in reporting.runtime.consumers if c.spec.name == "INTAKE")
    projection = runner.handler
    broken = {"on": True}

    def locked(*args, **kwargs):
        if broken["on"]:  # what a database that stays locked does to every write
            raise OperationalError("UPDATE projection_positions …", {}, Exception("database is locked"))
        return type(projection).apply_batch(projection, *args, **kwargs)

    projection.apply_batch = locked
    _setup_case(intake)
    body = _unready_because(reporting, "consumer reporting-intake", "failures in a row", "database is locked")
    assert body["checks"]["dead_lettered"] == 0  # an infrastructure failure is never a dead letter
    broken["on"] = False
    _ready(reporting, "consumer_lag")


def test_a_consumer_that_hangs_with_work_pending_makes_the_service_unready_after_the_stall_time(
        nats_server, start_service):
    intake = start_service("intake", nats_server.url)
    provision_streams(nats_server.url, "registry", "dispatch")  # their services do not run here
    reporting = start_service("reporting", nats_server.url, stall_seconds=2)
    _ready(reporting)
    runner = next(c for c in reporting.runtime.consumers if c.spec.name == "INTAKE")
    release = threading.Event()
    original = runner.handler.apply_batch

    def hangs(*args, **kwargs):
        release.wait(60)  # e.g. a lock nobody releases
        return original(*args, **kwargs)

    runner.handler.apply_batch = hangs
    runner.handler.apply = lambda envelope, stream, position: hangs([envelope], stream, position)
    try:
        centre_id, case_id = _setup_case(intake)
        _consult(intake, centre_id, case_id, 3)
        body = _unready_because(reporting, "consumer reporting-intake", "has not shrunk")
        stuck = next(loop for loop in body["checks"]["loops"] if loop["name"] == "reporting-intake")
        assert stuck["lag"] >= 1 and stuck["seconds_since_progress"] >= 2
    finally:
        release.set()
    _ready(reporting)
    with reporting.client(role="prefecture_officer", org=PREF) as pref:
        assert eventually(lambda: pref.get("/v1/reports/consultations", params={"fy": 2016}).json()["total"] == 3)


def test_a_read_model_that_cannot_follow_the_log_makes_the_service_unready(nats_server, start_service):
    intake = start_service("intake", nats_server.url, max_loop_failures=3)
    _ready(intake)
    follower = next(f for f in intake.runtime.followers if f.handler.name == "intake-read")

    def fails(*args, **kwargs):  # the database's fault, not the events': retried, never dead-lettered
        raise OperationalError("INSERT INTO in_centres", {}, Exception("database is locked: read model cannot apply"))

    follower.handler.apply_batch = fails
    with intake.client(role="prefecture_officer", org=PREF) as officer:
        r = officer.post("/v1/centres", json={"name": "東京都センター", "kind": "adult", "prefecture": PREF})
        assert r.status_code == 201, r.text
    body = _unready_because(intake, "follower intake-read", "read model cannot apply")
    assert body["checks"]["read_model_lag"] >= 1
    del follower.handler.apply_batch  # the class's own again
    _ready(intake, "read_model_lag")


def test_readiness_answers_503_never_500_when_the_database_is_gone(nats_server, start_service):
    provision_streams(nats_server.url)  # no producer runs here
    reporting = start_service("reporting", nats_server.url)
    _ready(reporting)
    gone = create_engine(f"sqlite:///{reporting.settings.service}-missing-dir/none/x.db")
    reporting.runtime.engine = gone
    reporting.runtime.dead_letters.engine = gone
    body = _unready_because(reporting, "database unreachable")
    assert body["checks"]["database"].startswith("unreachable")
