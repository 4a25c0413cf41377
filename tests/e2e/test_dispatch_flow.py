"""Registry → dispatch over real NATS: roster, request, consents, start, reports, automatic end."""

from __future__ import annotations

import asyncio
from datetime import date, datetime

import nats

from libs.domain.fiscal import JST, fiscal_year
from libs.platform.messaging.cloudevents import Envelope
from tests.e2e.test_consultation_slice import _setup_case
from tests.e2e.test_registry_lifecycle import REGISTRAR, registered
from tests.harness import eventually, published, stream_messages

CITY = "131016"  # 千代田区 runs dispatch
TODAY = date.today()
DAY = TODAY.isoformat()
SUBJECT = {"name": "佐藤一郎", "address": "東京都千代田区九段南1-2", "contact": "090-0000-0000",
           "medical_history": "うつ病の既往"}
REPORT = {"reported_on": DAY, "activity_date": DAY, "starts_at": "14:00", "ends_at": "15:30",
          "place": "本人宅", "activity_type": "visit", "content": "玄関先で会話", "record": "表情は穏やか",
          "next_step": "continue"}


def _republish(nats_url: str, message) -> None:
    async def go() -> None:
        nc = await nats.connect(nats_url)
        await nc.jetstream().publish(message.subject, message.data, headers={"Nats-Msg-Id": "redelivered-copy"})
        await nc.close()

    asyncio.run(go())


def rostered(registry, n: int = 1) -> list[str]:
    """The ids of `n` supporters registered by REGISTRAR and given on CITY's roster (dispatch
    learns of them over NATS)."""
    with registry.client(role="prefecture_officer", org=REGISTRAR) as officer:
        sids = [registered(officer)["id"] for _ in range(n)]
        officer.post("/v1/rosters", json={"municipality": CITY, "provided_on": DAY}).raise_for_status()
    return sids


def start_dispatch(dispatch, base: str, sid: str, *, consent: dict | None = None, details: dict | None = None,
                   activities: tuple[str, ...] = ("visit",)) -> None:
    """Take the requested dispatch at `base` to started with supporter `sid` (intent reconfirmed):
    the assignment, the subject's details (when given), their consent (`consent` overrides: no
    items, no support meetings), the plan, the supporter's acceptance, the start."""
    with dispatch.client(role="municipal_officer", org=CITY) as city:
        city.post(f"{base}/assignment", json={"supporter_id": sid, "assigned_on": DAY}).raise_for_status()
        if details is not None:
            city.post(f"{base}/subject-details", json={"details": details}).raise_for_status()
        city.post(f"{base}/subject-consent", json={"items": [], "support_meetings": False, "costs_self_paid": True,
                                                   "signed_on": DAY, **(consent or {})}).raise_for_status()
        city.post(f"{base}/plan", json={"activities": list(activities), "purpose": "p", "activity_plan": "a",
                                         "content": "c", "agreed_on": DAY}).raise_for_status()
    with dispatch.client(role="supporter", org=REGISTRAR, sub=sid) as me:
        me.post(f"{base}/supporter-acceptance", json={"accepted_on": DAY}).raise_for_status()
    with dispatch.client(role="municipal_officer", org=CITY) as city:
        city.post(f"{base}/start", json={"on": DAY}).raise_for_status()


