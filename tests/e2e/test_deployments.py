"""Supporters deployed beyond home visits (居場所運営等へのサポーター派遣), over real NATS: the place and
programme come from INTAKE, the roster from REGISTRY; eligibility as for a dispatch, no subject
consent; reports count as サポーターの活動件数 by kind; a revoked registration ends the deployment."""

from __future__ import annotations

from datetime import datetime
from uuid import uuid4

from libs.domain.fiscal import JST, fiscal_year
from tests.e2e.test_dispatch_flow import CITY, DAY, rostered
from tests.e2e.test_registry_lifecycle import REGISTRAR
from tests.harness import drained, eventually, published

OTHER_CITY = "131024"  # 中央区
HOURS = {"sat": ["10:00", "15:00"]}
ACTIVITY = {"reported_on": DAY, "activity_date": DAY, "starts_at": "10:00", "ends_at": "15:00", "participants": 6,
            "content": "卓球で参加者と交流した"}


def _place(intake, org: str, name: str) -> tuple[str, str]:
    with intake.client(role="municipal_officer", org=org) as town:
        programme = town.post("/v1/programmes", json={
            "kind": "station", "name": f"{name}ステーション", "starts_on": "2024-04-01",
            "funding": {"national": "1/2", "prefecture": "1/4", "municipality": "1/4"}}).json()
        place = town.post("/v1/places", json={"programme_id": programme["id"], "name": name, "operator": "NPO法人",
                                               "municipality": org, "address": "1-1", "schedule": HOURS}).json()
    return programme["id"], place["id"]


