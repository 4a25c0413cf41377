"""The ひきこもりサポーター life cycle through HTTP and NATS (要綱例 第5条〜第17条, 資料2〜6)."""

from __future__ import annotations

from datetime import date, timedelta

from libs.platform.messaging.cloudevents import Envelope
from services.registry.jobs import expire_registrations
from tests.harness import eventually, stream_messages

REGISTRAR = "130001"  # 東京都
MUNICIPALITY = "131016"  # 千代田区
TODAY = date.today()
CONSENT = {"roster_listing": True, "follow_instructions": True, "confidentiality": True,
           "no_discrediting_conduct": True, "continuing_training": True,
           "consent_text_version": "資料4-v1", "signed_on": "2016-06-01"}
APPLICANT = {"furigana": "やまだ はなこ", "name": "山田花子", "gender": "female", "birth_date": "1960-01-02",
             "postal_code": "100-0001", "address": "東京都千代田区千代田1-1", "phone": "03-1234-5678",
             "email": "hanako@example.jp", "motive": "家族会での経験を活かしたい"}


def trained(officer, name: str = "山田花子", starts: str = "2016-05-10") -> str:
    """Schedule a 養成研修, attend it and complete it; returns the 修了番号."""
    course = officer.post("/v1/training-courses", json={
        "kind": "initial", "title": "ひきこもりサポーター養成研修", "starts_on": starts,
        "ends_on": starts, "venue": "都庁第一本庁舎"}).json()
    trainee = officer.post(f"/v1/training-courses/{course['id']}/attendances",
                           json={"attended_on": starts, "trainee": {"name": name}}).json()["trainee_id"]
    r = officer.post(f"/v1/training-courses/{course['id']}/completions",
                     json={"trainee_id": trainee, "completed_on": starts})
    assert r.status_code == 201, r.text
    return r.json()["certificate_number"]


def registered(officer, issued_on: date = TODAY - timedelta(days=10), **applicant) -> dict:
    number = trained(officer)
    r = officer.post("/v1/registrations", json={
        "certificate_number": number, "applied_on": "2016-06-01", "applicant": {**APPLICANT, **applicant},
        "consent": CONSENT})
    assert r.status_code == 201, r.text
    supporter = r.json()
    r = officer.post(f"/v1/supporters/{supporter['id']}/approval", json={"issued_on": issued_on.isoformat()})
    assert r.status_code == 200, r.text
    return r.json()