def test_a_dispatch_from_request_to_the_automatic_end_on_revocation(nats_server, start_service):
    registry = start_service("registry", nats_server.url)
    dispatch = start_service("dispatch", nats_server.url)
    intake = start_service("intake", nats_server.url)

    with registry.client(role="prefecture_officer", org=REGISTRAR) as officer:
        supporter = registered(officer)
        sid = supporter["id"]
        r = officer.post("/v1/rosters", json={"municipality": CITY, "provided_on": DAY})
        assert r.status_code == 201, r.text

    centre_id, case_id = _setup_case(intake)
    with intake.client(role="centre_staff", org=centre_id) as staff:
        r = staff.post(f"/v1/cases/{case_id}/supporter-requests", json={
            "municipality": CITY, "needs": ["visit", "information"], "preferences": {"supporter_gender": "female"},
            "requested_on": DAY})
        assert r.status_code == 201, r.text

    with dispatch.client(role="municipal_officer", org=CITY) as city:
        entry = eventually(lambda: city.get("/v1/roster").json()["data"])[0]
        assert (entry["supporter_id"], entry["registrar"], entry["ended"]) == (sid, REGISTRAR, None)
        requested = eventually(lambda: city.get("/v1/dispatches", params={"status": "requested"}).json()["data"])
        assert requested[0]["source"] == "intake" and requested[0]["subject_ref"] == case_id
        did = requested[0]["dispatch_id"]
        base = f"/v1/dispatches/{did}"
        assert city.get(base).json()["requested_by"] == "family"  # the family asked (a 家族 case)...

        r = city.post(f"{base}/start", json={"on": DAY})
        assert r.status_code == 409 and r.json()["missing"] == [
            "supporter_assigned", "subject_consent", "supporter_consent", "activity_plan"]
        r = city.post(f"{base}/assignment", json={"supporter_id": sid, "assigned_on": DAY})
        assert r.status_code == 409 and r.json()["type"].endswith("/supporter-not-eligible")
        assert "intent" in r.json()["reasons"][0]
        assert city.post(f"/v1/roster/{sid}/intent-reconfirmation", json={"on": DAY}).status_code == 200
        assert city.post(f"{base}/assignment", json={"supporter_id": sid, "assigned_on": DAY}).status_code == 200
        assert city.post(f"{base}/subject-details", json={"details": SUBJECT}).status_code == 200
        assert city.post(f"{base}/subject-consent", json={
            "items": ["name", "address", "contact"], "support_meetings": True, "costs_self_paid": True,
            "signed_on": DAY}).status_code == 200
        assert city.post(f"{base}/plan", json={
            "activities": ["visit"], "purpose": "外出のきっかけづくり", "activity_plan": "週1回訪問",
            "content": "趣味の話", "agreed_on": DAY}).status_code == 200
        receipt = eventually(lambda: (r := city.get(f"{base}/consent-receipt")).status_code == 200 and r.json())
        assert receipt["receipt"]["piiPrincipalId"] == case_id  # the person, pseudonymous
        assert receipt["receipt"]["givenBy"] == "person"  # ...but the person consented (002: not forced)
        purposes = receipt["receipt"]["services"][0]["purposes"]
        assert purposes[0]["piiCategory"] == ["name", "address", "contact"] and purposes[0]["thirdPartyName"] == [sid]
        r = city.post(f"{base}/start", json={"on": DAY})
        assert r.status_code == 409 and r.json()["missing"] == ["supporter_consent"]

    with dispatch.client(role="centre_staff", org=centre_id) as centre:  # the person consented to meetings
        assert centre.get(base).json()["referring_centre_id"] == centre_id
        assert centre.get(f"{base}/subject").status_code == 403  # but never the details
        assert centre.post(f"{base}/start", json={"on": DAY}).status_code == 403
    with dispatch.client(role="centre_staff", org="00000000-0000-0000-0000-00000000000c") as stranger:
        assert stranger.get(base).status_code == 404
    with dispatch.client(role="supporter", org=REGISTRAR, sub=sid) as me:
        assert me.post(f"{base}/supporter-acceptance", json={"accepted_on": DAY}).status_code == 200
    with dispatch.client(role="municipal_officer", org=CITY) as city:
        r = city.post(f"{base}/start", json={"on": DAY})
        assert r.status_code == 200 and r.json()["status"] == "active"

    with dispatch.client(role="supporter", org=REGISTRAR, sub=sid) as me:
        shown = me.get(f"{base}/subject").json()
        assert shown["details"] == {k: SUBJECT[k] for k in ("name", "address", "contact")}
        assert [d["dispatch_id"] for d in me.get("/v1/my/dispatches").json()["data"]] == [did]
        r = me.post(f"{base}/activity-reports", json={**REPORT, "activity_type": "other",
                                                       "activity_type_other": "図書館へ同行", "next_step": "pause"})
        assert r.status_code == 201, r.text
        report_id = r.json()["report_id"]
        assert me.get(r.headers["location"]).json() == r.json()
        assert me.get(base).json()["open_tasks"] == [report_id]
    with dispatch.client(role="supporter", org=REGISTRAR, sub="00000000-0000-0000-0000-000000000001") as other:
        assert other.get(f"{base}/subject").status_code == 404
        assert other.get(base).status_code == 404

    with dispatch.client(role="municipal_officer", org=CITY) as city:
        tasks = city.get("/v1/tasks").json()["data"]
        assert [(t["report_id"], t["next_step"]) for t in tasks] == [(report_id, "pause")]
        assert city.get(base).json()["status"] == "active"  # 中断 prompts the officer; it ends nothing
        city.post(f"{base}/activity-reports/{report_id}/review", json={"reviewed_on": DAY}).raise_for_status()
        assert city.get("/v1/tasks").json()["data"] == []
        timeline = [e["type"].split(".")[3] for e in city.get(f"{base}/timeline").json()["events"]]
        assert "InformationDisclosed" in timeline

    with registry.client(role="prefecture_officer", org=REGISTRAR) as officer:
        for kind in ("investigation", "interview"):
            officer.post(f"/v1/supporters/{sid}/revocation-inquiries", json={
                "kind": kind, "held_on": DAY, "findings": "調査"}).raise_for_status()
        officer.post(f"/v1/supporters/{sid}/revocation", json={"revoked_on": DAY,
                                                               "grounds": "取消し"}).raise_for_status()

    with dispatch.client(role="municipal_officer", org=CITY) as city:
        ended = eventually(lambda: (b := city.get(base).json())["status"] == "ended" and b)
        assert ended["end_reason"] == "supporter_registration_revoked"
        # The same RegistrationRevoked delivered again (outside the duplicate window) ends nothing more.
        revoked = next(m for m in stream_messages(nats_server.url, "REGISTRY")
                       if Envelope.from_json(m.data).name == "RegistrationRevoked")
        _republish(nats_server.url, revoked)
        last = len(stream_messages(nats_server.url, "REGISTRY"))
        eventually(lambda: dispatch.runtime.application.tracked_position("REGISTRY") == last)
        timeline = [e["type"].split(".")[3] for e in city.get(f"{base}/timeline").json()["events"]]
        assert timeline.count("DispatchEnded") == 1
        assert eventually(lambda: city.get("/v1/roster").json()["data"][0]["ended"]) == "revoked"

    with dispatch.client(role="supporter", org=REGISTRAR, sub=sid) as me:
        r = me.post(f"{base}/activity-reports", json=REPORT)
        assert r.status_code == 409 and r.json()["type"].endswith("/dispatch-not-active")

    for m in published(dispatch, nats_server.url):
        for secret in ("佐藤一郎", "九段南", "090-0000-0000", "うつ病", "玄関先", "外出のきっかけ", "図書館"):
            assert secret not in m.data.decode()


