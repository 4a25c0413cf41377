"""Issue 13 point 2: one oversized request must not stop a stream for every tenant. It is refused
(413/422 problem+json) with nothing stored and nothing published, and the stream keeps flowing."""

from __future__ import annotations

import asyncio

import nats

from libs.platform.limits import DEFAULT_MAX_EVENT_BYTES, PUBLISH_HEADROOM, max_event_bytes
from libs.platform.messaging.bus import Bus
from tests.e2e.test_consultation_slice import _setup_case
from tests.harness import eventually, stream_messages

TOWN = "131016"
HOURS = {"tue": ["13:00", "17:00"]}
HUGE = "x" * 1_200_000  # what a municipal officer posted as one registered participant
PROBLEM = "application/problem+json"


def _place(town, name: str) -> dict:
    r = town.post("/v1/places", json={"name": name, "operator": "NPO法人ひだまり", "municipality": TOWN,
                                      "address": "千代田区神田1-1", "schedule": HOURS})
    assert r.status_code == 201, r.text
    return r.json()


def _session(participants: list[str]) -> dict:
    return {"held_on": "2024-06-04", "participants": len(participants), "registered_participants": participants,
            "staff": 1}


def _refused(response, status: int, slug: str) -> None:
    assert response.status_code == status, response.text
    assert response.headers["content-type"] == PROBLEM
    assert response.json()["type"] == f"https://tsunagu.jp/problems/{slug}"


def _published_all(intake, nats_url: str) -> list:
    """Every stored event reaches INTAKE (the relay is not stuck behind one); returns the messages.
    Counted, not read off the last position: on PostgreSQL a refused save leaves a gap (its insert,
    rolled back, took a sequence value: the size is checked on the bytes the save prepares)."""
    stored = len(intake.runtime.application.recorder.select_notifications(start=1, limit=100_000))
    return eventually(lambda: (m := stream_messages(nats_url, "INTAKE")) and len(m) == stored and m)


def test_the_1_2_mb_session_is_refused_with_nothing_stored_and_the_stream_keeps_flowing(nats_server, start_service):
    intake = start_service("intake", nats_server.url)
    log = intake.runtime.application.recorder
    with intake.client(role="municipal_officer", org=TOWN) as town:
        place = _place(town, "居場所ひだまり")
        before = log.max_notification_id()
        _refused(town.post(f"/v1/places/{place['id']}/sessions", json=_session([HUGE])), 413, "request-too-large")
        chunked = town.post(f"/v1/places/{place['id']}/sessions",  # no Content-Length: counted as it arrives
                            content=iter([b'{"held_on": "2024-06-04", "registered_participants": ["', HUGE.encode(),
                                          b'"], "participants": 1, "staff": 1}']),
                            headers={"content-type": "application/json"})
        _refused(chunked, 413, "request-too-large")
        assert log.max_notification_id() == before
        _place(town, "居場所あさひ")  # a change after it is published, not stuck behind it
    messages = _published_all(intake, nats_server.url)
    assert max(len(m.data) for m in messages) < 4096


def test_a_session_under_the_body_limit_but_over_the_schema_bounds_is_refused_422(nats_server, start_service):
    intake = start_service("intake", nats_server.url)
    log = intake.runtime.application.recorder
    with intake.client(role="municipal_officer", org=TOWN) as town:
        sessions = f"/v1/places/{_place(town, '居場所ひだまり')['id']}/sessions"
        before = log.max_notification_id()
        _refused(town.post(sessions, json=_session(["x" * 600_000])), 422, "invalid-input")
        _refused(town.post(sessions, json=_session([f"p-{i}" for i in range(301)])), 422, "invalid-input")
        assert log.max_notification_id() == before
        assert town.post(sessions, json=_session([f"p-{i}" for i in range(300)])).status_code == 201
    _published_all(intake, nats_server.url)


def test_an_event_over_the_event_limit_is_refused_413_with_nothing_stored_or_published(
        nats_server, start_service, monkeypatch):
    monkeypatch.setenv("TSUNAGU_MAX_EVENT_BYTES", "4096")  # a limit that a valid request can reach
    intake = start_service("intake", nats_server.url)
    log = intake.runtime.application.recorder
    with intake.client(role="municipal_officer", org=TOWN) as town:
        sessions = f"/v1/places/{_place(town, '居場所ひだまり')['id']}/sessions"
        before = log.max_notification_id()
        r = town.post(sessions, json=_session([f"{i:064d}" for i in range(70)]))  # ~4.7 KB: within the schema
        _refused(r, 413, "event-too-large")
        assert r.json()["event"] == "PlaceSessionHeld" and r.json()["size"] > r.json()["limit"] == 4096
        assert log.max_notification_id() == before
        assert town.post(sessions, json=_session(["p-1"])).status_code == 201
    messages = _published_all(intake, nats_server.url)
    assert all(b"0000000000000069" not in m.data for m in messages)


def test_a_consultation_at_every_bound_in_the_worst_characters_is_stored_and_published(nats_server, start_service):
    intake = start_service("intake", nats_server.url)
    centre_id, case_id = _setup_case(intake)
    with intake.client(role="centre_staff", org=centre_id) as staff:
        r = staff.post(f"/v1/cases/{case_id}/consultations", json={
            "channel": "phone", "occurred_at": "2016-05-01T10:00:00+09:00", "summary": "\x01" * 8000})
        assert r.status_code == 201, r.text
        _refused(staff.post(f"/v1/cases/{case_id}/consultations", json={
            "channel": "phone", "occurred_at": "2016-05-01T10:00:00+09:00", "summary": "相" * 8001}),
            422, "invalid-input")
    assert max(len(m.data) for m in _published_all(intake, nats_server.url)) < DEFAULT_MAX_EVENT_BYTES


def test_the_event_limit_is_far_below_the_nats_servers_max_payload(nats_server):
    async def max_payload() -> int:
        nc = await nats.connect(nats_server.url)
        try:
            return nc.max_payload
        finally:
            await nc.close()

    server_limit = asyncio.run(max_payload())
    assert max_event_bytes() + PUBLISH_HEADROOM < server_limit
    assert DEFAULT_MAX_EVENT_BYTES * 4 <= server_limit  # 256 KiB of NATS's default 1 MiB


def test_a_service_allowing_events_larger_than_the_servers_max_payload_says_so(nats_server, monkeypatch, caplog):
    async def connect() -> None:
        bus = Bus(nats_server.url, name="tsunagu-intake")
        await bus.connect()
        await bus.close()

    monkeypatch.setenv("TSUNAGU_MAX_EVENT_BYTES", str(2 * 1024 * 1024))
    asyncio.run(connect())
    assert any("max_payload" in r.getMessage() and r.levelname == "ERROR" for r in caplog.records)
