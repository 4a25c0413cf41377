"""GET /v1/agencies (issue 18): an officer lists the agencies of its jurisdiction, retired ones
flagged, in pages; the public directory keeps showing active agencies only."""

from __future__ import annotations

PREF, CHIYODA, CHUO, OSAKA_PREF = "130001", "131016", "131024", "270008"


def _register(client, name: str, category: str, municipality: str) -> str:
    r = client.post("/v1/agencies", json={"name": name, "category": category, "municipality": municipality,
                                           "address": "住所1-1", "phone": "03-1111-1111"})
    assert r.status_code == 201, r.text
    return r.json()["id"]


def _all_pages(client, **params) -> list[dict]:
    seen, cursor = [], None
    while True:
        r = client.get("/v1/agencies", params={**params, **({"cursor": cursor} if cursor else {})})
        assert r.status_code == 200, r.text
        seen += r.json()["data"]
        cursor = r.json()["next_cursor"]
        if cursor is None:
            return seen


def test_an_officer_lists_the_agencies_of_its_jurisdiction_with_retired_ones_flagged(nats_server, start_service):
    intake = start_service("intake", nats_server.url)
    with intake.client(role="prefecture_officer", org=PREF) as tokyo, \
            intake.client(role="municipal_officer", org=CHIYODA) as chiyoda, \
            intake.client(role="prefecture_officer", org=OSAKA_PREF) as osaka:
        health = _register(tokyo, "千代田区保健所", "public_health_centre", CHIYODA)
        work = _register(tokyo, "中央区ハローワーク", "hello_work", CHUO)
        own = _register(chiyoda, "千代田区福祉事務所", "welfare_office", CHIYODA)
        _register(osaka, "大阪の病院", "medical_institution", "271004")
        r = tokyo.post(f"/v1/agencies/{work}/retirement", json={"retired_on": "2016-06-30"})
        assert r.status_code == 200 and r.json()["retired"] is True

        listed = {a["id"]: a for a in _all_pages(tokyo, limit=1)}  # one per page: the cursor walks them all
        assert set(listed) == {health, work, own}
        assert listed[work]["retired"] is True and listed[work]["retired_on"] == "2016-06-30"
        assert listed[health]["retired"] is False and listed[health]["category_label"] == "保健所・保健センター"
        assert {a["id"] for a in _all_pages(chiyoda)} == {health, own}
        assert {a["id"] for a in _all_pages(tokyo, retired="true")} == {work}
        assert {a["id"] for a in _all_pages(tokyo, category="hello_work", retired="false")} == set()
        assert tokyo.get("/v1/agencies", params={"category": "zoo"}).status_code == 422
        assert tokyo.get(f"/v1/agencies/{work}").json()["retired"] is True
        # one agency by id: for the officers whose list shows it; another jurisdiction's is unknown
        assert chiyoda.get(f"/v1/agencies/{health}").status_code == 200
        assert chiyoda.get(f"/v1/agencies/{work}").status_code == 404  # 中央区's, retired
        assert osaka.get(f"/v1/agencies/{work}").status_code == 404
        assert osaka.get(f"/v1/agencies/{health}").status_code == 404
    with intake.client(role="centre_staff", org="6f1c2a34-0000-4000-8000-00000000000a") as staff:
        assert staff.get("/v1/agencies").status_code == 403
    with intake.client() as anonymous:
        names = [a["name"] for a in anonymous.get("/public/v1/agencies").json()["data"]]
        assert "中央区ハローワーク" not in names and "千代田区保健所" in names