def test_the_supporter_life_cycle_from_training_to_revocation(nats_server, start_service):
    registry = start_service("registry", nats_server.url)
    with registry.client(role="prefecture_officer", org=REGISTRAR) as officer:
        assert officer.put("/v1/registrar", json={"max_term_years": 3, "default_term_years": 2,
                                                  "consent_text_version": "資料4-v1"}).status_code == 200
        first, second = trained(officer), trained(officer)
        assert (first, second) == ("2016-0001", "2016-0002")  # 修了番号 unique per registrar and FY
        assert trained(officer, starts="2017-04-10") == "2017-0001"

        r = officer.post("/v1/registrations", json={"certificate_number": "2016-0999", "applied_on": "2016-06-01",
                                                     "applicant": APPLICANT, "consent": CONSENT})
        assert r.status_code == 422 and r.json()["type"].endswith("/unknown-certificate")
        r = officer.post("/v1/registrations", json={"certificate_number": first, "applied_on": "2016-06-01",
                                                     "applicant": APPLICANT,
                                                     "consent": {**CONSENT, "confidentiality": False}})
        assert r.status_code == 422 and r.json()["missing"] == ["confidentiality"]

        r = officer.post("/v1/registrations", json={"certificate_number": first, "applied_on": "2016-06-01",
                                                     "applicant": APPLICANT, "consent": CONSENT})
        assert r.status_code == 201, r.text
        supporter = r.json()
        sid = supporter["id"]
        assert supporter["status"] == "applied" and supporter["details"]["name"] == "山田花子"
        assert officer.post(f"/v1/supporters/{sid}/screenings", json={
            "kind": "interview", "held_on": "2016-06-10", "note": "面談実施"}).status_code == 200

        r = officer.post(f"/v1/supporters/{sid}/approval", json={"issued_on": TODAY.isoformat(), "term_years": 4})
        assert r.status_code == 422 and r.json()["type"].endswith("/term-too-long")
        r = officer.post(f"/v1/supporters/{sid}/approval", json={"issued_on": (TODAY - timedelta(days=3)).isoformat()})
        assert r.status_code == 200, r.text
        body = r.json()
        assert (body["status"], body["registration_number"]) == ("registered", "001")
        issued = TODAY - timedelta(days=3)
        assert body["term_ends_on"] == (issued.replace(year=issued.year + 2) - timedelta(days=1)).isoformat()

        r = officer.post("/v1/rosters", json={"municipality": MUNICIPALITY, "provided_on": TODAY.isoformat()})
        assert r.status_code == 201, r.text
        assert [e["registration_number"] for e in r.json()["entries"]] == ["001"]

    with registry.client(role="municipal_officer", org=MUNICIPALITY) as city:
        def received():
            entries = city.get("/v1/roster", params={"municipality": MUNICIPALITY}).json()["entries"]
            return entries or None

        entry = eventually(received)[0]
        assert entry["current"] and entry["details"]["name"] == "山田花子"
        assert "motive" not in entry["details"]  # only the 資料6 items were provided
        assert city.get(f"/v1/supporters/{sid}").status_code == 404

    with registry.client(role="supporter", org=REGISTRAR, sub=sid) as me:
        assert me.get(f"/v1/supporters/{sid}").json()["registration_number"] == "001"
        card = me.get(f"/v1/supporters/{sid}/card").json()
        assert (card["registration_number"], card["name"], card["term_ends_on"]) == (
            "001", "山田花子", body["term_ends_on"])
        assert me.post(f"/v1/supporters/{sid}/details-changes", json={
            "changed_on": TODAY.isoformat(), "address": "東京都千代田区丸の内2-2"}).status_code == 200
        assert me.post(f"/v1/supporters/{sid}/approval", json={"issued_on": TODAY.isoformat()}).status_code == 403

    with registry.client(role="municipal_officer", org=MUNICIPALITY) as city:
        entry = city.get("/v1/roster", params={"municipality": MUNICIPALITY}).json()["entries"][0]
        assert entry["details"]["address"] == "東京都千代田区丸の内2-2"

    with registry.client(role="prefecture_officer", org=REGISTRAR) as officer:
        r = officer.post(f"/v1/supporters/{sid}/revocation", json={"revoked_on": TODAY.isoformat(),
                                                                   "grounds": "信用失墜行為"})
        assert r.status_code == 409 and r.json()["missing"] == ["interview", "investigation"]
        for kind in ("investigation", "interview"):
            assert officer.post(f"/v1/supporters/{sid}/revocation-inquiries", json={
                "kind": kind, "held_on": TODAY.isoformat(), "findings": "調査の記録"}).status_code == 200
        r = officer.post(f"/v1/supporters/{sid}/revocation", json={"revoked_on": TODAY.isoformat(),
                                                                   "grounds": "信用失墜行為"})
        assert r.status_code == 200 and r.json()["status"] == "revoked"
        history = officer.get(f"/v1/supporters/{sid}/history").json()["events"]
        assert [h["type"].split(".")[3] for h in history] == [
            "RegistrationApplied", "RegistrationConsented", "ScreeningRecorded", "SupporterRegistered",
            "SupporterDetailsChanged", "RevocationInquiryRecorded", "RevocationInquiryRecorded", "RegistrationRevoked"]
        assert history[-1]["data"]["confidentiality_duty"].startswith("第17条")

    with registry.client(role="municipal_officer", org=MUNICIPALITY) as city:
        entry = city.get("/v1/roster", params={"municipality": MUNICIPALITY}).json()["entries"][0]
        assert (entry["current"], entry["status"], entry["details"]) == (False, "revoked", None)

    messages = eventually(lambda: (m := stream_messages(nats_server.url, "REGISTRY")) and
                          any(Envelope.from_json(x.data).name == "RegistrationRevoked" for x in m) and m)
    names = {Envelope.from_json(m.data).name for m in messages}
    assert {"TrainingCompleted", "RegistrationConsented", "SupporterRegistered", "RosterProvided",
            "SupporterDetailsChanged", "RegistrationRevoked"} <= names
    for m in messages:
        for secret in ("山田花子", "千代田1-1", "丸の内", "hanako@example.jp", "信用失墜行為", "面談実施"):
            assert secret not in m.data.decode()


