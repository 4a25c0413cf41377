"""Municipal programmes and places (seeds/002 資料1, 003): who runs what, funding, fixed terms and
handover, group activities, 居場所 with sessions, and the public directory of places."""

from __future__ import annotations

from tests.harness import drained, eventually

TOWN = "131016"  # 千代田区 runs a station
PREF = "130001"
HOURS = {d: ["13:00", "17:00"] for d in ("tue", "thu")}


def test_a_station_its_place_and_sessions_and_a_satellite_handed_over_after_its_term(nats_server, start_service):
    intake = start_service("intake", nats_server.url)
    reporting = start_service("reporting", nats_server.url)
    with intake.client(role="municipal_officer", org=TOWN) as town:
        r = town.post("/v1/programmes", json={
            "kind": "station", "name": "千代田区ひきこもり支援ステーション", "starts_on": "2024-04-01",
            "funding": {"national": "1/2", "prefecture": "1/4", "municipality": "1/4"}})
        assert r.status_code == 201, r.text
        station = r.json()
        assert station["ends_on"] is None and station["operators"] == [TOWN]
        bad = town.post("/v1/programmes", json={"kind": "support_programme", "name": "x", "starts_on": "2024-04-01",
                                                 "funding": {"national": "1/2", "municipality": "1/4"}})
        assert bad.status_code == 422  # shares add up to 3/4
        bad = town.post("/v1/programmes", json={"kind": "support_programme", "name": "x", "starts_on": "2024-04-01",
                                                 "funding": {"national": "1/2", "municipality": "1/2"}})
        assert bad.status_code == 422 and "activities" in bad.json()["detail"]
        r = town.post(f"/v1/programmes/{station['id']}/group-activities", json={
            "kind": "family_class", "held_on": "2024-06-01", "participants": 12})
        assert r.status_code == 201 and r.json()["participants"] == 12
        assert town.get(r.headers["location"]).json() == r.json()
        assert town.get(f"/v1/programmes/{station['id']}").json()["group_activities"] == 1
        place = town.post("/v1/places", json={"programme_id": station["id"], "name": "居場所ひだまり",
                                               "operator": "NPO法人ひだまり", "municipality": TOWN,
                                               "address": "千代田区神田1-1", "schedule": HOURS}).json()
        for n in (5, 7):
            r = town.post(f"/v1/places/{place['id']}/sessions", json={
                "held_on": "2024-06-04", "participants": n, "registered_participants": ["p-1"], "staff": 2})
            assert r.status_code == 201 and r.json()["participants"] == n
        assert town.get(f"/v1/places/{place['id']}").json()["sessions"] == 2
        r = town.post(f"/v1/places/{place['id']}/sessions", json={
            "held_on": "2024-06-06", "participants": 1, "registered_participants": ["p-1", "p-2"], "staff": 1})
        assert r.status_code == 422  # more registered participants than people present
    with intake.client(role="prefecture_officer", org=PREF) as pref:
        assert pref.get(f"/v1/programmes/{station['id']}").status_code == 200  # back-up sees its municipalities
        r = pref.post("/v1/programmes", json={
            "kind": "satellite", "name": "サテライト千代田", "starts_on": "2024-04-01",
            "operators": [TOWN], "funding": {"national": "1/2", "prefecture": "1/2"}})
        satellite = r.json()
        assert satellite["ends_on"] == "2026-04-01" and satellite["status"] == "pending"
        assert satellite["operators"] == [PREF] and satellite["invited"] == [TOWN]
    with intake.client(role="municipal_officer", org=TOWN) as town:  # named as operator: 千代田区 agrees
        r = town.post(f"/v1/programmes/{satellite['id']}/operators/{TOWN}/acceptance", json={"on": "2024-03-25"})
        assert r.json()["status"] == "running" and r.json()["operators"] == [PREF, TOWN], r.text
    with intake.client(role="prefecture_officer", org=PREF) as pref:
        r = pref.post(f"/v1/programmes/{satellite['id']}/end", json={"ended_on": "2026-03-31", "handed_over_to": TOWN})
        assert r.json()["handed_over_to"] == TOWN
        assert pref.post(f"/v1/programmes/{satellite['id']}/group-activities", json={
            "kind": "network_meeting", "held_on": "2026-05-01", "participants": 8}).status_code == 409
    with intake.client(role="municipal_officer", org="131024") as other:
        assert other.get(f"/v1/programmes/{station['id']}").status_code == 404
        assert other.post(f"/v1/places/{place['id']}/sessions", json={
            "held_on": "2024-06-04", "participants": 1, "staff": 1}).status_code == 404
    with intake.client() as anonymous:
        places = eventually(lambda: anonymous.get("/public/v1/places", params={"municipality": TOWN}).json()["data"])
        assert [(p["name"], p["schedule"]["tue"]) for p in places] == [("居場所ひだまり", ["13:00", "17:00"])]
        assert "p-1" not in anonymous.get("/public/v1/places").text

    # The satellite was started and handed over after the sessions: wait for all of INTAKE.
    drained(nats_server.url, intake, reporting)
    with reporting.client(role="ministry", org="mhlw") as ministry:
        report = ministry.get("/v1/reports/programmes", params={"fy": 2024}).json()
        assert report["place_sessions"] == 2 and report["label"] == "令和6年度"
        assert report["local_governments_by_programme"]["station"] == 1
        assert report["local_governments_by_programme"]["satellite"] == 1 and report["local_governments"] == 2
        assert (report["places"], report["place_participants"]) == (1, 12)
        assert report["group_activities"]["family_class"] == 1
        last = ministry.get("/v1/reports/programmes", params={"fy": 2025}).json()
        after = ministry.get("/v1/reports/programmes", params={"fy": 2026}).json()
        assert last["local_governments_by_programme"]["satellite"] == 1  # handed over on 31 March 2026,
        assert after["local_governments_by_programme"]["satellite"] == 0  # so FY2025 is its last year
    with reporting.client(role="municipal_officer", org="131024") as other:
        assert other.get("/v1/reports/programmes", params={"fy": 2024}).json()["local_governments"] == 0