def test_the_persons_request_to_stop_ends_a_dispatch_at_once(nats_server, start_service):
    registry = start_service("registry", nats_server.url)
    dispatch = start_service("dispatch", nats_server.url)
    sid = rostered(registry)[0]
    with dispatch.client(role="municipal_officer", org=CITY) as city:
        eventually(lambda: city.get("/v1/roster").json()["data"])
        city.post(f"/v1/roster/{sid}/intent-reconfirmation", json={"on": DAY}).raise_for_status()
        d = city.post("/v1/dispatches", json={"needs": ["visit"], "requested_on": DAY,
                                               "subject_details": SUBJECT}).json()
        base = f"/v1/dispatches/{d['id']}"
    start_dispatch(dispatch, base, sid, consent={"items": ["name"]})
    with dispatch.client(role="municipal_officer", org=CITY) as city:
        r = city.post(f"{base}/suspension", json={"reason": "本人の体調", "on": DAY})
        assert r.status_code == 422  # a code: free text would travel in clear
        city.post(f"{base}/suspension", json={"reason": "subject_condition", "note": "入院のため",
                                              "on": DAY}).raise_for_status()
        r = city.post(f"{base}/stop-request", json={"on": DAY})
        assert (r.json()["status"], r.json()["end_reason"]) == ("ended", "subject_requested_stop")
        assert city.post(f"{base}/resumption", json={"on": DAY}).status_code == 409
    with dispatch.client(role="supporter", org=REGISTRAR, sub=sid) as me:
        assert me.get(f"{base}/subject").status_code == 409  # no disclosure after the end
    with dispatch.client(role="municipal_officer", org="131024") as other_city:  # 中央区
        assert other_city.get(base).status_code == 404
        assert other_city.post(f"{base}/stop-request", json={"on": DAY}).status_code == 404
    assert all("入院" not in m.data.decode() for m in published(dispatch, nats_server.url))