def test_a_supporter_deployed_to_a_place_and_a_programme_reports_and_stops_on_revocation(nats_server, start_service):
    registry = start_service("registry", nats_server.url)
    intake = start_service("intake", nats_server.url)
    dispatch = start_service("dispatch", nats_server.url)
    reporting = start_service("reporting", nats_server.url)
    first, second = rostered(registry, 2)
    programme_id, place_id = _place(intake, CITY, "居場所ひだまり")
    _, elsewhere = _place(intake, OTHER_CITY, "中央区の居場所")

    deployment = {"supporter_id": first, "target_kind": "place", "target_id": place_id, "role": "place_operation",
                  "starts_on": DAY}
    with dispatch.client(role="municipal_officer", org=CITY) as city:
        eventually(lambda: len(city.get("/v1/roster").json()["data"]) == 2)
        # Until INTAKE's PlaceOpened has reached dispatch the place is unknown; then the supporter is checked.
        r = eventually(lambda: (r := city.post("/v1/deployments", json=deployment)).json()["type"].endswith(
            "/supporter-not-eligible") and r)
        assert r.status_code == 409
        assert "intent" in r.json()["reasons"][0]  # 名簿管理: the intent is re-confirmed first, as for 派遣
        for sid in (first, second):
            city.post(f"/v1/roster/{sid}/intent-reconfirmation", json={"on": DAY}).raise_for_status()
        r = city.post("/v1/deployments", json={**deployment, "target_id": str(uuid4())})
        assert r.status_code == 409 and r.json()["type"].endswith("/unknown-deployment-target")
        r = city.post("/v1/deployments", json={**deployment, "target_id": elsewhere})
        assert r.status_code == 409 and r.json()["type"].endswith("/unknown-deployment-target")  # 中央区's place
        r = city.post("/v1/deployments", json={**deployment, "target_kind": "programme"})
        assert r.status_code == 422  # the id is a place
        r = city.post("/v1/deployments", json={**deployment, "role": "home_visit"})
        assert r.status_code == 422
        r = city.post("/v1/deployments", json=deployment, headers={"Idempotency-Key": "deploy-1"})
        assert r.status_code == 201, r.text
        placed = r.json()
        assert (placed["status"], placed["target_name"], placed["registration_number"]) == ("planned", "居場所ひだまり",
                                                                                            "001")
        again = city.post("/v1/deployments", json=deployment, headers={"Idempotency-Key": "deploy-1"})
        assert again.status_code == 200 and again.json()["id"] == placed["id"]
        r = city.post("/v1/deployments", json={"supporter_id": second, "target_kind": "programme",
                                               "target_id": programme_id, "role": "group_activity", "starts_on": DAY})
        assert r.status_code == 201, r.text
        helping = r.json()
        listed = city.get("/v1/deployments", params={"status": "planned"}).json()["data"]
        assert {d["deployment_id"] for d in listed} == {placed["id"], helping["id"]}

    base = f"/v1/deployments/{placed['id']}"
    with dispatch.client(role="supporter", org=REGISTRAR, sub=first) as me:
        r = me.post(f"{base}/activity-reports", json=ACTIVITY)
        assert r.status_code == 409 and r.json()["type"].endswith("/dispatch-not-active")  # not accepted yet
        assert me.post(f"{base}/acceptance", json={"accepted_on": DAY}).json()["status"] == "active"
        answers = [me.post(f"{base}/activity-reports", json=ACTIVITY, headers={"Idempotency-Key": "report-1"})
                   for _ in range(2)]  # a retry with the same key files one report, and answers it again
        assert [r.status_code for r in answers] == [201, 200], answers[0].text
        assert answers[0].json() == answers[1].json() and answers[0].json()["participants"] == ACTIVITY["participants"]
        assert me.get(base).json()["reports"] == 1
        reused = me.post(f"{base}/activity-reports", json={**ACTIVITY, "participants": 7},
                         headers={"Idempotency-Key": "report-1"})
        assert reused.status_code == 422 and reused.json()["type"].endswith("/idempotency-key-reused")
        assert me.get(base).json()["reports"] == 1
        assert [d["deployment_id"] for d in me.get("/v1/deployments").json()["data"]] == [placed["id"]]
    with dispatch.client(role="supporter", org=REGISTRAR, sub=second) as other:
        assert other.get(base).status_code == 404
        assert other.post(f"{base}/activity-reports", json=ACTIVITY).status_code == 404
        hb = f"/v1/deployments/{helping['id']}"
        other.post(f"{hb}/acceptance", json={"accepted_on": DAY}).raise_for_status()
        other.post(f"{hb}/activity-reports", json={**ACTIVITY, "participants": None}).raise_for_status()
    with dispatch.client(role="municipal_officer", org=OTHER_CITY) as stranger:
        assert stranger.get(base).status_code == 404

    with registry.client(role="prefecture_officer", org=REGISTRAR) as officer:
        for kind in ("investigation", "interview"):
            officer.post(f"/v1/supporters/{first}/revocation-inquiries", json={
                "kind": kind, "held_on": DAY, "findings": "調査"}).raise_for_status()
        officer.post(f"/v1/supporters/{first}/revocation", json={"revoked_on": DAY,
                                                                 "grounds": "取消し"}).raise_for_status()
    with dispatch.client(role="municipal_officer", org=CITY) as city:
        ended = eventually(lambda: (b := city.get(base).json())["status"] == "ended" and b)
        assert ended["end_reason"] == "supporter_registration_revoked"
        assert city.get(f"/v1/deployments/{helping['id']}").json()["status"] == "active"  # the other goes on
        retry = city.post("/v1/deployments", json=deployment, headers={"Idempotency-Key": "deploy-1"})
        assert retry.status_code == 200 and retry.json()["id"] == placed["id"]  # a retry is answered as first
        r = city.post("/v1/deployments", json=deployment)  # but a new deployment of a revoked supporter is not
        assert r.status_code == 409 and r.json()["type"].endswith("/supporter-not-eligible")
    with dispatch.client(role="supporter", org=REGISTRAR, sub=first) as me:
        r = me.post(f"{base}/activity-reports", json={**ACTIVITY, "starts_at": "11:00"})
        assert r.status_code == 409

    fy = fiscal_year(datetime.now(JST))
    with reporting.client(role="municipal_officer", org=CITY) as city:
        report = eventually(lambda: (r := city.get("/v1/reports/dispatch", params={"fy": fy}).json())
                            ["total"]["activity_total"] == 2 and r)
        assert report["total"]["activities_by_kind"] == {"person": 0, "place": 1, "programme": 1, "agency": 0}
        assert report["municipalities"][0]["tenant"] == CITY
        csv = city.get("/v1/reports/dispatch/export", params={"fy": fy, "format": "csv"}).content.decode("utf-8-sig")
        assert "居場所での活動" in csv.splitlines()[0]

    for m in published(dispatch, nats_server.url):
        assert "卓球" not in m.data.decode()  # what was done is sealed