def test_renewal_withdrawal_and_expiry_by_itself_exactly_once(nats_server, start_service):
    registry = start_service("registry", nats_server.url)
    with registry.client(role="prefecture_officer", org=REGISTRAR) as officer:
        old = registered(officer, issued_on=date(2016, 7, 1))
        assert old["term_ends_on"] == "2018-06-30"
        eventually(lambda: registry.runtime.followers[0].lag() == 0)
        due = officer.get("/v1/supporters", params={"status": "registered", "term_ends_before": TODAY.isoformat()})
        assert [s["supporter_id"] for s in due.json()["data"]] == [old["id"]]
        first = expire_registrations(registry.runtime)
        second = expire_registrations(registry.runtime)
        assert [str(i) for i in first] + [str(i) for i in second] in ([old["id"]], [])
        assert officer.get(f"/v1/supporters/{old['id']}").json()["status"] == "expired"
        history = officer.get(f"/v1/supporters/{old['id']}/history").json()["events"]
        assert sum(h["type"].endswith("RegistrationExpired.v1") for h in history) == 1

        r = officer.post(f"/v1/supporters/{old['id']}/renewals", json={
            "issued_on": TODAY.isoformat(), "consent": {**CONSENT, "roster_listing": False}})
        assert r.status_code == 422 and r.json()["type"].endswith("/consent-missing")
        r = officer.post(f"/v1/supporters/{old['id']}/renewals", json={"issued_on": TODAY.isoformat(),
                                                                       "consent": CONSENT})
        assert r.status_code == 200 and r.json()["status"] == "registered"

        r = officer.post(f"/v1/supporters/{old['id']}/withdrawal", json={
            "withdrawn_on": TODAY.isoformat(), "reason": "転居のため"})
        assert r.status_code == 200 and r.json()["status"] == "withdrawn"
        r = officer.post("/v1/rosters", json={"municipality": MUNICIPALITY, "provided_on": TODAY.isoformat(),
                                              "supporter_ids": [old["id"]]})
        assert r.status_code == 409 and r.json()["type"].endswith("/not-eligible-for-roster")


def test_two_officers_approving_one_application_one_wins(nats_server, start_service):
    registry = start_service("registry", nats_server.url)
    with registry.client(role="prefecture_officer", org=REGISTRAR) as officer:
        number = trained(officer)
        applied = officer.post("/v1/registrations", json={"certificate_number": number, "applied_on": "2016-06-01",
                                                          "applicant": APPLICANT, "consent": CONSENT}).json()
        url = f"/v1/supporters/{applied['id']}/approval"
        etag = {"If-Match": f'"{applied["version"]}"'}
        a = officer.post(url, headers=etag, json={"issued_on": TODAY.isoformat()})
        b = officer.post(url, headers=etag, json={"issued_on": TODAY.isoformat()})
        c = officer.post(url, json={"issued_on": TODAY.isoformat()})
        assert (a.status_code, b.status_code, c.status_code) == (200, 412, 409)
        assert c.json()["type"].endswith("/wrong-status")
    with registry.client(role="prefecture_officer", org="270008") as osaka:
        assert osaka.get(f"/v1/supporters/{applied['id']}").status_code == 404
        assert osaka.post(url, json={"issued_on": TODAY.isoformat()}).status_code == 404
    with registry.client(role="supporter", org=REGISTRAR, sub="someone-else") as stranger:
        assert stranger.get(f"/v1/supporters/{applied['id']}").status_code == 404
    with registry.client(role="auditor", org=REGISTRAR) as auditor:  # reads the record, not the person
        seen = auditor.get(f"/v1/supporters/{applied['id']}").json()
        assert seen["status"] == "registered" and seen["details"] is None
        r = auditor.post(f"/v1/supporters/{applied['id']}/details-changes", json={"changed_on": TODAY.isoformat(),
                                                                                  "address": "x"})
        assert r.status_code == 403
        assert auditor.post(f"/v1/supporters/{applied['id']}/consent-withdrawal",
                            json={"withdrawn_on": TODAY.isoformat()}).status_code == 403
        assert auditor.get(f"/v1/supporters/{applied['id']}/card").status_code == 403


def test_two_applications_racing_for_one_certificate_register_one_and_refuse_the_other(nats_server, start_service,
                                                                                        monkeypatch):
    from services.registry.domain.supporter import Supporter

    registry = start_service("registry", nats_server.url)
    app = registry.runtime.application
    with registry.client(role="prefecture_officer", org=REGISTRAR) as officer:
        number = trained(officer)
        body = {"certificate_number": number, "applied_on": "2016-06-01", "applicant": APPLICANT, "consent": CONSENT}
        first = officer.post("/v1/registrations", json=body, headers={"Idempotency-Key": "first"})
        assert first.status_code == 201, first.text
        # The other application looked before the first committed: it does not see it and saves too.
        real = app.existing
        monkeypatch.setattr(app, "existing", lambda kind, i: None if kind is Supporter else real(kind, i))
        r = officer.post("/v1/registrations", json=body, headers={"Idempotency-Key": "second"})
        assert r.status_code == 409 and r.json()["type"].endswith("/already-applied"), r.text
        retry = officer.post("/v1/registrations", json=body, headers={"Idempotency-Key": "first"})
        assert retry.status_code == 200 and retry.json()["id"] == first.json()["id"]
        monkeypatch.undo()
        assert officer.get(f"/v1/supporters/{first.json()['id']}").json()["status"] == "applied"
