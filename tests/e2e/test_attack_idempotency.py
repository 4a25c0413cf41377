"""An outsider's probes of the creations ledger (Idempotency-Key) and of the GETs of created
resources: equivalent bodies written differently are the same request (200, never 422), a key is
scoped to where it was used, another tenant's ids are 404, a race with one key makes one resource.
Each test reproduced a finding of the attack on stop 22's change before its fix, or shows what held."""

from __future__ import annotations

import threading

import pytest

from tests.e2e.test_consultation_slice import _setup_case
from tests.e2e.test_dispatch_flow import CITY, DAY, REPORT, SUBJECT, start_dispatch
from tests.e2e.test_registry_lifecycle import REGISTRAR, registered
from tests.harness import eventually, log_positions, published, status


def _post_raw(client, path: str, raw: str, key: str):
    return client.post(path, content=raw.encode(), headers={"Idempotency-Key": key,
                                                            "Content-Type": "application/json"})


def _twice(client, path: str, first: dict, second: dict, key: str) -> tuple[int, int]:
    a = client.post(path, json=first, headers={"Idempotency-Key": key})
    b = client.post(path, json=second, headers={"Idempotency-Key": key})
    assert a.status_code == 201, a.text
    return a.status_code, b.status_code


def test_equivalent_bodies_under_one_key_are_one_request_and_keys_and_ids_stay_in_their_tenant(
        nats_server, start_service):
    intake = start_service("intake", nats_server.url)
    centre_a, case_a = _setup_case(intake)
    centre_b, case_b = _setup_case(intake)
    base = f"/v1/cases/{case_a}"
    with intake.client(role="centre_staff", org=centre_a) as a, intake.client(role="centre_staff", org=centre_b) as b:
        # Field order, whitespace, an optional field sent as null, a default sent: the same request.
        visit = _post_raw(a, f"{base}/outreach-visits",
                          '{"staff_role":"coordinator","occurred_at":"2016-05-30T11:00:00+09:00"}', "k-order")
        assert visit.status_code == 201, visit.text
        again = _post_raw(a, f"{base}/outreach-visits", '{ "occurred_at" : "2016-05-30T11:00:00+09:00" ,\n'
                          ' "staff_role": "coordinator", "summary": null }', "k-order")
        assert (again.status_code, again.json()) == (200, visit.json())
        consultation = {"channel": "phone", "occurred_at": "2016-05-30T10:00:00+09:00"}
        assert _twice(a, f"{base}/consultations", consultation,
                      {**consultation, "consulted_by": "person", "summary": None}, "k-default") == (201, 200)
        request = {"municipality": "131016", "needs": ["visit", "interview"], "requested_on": "2016-06-04"}
        assert _twice(a, f"{base}/supporter-requests", request,
                      {**request, "needs": ["interview", "visit"], "preferences": {}}, "k-req") == (201, 200)

        # An empty key is refused (it made a new resource at every retry), and writes nothing.
        written = log_positions(intake)
        empty = a.post(f"{base}/consultations", json=consultation, headers={"Idempotency-Key": ""})
        assert empty.status_code == 422 and empty.headers["content-type"].startswith("application/problem+json")
        assert log_positions(intake) == written

        # The key on another tenant's case makes a new resource there, and reveals nothing of A's.
        other = b.post(f"/v1/cases/{case_b}/outreach-visits",
                       json={"staff_role": "coordinator", "occurred_at": "2016-05-30T11:00:00+09:00"},
                       headers={"Idempotency-Key": "k-order"})
        assert other.status_code == 201 and other.json()["visit_id"] != visit.json()["visit_id"]
        assert b.post(f"{base}/outreach-visits", json={"staff_role": "coordinator",
                                                       "occurred_at": "2016-05-30T11:00:00+09:00"},
                      headers={"Idempotency-Key": "k-order"}).status_code == 404
        # Another tenant's ids, under A's case or under B's own: 404.
        visit_id = visit.json()["visit_id"]
        for path in (f"{base}/outreach-visits/{visit_id}", f"/v1/cases/{case_b}/outreach-visits/{visit_id}"):
            assert b.get(path).status_code == 404, path

        # Eight requests racing with one key: one resource, one event, the others answer it.
        body = {"channel": "visit", "occurred_at": "2016-06-01T10:00:00+09:00", "summary": "競争"}
        answers: list = []
        written = len(log_positions(intake))

        def post() -> None:
            with intake.client(role="centre_staff", org=centre_a) as c:
                answers.append(c.post(f"{base}/consultations", json=body, headers={"Idempotency-Key": "k-race"}))

        threads = [threading.Thread(target=post) for _ in range(8)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        assert sorted(r.status_code for r in answers) == [200] * 7 + [201]
        assert len({r.json()["id"] for r in answers}) == 1
        assert len(log_positions(intake)) == written + 1

    with intake.client(role="municipal_officer", org="131016") as town:
        funding = {"national": "1/2", "prefecture": "1/4", "municipality": "1/4"}
        programme = {"kind": "station", "name": "千代田ステーション", "starts_on": "2016-04-01", "funding": funding,
                     "operators": ["131016", "131024"], "activities": ["place", "family_class"]}
        reordered = {**programme, "operators": ["131024", "131016"], "activities": ["family_class", "place"]}
        assert _twice(town, "/v1/programmes", programme, reordered, "k-prog") == (201, 200)

    # What the relay published (the bytes its outbox rows held): no personal text, no key.
    bodies = [m.data.decode() for m in published(intake, nats_server.url)]
    assert any("千代田ステーション" in b for b in bodies)  # text is matched as written (not \u-escaped)
    assert not any(s in b for b in bodies for s in ("山田太郎", "千代田区1-1", "競争", "k-race", "k-order"))


def test_a_supporter_request_with_requested_by_given_as_its_default_is_the_same_request(nats_server, start_service):
    intake = start_service("intake", nats_server.url)
    centre, case = _setup_case(intake)  # a family's case
    request = {"municipality": "131016", "needs": ["visit"], "requested_on": "2016-06-04"}
    with intake.client(role="centre_staff", org=centre) as staff:
        assert _twice(staff, f"/v1/cases/{case}/supporter-requests", request,
                      {**request, "requested_by": "family"}, "k") == (201, 200)


def test_a_consultation_at_the_same_instant_written_in_utc_is_the_same_request(nats_server, start_service):
    intake = start_service("intake", nats_server.url)
    centre, case = _setup_case(intake)
    with intake.client(role="centre_staff", org=centre) as staff:
        assert _twice(staff, f"/v1/cases/{case}/consultations",
                      {"channel": "phone", "occurred_at": "2016-05-30T10:00:00+09:00"},
                      {"channel": "phone", "occurred_at": "2016-05-30T01:00:00Z"}, "k") == (201, 200)


@pytest.fixture
def running_dispatch(nats_server, start_service):
    """An active dispatch asked for by a centre (which follows it), with its supporter's activity
    report and incident: (dispatch service, centre id, supporter id, report path, incident path).
    Never more than two services at once."""
    registry = start_service("registry", nats_server.url)
    dispatch = start_service("dispatch", nats_server.url)
    with registry.client(role="prefecture_officer", org=REGISTRAR) as officer:
        sid = registered(officer)["id"]
        assert officer.post("/v1/rosters", json={"municipality": CITY, "provided_on": DAY}).status_code == 201
    with dispatch.client(role="municipal_officer", org=CITY) as city:
        eventually(lambda: city.get("/v1/roster").json()["data"])
    registry.stop()
    intake = start_service("intake", nats_server.url)
    centre_id, case_id = _setup_case(intake)
    with intake.client(role="centre_staff", org=centre_id) as staff:
        assert staff.post(f"/v1/cases/{case_id}/supporter-requests", json={
            "municipality": CITY, "needs": ["visit"], "requested_on": DAY}).status_code == 201
    with dispatch.client(role="municipal_officer", org=CITY) as city:
        did = eventually(lambda: city.get("/v1/dispatches", params={"status": "requested"}).json()["data"])[0][
            "dispatch_id"]
        intake.stop()
        base = f"/v1/dispatches/{did}"
        city.post(f"/v1/roster/{sid}/intent-reconfirmation", json={"on": DAY}).raise_for_status()
    start_dispatch(dispatch, base, sid, details=SUBJECT, consent={"items": ["name"], "support_meetings": True})
    with dispatch.client(role="supporter", org=REGISTRAR, sub=sid) as me:
        report = me.post(f"{base}/activity-reports", json=REPORT, headers={"Idempotency-Key": "k-rep"})
        assert report.status_code == 201, report.text
        incident = me.post(f"{base}/incidents", json={"occurred_on": DAY, "severity": "minor", "description": "転倒"},
                           headers={"Idempotency-Key": "k-inc"})
        assert incident.status_code == 201, incident.text
    return dispatch, centre_id, sid, report.headers["location"], incident.headers["location"]


def test_the_records_of_a_dispatch_are_404_to_other_tenants_and_its_needs_are_a_set(running_dispatch, nats_server):
    dispatch, _, _, report, incident = running_dispatch
    bodies = [m.data.decode() for m in published(dispatch, nats_server.url)]
    assert bodies and not any(s in b for b in bodies for s in (SUBJECT["name"], SUBJECT["contact"], "転倒",
                                                               REPORT["content"], REPORT["record"]))
    with dispatch.client(role="municipal_officer", org=CITY) as city:
        asked = {"needs": ["visit", "interview"], "requested_on": DAY}
        reordered = {**asked, "needs": ["interview", "visit"]}
        assert _twice(city, "/v1/dispatches", asked, reordered, "k-needs") == (201, 200)
        assert city.get(report).status_code == city.get(incident).status_code == 200
    with dispatch.client(role="municipal_officer", org="131024") as other_city:
        assert other_city.get(report).status_code == other_city.get(incident).status_code == 404
    with dispatch.client(role="supporter", org=REGISTRAR, sub="00000000-0000-0000-0000-000000000001") as other:
        assert other.get(report).status_code == other.get(incident).status_code == 404


def test_the_following_centre_reads_no_activity_report_or_incident(running_dispatch):
    dispatch, centre_id, _, report, incident = running_dispatch
    with dispatch.client(role="centre_staff", org=centre_id) as centre:
        assert centre.get(report.rsplit("/", 2)[0]).status_code == 200  # it follows the dispatch
        assert centre.get(report.rsplit("/", 2)[0] + "/timeline").status_code == 403
        assert centre.get(report).status_code == centre.get(incident).status_code == 403  # like the timeline


def test_reporting_prefecture_only_narrows_and_a_submission_key_stays_in_its_org(nats_server, start_service):
    reporting = start_service("reporting", nats_server.url)
    path = "/v1/reports/consultations/submissions"
    with reporting.client(role="prefecture_officer", org="130001") as tokyo, \
            reporting.client(role="prefecture_officer", org="140007") as kanagawa:
        assert status(tokyo.get("/v1/reports/consultations", params={"fy": 2016, "prefecture": "140007"})) == 403
        assert status(tokyo.get("/v1/reports/consultations", params={"fy": 2016, "prefecture": "130000"})) == 422
        assert status(tokyo.get("/v1/reports/consultations", params={"fy": 2016, "prefecture": "130001"})) == 200
        first = tokyo.post(path, params={"fy": 2016}, headers={"Idempotency-Key": "k-sub"})
        assert status(first) == 201, first.text
        assert status(kanagawa.get(first.headers["location"])) == 404
        theirs = kanagawa.post(path, params={"fy": 2016}, headers={"Idempotency-Key": "k-sub"})
        assert status(theirs) == 201 and theirs.json()["submission_id"] != first.json()["submission_id"]
        assert status(kanagawa.post(path, params={"fy": 2017}, headers={"Idempotency-Key": "k-sub"})) == 422
        assert status(tokyo.post(path, params={"fy": 2016}, headers={"Idempotency-Key": "k-sub"})) == 200
    with reporting.client(role="municipal_officer", org="131016") as town:
        mine = town.get("/v1/reports/supporters", params={"fy": 2016})
        narrowed = town.get("/v1/reports/supporters", params={"fy": 2016, "prefecture": "130001"})
        def counts(r):
            return {k: v for k, v in r.json().items() if k != "computed_from"}

        assert status(narrowed) == 200 and counts(narrowed) == counts(mine)
        assert status(town.get("/v1/reports/supporters", params={"fy": 2016, "prefecture": "140007"})) == 403
    with reporting.client(role="centre_staff", org="00000000-0000-0000-0000-00000000000c") as centre:
        assert status(centre.get("/v1/reports/consultations", params={"fy": 2016, "prefecture": "130001"})) == 403