def test_supporter_and_dispatch_statistics_come_from_the_registry_and_dispatch_apis(nats_server, start_service):
    registry = start_service("registry", nats_server.url)
    dispatch = start_service("dispatch", nats_server.url)
    reporting = start_service("reporting", nats_server.url)
    fy = fiscal_year(datetime.now(JST))
    with registry.client(role="prefecture_officer", org=REGISTRAR) as officer:
        sids = [registered(officer)["id"] for _ in range(2)]
        officer.post("/v1/rosters", json={"municipality": CITY, "provided_on": DAY}).raise_for_status()
        officer.post(f"/v1/supporters/{sids[1]}/withdrawal", json={"withdrawn_on": DAY,
                                                                   "reason": "r"}).raise_for_status()
    with dispatch.client(role="municipal_officer", org=CITY) as city:
        eventually(lambda: len(city.get("/v1/roster").json()["data"]) == 2)
        city.post(f"/v1/roster/{sids[0]}/intent-reconfirmation", json={"on": DAY}).raise_for_status()
        d = city.post("/v1/dispatches", json={"needs": ["visit"], "requested_on": DAY}).json()
        base = f"/v1/dispatches/{d['id']}"
    start_dispatch(dispatch, base, sids[0], activities=("visit", "accompanied_outing"))
    with dispatch.client(role="supporter", org=REGISTRAR, sub=sids[0]) as me:
        for kind in ("visit", "visit", "accompanied_outing"):
            me.post(f"{base}/activity-reports", json={**REPORT, "activity_type": kind}).raise_for_status()
    with dispatch.client(role="municipal_officer", org=CITY) as city:
        city.post(f"{base}/end", json={"reason": "plan_completed", "on": DAY}).raise_for_status()

    with reporting.client(role="ministry", org="mhlw") as ministry:
        supporters = eventually(lambda: (r := ministry.get("/v1/reports/supporters", params={"fy": fy}).json())
                                ["total"]["withdrawn"] == 1 and r)
        assert supporters["total"]["newly_registered"] == 2 and supporters["total"]["roster_entries"] == 2
        assert [r["tenant"] for r in supporters["registrars"]] == [REGISTRAR]
        report = eventually(lambda: (r := ministry.get("/v1/reports/dispatch", params={"fy": fy}).json())
                            ["total"]["ended"] == 1 and r)
        assert report["total"]["started"] == 1
        assert report["total"]["activities"]["visit"] == 2 and report["total"]["activities"]["accompanied_outing"] == 1
        assert report["total"]["activity_total"] == 3 and report["total"]["met"] is True  # 3 > 0 last year
    with reporting.client(role="municipal_officer", org="131024") as other_city:
        body = other_city.get("/v1/reports/dispatch", params={"fy": fy}).json()
        assert body["municipalities"] == [] and body["total"]["started"] == 0


def test_a_dispatch_started_as_the_registration_ended_is_ended_by_the_sweep(nats_server, start_service):
    from uuid import UUID

    from services.dispatch.domain.roster_entry import RosterEntry
    from services.dispatch.jobs import end_dispatches_of_ended_supporters

    registry = start_service("registry", nats_server.url)
    dispatch = start_service("dispatch", nats_server.url)
    sid = rostered(registry)[0]
    with dispatch.client(role="municipal_officer", org=CITY) as city:
        eventually(lambda: city.get("/v1/roster").json()["data"])
        city.post(f"/v1/roster/{sid}/intent-reconfirmation", json={"on": DAY}).raise_for_status()
        d = city.post("/v1/dispatches", json={"needs": ["visit"], "requested_on": DAY}).json()
        base = f"/v1/dispatches/{d['id']}"
    start_dispatch(dispatch, base, sid)
    # The race: the entry is marked ended while the dispatch starts, so the consumer saw no running one.
    app = dispatch.runtime.application
    entry = app.repository.get(RosterEntry.id_for(CITY, sid))
    entry.end_registration(reason="revoked", effective_on=date.fromisoformat(DAY), cause_event_id="race")
    app.save(entry)
    assert [str(i) for i in end_dispatches_of_ended_supporters(dispatch.runtime)] == [d["id"]]
    assert end_dispatches_of_ended_supporters(dispatch.runtime) == []
    ended = app.repository.get(UUID(d["id"]))
    assert (ended.status, ended.end_reason) == ("ended", "supporter_registration_revoked")


