"""A centre carries its 開所日 and 廃止日 (registration and PUT …/dates), and reporting counts it in
every fiscal year it was open."""

from __future__ import annotations

from tests.e2e.test_consultation_slice import PREF
from tests.harness import eventually


def test_a_centre_registered_with_its_opening_and_later_closed_counts_in_the_years_it_was_open(
        nats_server, start_service):
    intake = start_service("intake", nats_server.url)
    reporting = start_service("reporting", nats_server.url)
    with intake.client(role="prefecture_officer", org=PREF) as officer:
        r = officer.post("/v1/centres", json={"name": "東京都ひきこもりサポートネット", "kind": "adult",
                                              "prefecture": PREF, "opened_on": "2014-06-01"})
        assert r.status_code == 201, r.text
        centre = r.json()
        assert (centre["opened_on"], centre["closed_on"]) == ("2014-06-01", None)
        r = officer.post("/v1/centres", json={"name": "閉所日だけ", "kind": "adult", "prefecture": PREF,
                                              "closed_on": "2016-03-31"})
        assert r.status_code == 422 and r.headers["content-type"] == "application/problem+json"
        r = officer.put(f"/v1/centres/{centre['id']}/dates", json={"opened_on": "2014-06-01",
                                                                   "closed_on": "2014-05-31"})
        assert r.status_code == 422 and r.headers["content-type"] == "application/problem+json"
        r = officer.put(f"/v1/centres/{centre['id']}/dates", json={"opened_on": "2014-06-01",
                                                                   "closed_on": "2017-03-31"})
        assert r.status_code == 200 and r.json()["closed_on"] == "2017-03-31"
    with intake.client(role="prefecture_officer", org="270008") as stranger:  # 大阪府 does not run it
        r = stranger.put(f"/v1/centres/{centre['id']}/dates", json={"opened_on": "2010-04-01"})
        assert r.status_code in (403, 404)

    with reporting.client(role="ministry", org="mhlw") as ministry:
        def counts():
            # FY2016 and 2017 first: once they show the closing (the last event), the years read after
            # them see every event before it (read the other way round, FY2014 could be read before
            # the centre's registration was applied, and 2016/2017 after both: FLAKY in CI)
            found = {fy: ministry.get("/v1/reports/centres", params={"fy": fy}).json()["centres"]
                     for fy in (2016, 2017, 2013, 2014)}
            return found if found[2016] == 1 and found[2017] == 0 else None
        assert eventually(counts) == {2013: 0, 2014: 1, 2016: 1, 2017: 0}