def test_a_place_that_closes_leaves_the_directory_and_its_deployed_supporters_stop(nats_server, start_service):
    registry = start_service("registry", nats_server.url)
    intake = start_service("intake", nats_server.url)
    dispatch = start_service("dispatch", nats_server.url)
    sid = rostered(registry)[0]
    _, place_id = _place(intake, CITY, "居場所こもれび")
    deployment = {"supporter_id": sid, "target_kind": "place", "target_id": place_id, "role": "place_operation",
                  "starts_on": DAY}
    with dispatch.client(role="municipal_officer", org=CITY) as city:
        eventually(lambda: city.get("/v1/roster").json()["data"])
        city.post(f"/v1/roster/{sid}/intent-reconfirmation", json={"on": DAY}).raise_for_status()
        placed = eventually(lambda: (r := city.post("/v1/deployments",
                                                    json=deployment)).status_code == 201 and r.json())
    with dispatch.client(role="supporter", org=REGISTRAR, sub=sid) as me:
        me.post(f"/v1/deployments/{placed['id']}/acceptance", json={"accepted_on": DAY}).raise_for_status()

    with intake.client(role="municipal_officer", org="131024") as other:
        assert other.post(f"/v1/places/{place_id}/closure", json={"closed_on": DAY}).status_code == 404
    with intake.client(role="municipal_officer", org=CITY) as town:
        r = town.post(f"/v1/places/{place_id}/closure", json={"closed_on": DAY})
        assert r.status_code == 200 and r.json()["closed_on"] == DAY
        assert town.post(f"/v1/places/{place_id}/closure", json={"closed_on": DAY}).status_code == 409
        assert town.post(f"/v1/places/{place_id}/sessions", json={
            "held_on": DAY, "participants": 3, "staff": 1}).status_code == 409
    with intake.client() as anonymous:
        assert eventually(lambda: anonymous.get("/public/v1/places",
                                                params={"municipality": CITY}).json()["data"] == [])
    with dispatch.client(role="municipal_officer", org=CITY) as city:
        ended = eventually(lambda: (b := city.get(f"/v1/deployments/{placed['id']}").json())["status"] == "ended" and b)
        assert ended["end_reason"] == "target_closed"
        # The deployment is ended by dispatch's policies, the target closed by its targets read model:
        # two consumers of INTAKE. Wait for both before asking for a new deployment there.
        drained(nats_server.url, intake, dispatch)
        r = city.post("/v1/deployments", json=deployment)
        assert r.status_code == 409 and r.json()["type"].endswith("/unknown-deployment-target")


def test_a_retired_agency_stops_its_deployed_supporters_and_takes_no_new_deployment(nats_server, start_service):
    registry = start_service("registry", nats_server.url)
    intake = start_service("intake", nats_server.url)
    dispatch = start_service("dispatch", nats_server.url)
    sid = rostered(registry)[0]
    with intake.client(role="municipal_officer", org=CITY) as town:
        agency_id = town.post("/v1/agencies", json={
            "name": "千代田区社会福祉協議会", "category": "social_welfare_council", "municipality": CITY,
            "address": "千代田区1-1", "phone": "03-0000-0000"}).json()["id"]
    deployment = {"supporter_id": sid, "target_kind": "agency", "target_id": agency_id,
                  "role": "agency_staff_support", "starts_on": DAY}
    with dispatch.client(role="municipal_officer", org=CITY) as city:
        eventually(lambda: city.get("/v1/roster").json()["data"])
        city.post(f"/v1/roster/{sid}/intent-reconfirmation", json={"on": DAY}).raise_for_status()
        placed = eventually(lambda: (r := city.post("/v1/deployments",
                                                    json=deployment)).status_code == 201 and r.json())
    with intake.client(role="municipal_officer", org=CITY) as town:
        r = town.post(f"/v1/agencies/{agency_id}/retirement", json={"retired_on": DAY})
        assert r.status_code == 200, r.text
    with dispatch.client(role="municipal_officer", org=CITY) as city:
        ended = eventually(lambda: (b := city.get(f"/v1/deployments/{placed['id']}").json())["status"] == "ended" and b)
        assert ended["end_reason"] == "target_closed"
        # The deployment is ended by dispatch's policies, the target closed by its targets read model:
        # two consumers of INTAKE. Wait for both before asking for a new deployment there.
        drained(nats_server.url, intake, dispatch)
        r = city.post("/v1/deployments", json=deployment)
        assert r.status_code == 409 and r.json()["type"].endswith("/unknown-deployment-target")