def test_a_supporters_suspension_of_use_suspends_their_dispatch_and_blocks_them_until_resumed(nats_server,
                                                                                               start_service):
    registry = start_service("registry", nats_server.url)
    dispatch = start_service("dispatch", nats_server.url)
    sid, other = rostered(registry, 2)
    with dispatch.client(role="municipal_officer", org=CITY) as city:
        eventually(lambda: len(city.get("/v1/roster").json()["data"]) == 2)
        for s in (sid, other):
            city.post(f"/v1/roster/{s}/intent-reconfirmation", json={"on": DAY}).raise_for_status()
        d = city.post("/v1/dispatches", json={"needs": ["visit"], "requested_on": DAY,
                                               "subject_details": {"name": "佐藤一郎"}}).json()
        base = f"/v1/dispatches/{d['id']}"
    start_dispatch(dispatch, base, sid, consent={"items": ["name"]})

    with registry.client(role="prefecture_officer", org=REGISTRAR) as officer:
        officer.post(f"/v1/supporters/{sid}/use-suspension", json={"on": DAY}).raise_for_status()
    with dispatch.client(role="municipal_officer", org=CITY) as city:
        assert eventually(lambda: city.get(base).json()["status"] == "suspended")
    with dispatch.client(role="supporter", org=REGISTRAR, sub=sid) as me:
        r = me.get(f"{base}/subject")  # no more of the person's details while use is suspended
        assert r.status_code == 409 and r.json()["type"].endswith("/supporter-not-eligible")
    with dispatch.client(role="municipal_officer", org=CITY) as city:
        entry = next(e for e in city.get("/v1/roster").json()["data"] if e["supporter_id"] == sid)
        assert entry["use_suspended"] is True and entry["ended"] is None
        r = city.post(f"{base}/resumption", json={"on": DAY})
        assert r.status_code == 409 and "利用停止" in r.text
        d2 = city.post("/v1/dispatches", json={"needs": ["visit"], "requested_on": DAY}).json()
        r = city.post(f"/v1/dispatches/{d2['id']}/assignment", json={"supporter_id": sid, "assigned_on": DAY})
        assert r.status_code == 409 and r.json()["type"].endswith("/supporter-not-eligible")
        assert city.post(f"/v1/dispatches/{d2['id']}/assignment",
                         json={"supporter_id": other, "assigned_on": DAY}).status_code == 200  # others go on

    with registry.client(role="prefecture_officer", org=REGISTRAR) as officer:
        officer.post(f"/v1/supporters/{sid}/use-resumption", json={"on": DAY}).raise_for_status()
    with dispatch.client(role="municipal_officer", org=CITY) as city:
        eventually(lambda: not next(e for e in city.get("/v1/roster").json()["data"] if e["supporter_id"] == sid)
                   ["use_suspended"])
        r = city.post(f"{base}/resumption", json={"on": DAY})
        assert r.status_code == 200 and r.json()["status"] == "active"

    # The race: the entry is marked while the dispatch was (re)starting; the sweep suspends it.
    from services.dispatch.domain.roster_entry import RosterEntry
    from services.dispatch.jobs import end_dispatches_of_ended_supporters

    app = dispatch.runtime.application
    entry = app.repository.get(RosterEntry.id_for(CITY, sid))
    entry.suspend_use(suspended_on=date.fromisoformat(DAY), cause_event_id="race")
    app.save(entry)
    assert [str(i) for i in end_dispatches_of_ended_supporters(dispatch.runtime)] == [base.rsplit("/", 1)[1]]
    assert end_dispatches_of_ended_supporters(dispatch.runtime) == []
    with dispatch.client(role="municipal_officer", org=CITY) as city:
        assert city.get(base).json()["status"] == "suspended"