def test_a_prefecture_backs_up_its_municipalities_and_each_side_sees_it(nats_server, start_service):
    intake = start_service("intake", nats_server.url)
    reporting = start_service("reporting", nats_server.url)
    with intake.client(role="municipal_officer", org=TOWN) as town:
        programme = town.post("/v1/programmes", json={
            "kind": "support_programme", "name": "千代田区ひきこもりサポート事業", "starts_on": "2024-04-01",
            "activities": ["place", "startup_preparation"],
            "funding": {"national": "1/2", "prefecture": "1/4", "municipality": "1/4"}}).json()
        assert town.post("/v1/backups", json={"municipality": TOWN, "kind": "advice",
                                               "given_on": "2024-05-01"}).status_code == 403
    staff = {"municipality": TOWN, "kind": "staff_dispatched", "given_on": "2024-05-10",
             "programme_id": programme["id"], "staff_role": "municipal_support_worker", "staff_days": 3,
             "note": "Aさんの事例について助言"}
    with intake.client(role="prefecture_officer", org=PREF) as pref:
        for bad in ({**staff, "municipality": "271004"},  # 大阪市 is not inside 東京都
                    {**staff, "staff_role": None}, {**staff, "kind": "advice"},
                    {**staff, "kind": "gardening"}, {**staff, "programme_id": "00000000-0000-0000-0000-000000000001"}):
            r = pref.post("/v1/backups", json=bad)
            assert r.status_code in (404, 422), (bad, r.text)
        r = pref.post("/v1/backups", json=staff, headers={"Idempotency-Key": "b-1"})
        assert r.status_code == 201, r.text
        given = r.json()
        assert (given["staff_days"], given["note"]) == (3, "Aさんの事例について助言")
        assert pref.post("/v1/backups", json=staff, headers={"Idempotency-Key": "b-1"}).json()["id"] == given["id"]
        pref.post("/v1/backups", json={"municipality": TOWN, "kind": "startup_support", "given_on": "2024-06-01",
                                        "programme_id": programme["id"]}).raise_for_status()
        assert len(pref.get("/v1/backups").json()["data"]) == 2
    with intake.client(role="municipal_officer", org=TOWN) as town:  # the municipality sees what it received
        received = town.get("/v1/backups").json()["data"]
        assert sorted(b["kind"] for b in received) == ["staff_dispatched", "startup_support"]
        assert town.get(f"/v1/backups/{given['id']}").json()["note"] == "Aさんの事例について助言"
    with intake.client(role="municipal_officer", org="131024") as other:
        assert other.get(f"/v1/backups/{given['id']}").status_code == 404
        assert other.get("/v1/backups").json()["data"] == []
    with intake.client(role="prefecture_officer", org="270008") as osaka:
        assert osaka.get(f"/v1/backups/{given['id']}").status_code == 404

    messages = drained(nats_server.url, intake, reporting)  # the second back-up came after the first
    with reporting.client(role="prefecture_officer", org=PREF) as pref:
        report = pref.get("/v1/reports/programmes", params={"fy": 2024}).json()
        assert report["municipalities_backed_up"] == 1 and report["prefectural_backups"]["staff_dispatched"] == 1
        assert report["prefectural_backups"]["startup_support"] == 1 and report["staff_days_dispatched"] == 3
    for m in messages:
        assert "Aさん" not in m.data.decode()
