"""Writes bound to jurisdiction (issue 14): a local government registers agencies, opens places and
starts programmes only inside its own jurisdiction (a prefecture: itself and its municipalities; a
municipality: itself); naming another government as operator waits for its acceptance; an agency
can be retired by whoever registered it, and then takes no new disclosure."""

from __future__ import annotations

from uuid import uuid4

from tests.e2e.test_consultation_slice import PREF, _setup_case
from tests.harness import drained, eventually

TOWN = "131016"  # 千代田区
OSAKA_PREF = "270008"
OSAKA_CITY = "271004"
FUNDING = {"national": "1/2", "prefecture": "1/4", "municipality": "1/4"}
HOURS = {"sat": ["10:00", "15:00"]}
PROBLEM = "application/problem+json"
FAKE = {"name": "ハローワーク飯田橋（臨時窓口）", "category": "hello_work", "municipality": TOWN,
        "address": "東京都千代田区飯田橋1-1", "phone": "090-0000-0000"}


def test_a_government_writes_no_agency_place_or_profile_into_another_jurisdiction(nats_server, start_service):
    intake = start_service("intake", nats_server.url)
    with intake.client(role="prefecture_officer", org=OSAKA_PREF) as osaka:
        r = osaka.post("/v1/agencies", json=FAKE)
        assert r.status_code == 403 and r.headers["content-type"] == PROBLEM, r.text
        assert osaka.post("/v1/agencies", json={**FAKE, "municipality": OSAKA_CITY}).status_code == 201
    with intake.client(role="municipal_officer", org=OSAKA_CITY) as city:
        r = city.post("/v1/places", json={"name": "居場所", "operator": "NPO", "municipality": TOWN,
                                          "address": "千代田区1-1", "schedule": HOURS})
        assert r.status_code == 403 and r.headers["content-type"] == PROBLEM, r.text
        assert city.post("/v1/agencies", json={**FAKE, "municipality": "271012"}).status_code == 403  # a neighbour
    centre_id, _ = _setup_case(intake, prefecture=OSAKA_PREF)
    with intake.client(role="prefecture_officer", org=OSAKA_PREF) as osaka:
        r = osaka.put(f"/v1/centres/{centre_id}/profile", json={
            "opened_fy": 2009, "municipality": TOWN, "address": "x", "phone": "0", "hours": HOURS})
        assert r.status_code == 403, r.text  # a centre listed in 千代田区 by Osaka
    with intake.client(role="prefecture_officer", org=PREF) as tokyo:  # the prefecture: its municipalities
        assert tokyo.post("/v1/agencies", json={**FAKE, "name": "千代田区保健所",
                                                 "category": "public_health_centre"}).status_code == 201
    with intake.client() as anonymous:
        listed = eventually(lambda: anonymous.get("/public/v1/agencies", params={"municipality": TOWN}).json()["data"])
        assert [a["name"] for a in listed] == ["千代田区保健所"]
        assert anonymous.get("/public/v1/places", params={"municipality": TOWN}).json()["data"] == []


def test_a_retired_agency_leaves_the_directory_and_takes_no_new_disclosure(nats_server, start_service):
    intake = start_service("intake", nats_server.url)
    centre_id, case_id = _setup_case(intake)
    with intake.client(role="prefecture_officer", org=PREF) as tokyo:
        agency = tokyo.post("/v1/agencies", json=FAKE).json()
    base = f"/v1/cases/{case_id}"
    with intake.client(role="centre_staff", org=centre_id) as staff:
        staff.post(f"{base}/share-consents", json={"categories": ["hello_work"], "items": ["name"],
                                                   "explained_on": "2016-04-01", "consent_text_version": "v"})
        first = {"agency_id": agency["id"], "items": ["name"], "on": "2016-05-01", "purpose": "coordination"}
        assert staff.post(f"{base}/disclosures", json=first).status_code == 201
    with intake.client(role="prefecture_officer", org="130001") as tokyo, \
            intake.client(role="municipal_officer", org=TOWN) as town:
        r = town.post(f"/v1/agencies/{agency['id']}/retirement", json={"retired_on": "2016-06-01"})
        assert r.status_code == 403, r.text  # only its registrant retires it
        r = tokyo.post(f"/v1/agencies/{agency['id']}/retirement", json={"retired_on": "2016-06-01"})
        assert r.status_code == 200 and r.json()["retired_on"] == "2016-06-01", r.text
        again = tokyo.post(f"/v1/agencies/{agency['id']}/retirement", json={"retired_on": "2016-06-02"})
        assert again.status_code == 409 and again.headers["content-type"] == PROBLEM
    with intake.client(role="centre_staff", org=centre_id) as staff:
        r = staff.post(f"{base}/disclosures", json={**first, "on": "2016-06-02"})
        assert r.status_code == 409 and r.json()["type"].endswith("/agency-retired"), r.text
        r = staff.post(f"{base}/referrals", json={"agency_id": agency["id"], "referred_on": "2016-06-02"})
        assert r.status_code == 409 and r.json()["type"].endswith("/agency-retired"), r.text
    with intake.client() as anonymous:
        eventually(lambda: anonymous.get("/public/v1/agencies", params={"municipality": TOWN}).json()["data"] == [])


