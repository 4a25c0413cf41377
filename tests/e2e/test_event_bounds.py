"""Issue 13 point 2: one oversized request must not stop a stream for every tenant."""

from __future__ import annotations

import time

from tests.harness import stream_messages

TOWN = "131016"
HOURS = {"tue": ["13:00", "17:00"]}
HUGE = "x" * 1_200_000  # what a municipal officer posted as one registered participant


def _place(town, name: str) -> dict:  # noqa: ANN001
    r = town.post("/v1/places", json={"name": name, "operator": "NPO法人ひだまり", "municipality": TOWN,
                                      "address": "千代田区神田1-1", "schedule": HOURS})
    assert r.status_code == 201, r.text
    return r.json()


def test_today_a_1_2_mb_session_is_stored_and_the_intake_stream_stalls_behind_it(nats_server, start_service):
    intake = start_service("intake", nats_server.url)
    log = intake.runtime.application.recorder
    with intake.client(role="municipal_officer", org=TOWN) as town:
        place = _place(town, "居場所ひだまり")
        before = log.max_notification_id()
        r = town.post(f"/v1/places/{place['id']}/sessions", json={
            "held_on": "2024-06-04", "participants": 1, "registered_participants": [HUGE], "staff": 1})
        assert r.status_code == 201
        assert log.max_notification_id() == before + 1
        _place(town, "居場所あさひ")  # another tenant's change would wait behind it the same way
    time.sleep(2)
    assert len(stream_messages(nats_server.url, "INTAKE")) == before
    assert intake.runtime.relay.lag() == 2
