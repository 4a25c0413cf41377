"""Attack (review): a supporter is their id *and* the registrar they are registered with, in
registry and dispatch alike (libs/platform/web/supporters.py). A supporter id is no secret (it is on
the roster, in dispatches and on the bus); before, a supporter token bearing it was that supporter
whatever organisation it named, so another prefecture's supporter token — or one of a city's — read
the registration and the person's details and acted on the dispatches and deployments. A token of
another issuer is refused before any of this (401)."""

from __future__ import annotations

import time

import httpx
import jwt

from tests.e2e.test_deployments import ACTIVITY, _place
from tests.e2e.test_dispatch_flow import CITY, DAY, REPORT, SUBJECT, rostered
from tests.e2e.test_registry_lifecycle import REGISTRAR
from tests.harness import JWT_SECRET, TLS, eventually, status

OSAKA = "270008"  # another prefecture: registers supporters of its own


def _as(service, sid: str, *, org: str = REGISTRAR, issuer: str = "tsunagu-dev") -> httpx.Client:
    """A supporter token bearing `sid`, of `org`, signed with the deployment's key by `issuer`."""
    now = int(time.time())
    token = jwt.encode({"sub": sid, "org": org, "roles": ["supporter"], "iss": issuer, "iat": now, "exp": now + 600},
                       JWT_SECRET, algorithm="HS256")
    return httpx.Client(base_url=service.url, headers={"Authorization": f"Bearer {token}"}, timeout=30, verify=TLS)


def _refused(r: httpx.Response, *codes: int) -> bool:
    return r.status_code in codes and r.headers["content-type"].startswith("application/problem+json")


def _impostors(service, sid: str) -> list[httpx.Client]:
    """The supporter's id with another prefecture's org, with the city's (where they are dispatched)."""
    return [_as(service, sid, org=OSAKA), _as(service, sid, org=CITY)]


def test_a_supporter_token_of_another_org_or_issuer_reaches_nothing_of_the_supporter(nats_server, start_service):
    registry = start_service("registry", nats_server.url)
    dispatch = start_service("dispatch", nats_server.url)
    sid = rostered(registry)[0]
    card, record = f"/v1/supporters/{sid}/card", f"/v1/supporters/{sid}"
    for stranger in _impostors(registry, sid):
        with stranger:
            assert _refused(stranger.get(record), 404) and _refused(stranger.get(card), 404)
            assert _refused(stranger.post(f"{record}/details-changes", json={"changed_on": DAY, "address": "x"}), 404)
            assert _refused(stranger.post(f"{record}/consent-withdrawal", json={"withdrawn_on": DAY}), 404)
    with _as(registry, sid, issuer="https://idp.elsewhere.example") as elsewhere:
        assert _refused(elsewhere.get(record), 401)
    with _as(registry, sid) as me:
        assert status(me.get(record)) == 200 and me.get(record).json()["details"]["name"] == "山田花子"
        assert status(me.get(card)) == 200
    registry.stop()

    with dispatch.client(role="municipal_officer", org=CITY) as city:
        eventually(lambda: city.get("/v1/roster").json()["data"])
        city.post(f"/v1/roster/{sid}/intent-reconfirmation", json={"on": DAY}).raise_for_status()
        asked = city.post("/v1/dispatches", json={"needs": ["visit"], "requested_on": DAY}).json()
        base = f"/v1/dispatches/{asked['id']}"
        city.post(f"{base}/assignment", json={"supporter_id": sid, "assigned_on": DAY}).raise_for_status()
        city.post(f"{base}/subject-details", json={"details": SUBJECT}).raise_for_status()
        city.post(f"{base}/subject-consent", json={"items": ["name"], "support_meetings": True, "costs_self_paid": True,
                                                   "signed_on": DAY}).raise_for_status()
        city.post(f"{base}/plan", json={"activities": ["visit"], "purpose": "p", "activity_plan": "a",
                                         "content": "c", "agreed_on": DAY}).raise_for_status()
        for stranger in _impostors(dispatch, sid):  # assigned, not accepted yet: nobody else accepts for them
            with stranger:
                assert _refused(stranger.post(f"{base}/supporter-acceptance", json={"accepted_on": DAY}), 404)
        with _as(dispatch, sid) as me:
            me.post(f"{base}/supporter-acceptance", json={"accepted_on": DAY}).raise_for_status()
        city.post(f"{base}/start", json={"on": DAY}).raise_for_status()
    intake = start_service("intake", nats_server.url)
    _, place_id = _place(intake, CITY, "居場所ひだまり")
    with dispatch.client(role="municipal_officer", org=CITY) as city:
        deployed = eventually(lambda: (r := city.post("/v1/deployments", json={
            "supporter_id": sid, "target_kind": "place", "target_id": place_id, "role": "place_operation",
            "starts_on": DAY})).status_code == 201 and r.json())
    placed = f"/v1/deployments/{deployed['id']}"

    for stranger in _impostors(dispatch, sid):
        with stranger:
            assert _refused(stranger.get(base), 404) and _refused(stranger.get(f"{base}/subject"), 404)
            assert _refused(stranger.post(f"{base}/activity-reports", json=REPORT), 404)
            assert stranger.get("/v1/my/dispatches").json()["data"] == []
            assert _refused(stranger.get(placed), 404)
            assert _refused(stranger.post(f"{placed}/acceptance", json={"accepted_on": DAY}), 404)
            assert stranger.get("/v1/deployments").json()["data"] == []
    with _as(dispatch, sid, issuer="https://idp.elsewhere.example") as elsewhere:
        assert _refused(elsewhere.get(base), 401) and _refused(elsewhere.get(placed), 401)
    with _as(dispatch, sid) as me:  # the genuine supporter still does all of it
        assert me.get(f"{base}/subject").json()["details"] == {"name": SUBJECT["name"]}
        assert status(me.post(f"{base}/activity-reports", json=REPORT)) == 201
        assert [d["dispatch_id"] for d in me.get("/v1/my/dispatches").json()["data"]] == [base.rsplit("/", 1)[1]]
        assert status(me.post(f"{placed}/acceptance", json={"accepted_on": DAY})) == 200
        assert status(me.post(f"{placed}/activity-reports", json=ACTIVITY)) == 201
        assert [d["deployment_id"] for d in me.get("/v1/deployments").json()["data"]] == [deployed["id"]]