def test_a_named_operator_accepts_before_the_programme_runs_or_becomes_a_target(nats_server, start_service):
    intake = start_service("intake", nats_server.url)
    dispatch = start_service("dispatch", nats_server.url)
    with intake.client(role="municipal_officer", org=OSAKA_CITY) as osaka:
        r = osaka.post("/v1/programmes", json={"kind": "station", "name": "共同ステーション", "starts_on": "2024-04-01",
                                               "operators": [TOWN], "funding": FUNDING})
        assert r.status_code == 201, r.text
        joint = r.json()
        assert joint["status"] == "pending" and joint["operators"] == [OSAKA_CITY] and joint["invited"] == [TOWN]
        r = osaka.post(f"/v1/programmes/{joint['id']}/operators/{TOWN}/acceptance", json={"on": "2024-03-20"})
        assert r.status_code == 403, r.text  # only the named government answers
        r = osaka.post("/v1/places", json={"programme_id": joint["id"], "name": "x", "operator": "NPO",
                                           "municipality": OSAKA_CITY, "address": "1", "schedule": HOURS})
        assert r.status_code == 409, r.text  # not running yet
        declined = osaka.post("/v1/programmes", json={"kind": "station", "name": "押し付け", "starts_on": "2024-04-01",
                                                      "operators": [TOWN], "funding": FUNDING}).json()
    with intake.client(role="municipal_officer", org=TOWN) as town:
        assert town.get(f"/v1/programmes/{joint['id']}").json()["status"] == "pending"  # the invitee sees it
        r = town.post(f"/v1/programmes/{joint['id']}/changes", json={
            "activities": [], "funding": FUNDING, "changed_on": "2024-05-01"})
        assert r.status_code == 403  # not an operator until it accepts
        r = town.post(f"/v1/programmes/{declined['id']}/operators/{TOWN}/decline", json={"on": "2024-03-20"})
        assert r.status_code == 200 and r.json()["status"] == "declined", r.text
        r = town.post(f"/v1/programmes/{joint['id']}/operators/{TOWN}/acceptance", json={"on": "2024-03-21"})
        assert r.status_code == 200, r.text
        assert r.json()["status"] == "running" and r.json()["operators"] == [TOWN, OSAKA_CITY]
        again = town.post(f"/v1/programmes/{joint['id']}/operators/{TOWN}/acceptance", json={"on": "2024-03-22"})
        assert again.status_code == 409
    with intake.client(role="municipal_officer", org=OSAKA_CITY) as osaka:
        r = osaka.post(f"/v1/programmes/{joint['id']}/end", json={"ended_on": "2025-03-31", "handed_over_to": "131024"})
        assert r.status_code == 422 and r.headers["content-type"] == PROBLEM  # 中央区 never agreed to run it
    with intake.client(role="municipal_officer", org="131024") as other:
        r = other.post(f"/v1/programmes/{joint['id']}/operators/131024/acceptance", json={"on": "2024-03-21"})
        assert r.status_code == 404
    drained(nats_server.url, intake, dispatch)
    with dispatch.client(role="municipal_officer", org=TOWN) as town:
        def target_of(programme_id: str) -> str:
            r = town.post("/v1/deployments", json={
                "supporter_id": str(uuid4()), "target_kind": "programme", "target_id": programme_id,
                "role": "place_operation", "starts_on": "2024-05-01"})
            assert r.status_code in (404, 409, 422), r.text
            return r.json()["type"].rsplit("/", 1)[1]
        assert target_of(joint["id"]) != "unknown-deployment-target"  # accepted: 千代田区 may deploy there
        assert target_of(declined["id"]) == "unknown-deployment-target"
