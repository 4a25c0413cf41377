"""A small demo data set, loaded once through the public HTTP APIs (as a portal would)."""

from __future__ import annotations

import time
from datetime import date, timedelta

import httpx

from libs.platform.auth import mint_token
from libs.platform.settings import Settings, port_of, var_dir

# Two prefectures, three centres (adult, child, satellite), a few cases and consultations.
CENTRES = [
    ("130001", "東京都ひきこもりサポートネット", "adult", "main"),
    ("130001", "東京都ひきこもり支援センター（児童）", "child", "main"),
    ("270008", "大阪府ひきこもり地域支援センター サテライト", "adult", "satellite"),
]
CONSULTATIONS = [
    ("phone", "person", "2016-06-01T10:00:00+09:00"),
    ("visit", "family", "2016-09-15T14:00:00+09:00"),
    ("outreach", "person", "2017-03-31T23:59:00+09:00"),
    ("email", "family", "2017-04-01T00:00:00+09:00"),
]
REGISTRAR, CITY = "130001", "131016"  # 東京都 trains and registers; 千代田区 dispatches
CONSENT = {"roster_listing": True, "follow_instructions": True, "confidentiality": True,
           "no_discrediting_conduct": True, "continuing_training": True, "consent_text_version": "資料4-v1"}
SUPPORTERS = ["デモ 花子", "デモ 次郎", "デモ 三郎", "デモ 四郎", "デモ 五月"]


class Portal:
    def __init__(self, secret: str) -> None:
        self.secret = secret

    def client(self, service: str, role: str, org: str, sub: str = "demo") -> httpx.Client:
        token = mint_token(self.secret, sub=sub, org=org, roles=[role])
        return httpx.Client(base_url=f"http://127.0.0.1:{port_of(service)}", timeout=30,
                            headers={"Authorization": f"Bearer {token}"})


def load_demo(*, force: bool = False) -> None:
    marker = var_dir() / "demo-loaded"
    if marker.exists() and not force:
        print("demo data already loaded (tsunagu demo --force loads it again)")
        return
    portal = Portal(Settings.from_env("intake").jwt_secret)
    case_ids = _intake(portal)
    supporters = _registry(portal)
    _dispatch(portal, supporters, case_ids)
    with portal.client("registry", "prefecture_officer", REGISTRAR) as officer:  # 辞退 after the roster
        officer.post(f"/v1/supporters/{supporters[2]}/withdrawal", json={
            "withdrawn_on": date.today().isoformat(), "reason": "デモ: 転居"}).raise_for_status()
    marker.write_text("loaded\n")
    print(f"demo data loaded: {len(CENTRES)} centres, {len(case_ids)} cases, {len(supporters)} supporters, 3 dispatches")


def _intake(portal: Portal) -> list[str]:
    case_ids = []
    for i, (pref, name, kind, site) in enumerate(CENTRES):
        with portal.client("intake", "prefecture_officer", pref) as officer:
            r = officer.post("/v1/centres", json={"name": name, "kind": kind, "site": site, "prefecture": pref},
                             headers={"Idempotency-Key": f"demo-centre-{i}"})
            r.raise_for_status()
            centre_id = r.json()["id"]
        with portal.client("intake", "centre_staff", centre_id) as staff:
            for j in range(2):
                r = staff.post("/v1/cases", headers={"Idempotency-Key": f"demo-case-{i}-{j}"}, json={
                    "centre_id": centre_id, "client_kind": "person" if j == 0 else "family",
                    "age_group": kind, "personal_details": {"name": f"デモ 太郎{i}{j}"},
                })
                r.raise_for_status()
                case_id = r.json()["id"]
                case_ids.append((centre_id, case_id))
                for k, (channel, by, when) in enumerate(CONSULTATIONS[: 2 + j * 2]):
                    staff.post(f"/v1/cases/{case_id}/consultations",
                               headers={"Idempotency-Key": f"demo-consultation-{i}-{j}-{k}"},
                               json={"channel": channel, "consulted_by": by, "occurred_at": when,
                                     "summary": "デモ相談"}).raise_for_status()
    return case_ids


def _registry(portal: Portal) -> list[str]:
    """Five trained people: four registered and put on the roster of 千代田区 (one is then revoked,
    and another withdraws once dispatch has the roster), one only applied."""
    today = date.today()
    ids = []
    with portal.client("registry", "prefecture_officer", REGISTRAR) as officer:
        officer.put("/v1/registrar", json={"max_term_years": 3, "default_term_years": 2,
                                           "consent_text_version": "資料4-v1"}).raise_for_status()
        course = officer.post("/v1/training-courses", headers={"Idempotency-Key": "demo-course"}, json={
            "kind": "initial", "title": "ひきこもりサポーター養成研修（デモ）", "starts_on": "2016-05-10",
            "ends_on": "2016-05-12", "venue": "都庁"}).json()
        for n, name in enumerate(SUPPORTERS):
            trainee = officer.post(f"/v1/training-courses/{course['id']}/attendances",
                                   headers={"Idempotency-Key": f"demo-trainee-{n}"},
                                   json={"attended_on": "2016-05-10", "trainee": {"name": name}}).json()["trainee_id"]
            number = officer.post(f"/v1/training-courses/{course['id']}/completions",
                                  json={"trainee_id": trainee, "completed_on": "2016-05-12"}).json()["certificate_number"]
            officer.post("/v1/registrations", headers={"Idempotency-Key": f"demo-registration-{n}"}, json={
                "certificate_number": number, "applied_on": "2016-06-01",
                "applicant": {"furigana": "でも", "name": name, "gender": "unspecified", "birth_date": "1970-01-01",
                              "address": "東京都千代田区", "phone": "03-0000-0000"},
                "consent": {**CONSENT, "signed_on": "2016-06-01"}}).raise_for_status()
            ids.append(trainee)
            if n < 4:
                officer.post(f"/v1/supporters/{trainee}/approval",
                             json={"issued_on": (today - timedelta(days=30)).isoformat()}).raise_for_status()
        officer.post("/v1/rosters", headers={"Idempotency-Key": "demo-roster"},
                     json={"municipality": CITY, "provided_on": today.isoformat()}).raise_for_status()
        for kind in ("investigation", "interview"):
            officer.post(f"/v1/supporters/{ids[3]}/revocation-inquiries",
                         json={"kind": kind, "held_on": today.isoformat(), "findings": "デモ"}).raise_for_status()
        officer.post(f"/v1/supporters/{ids[3]}/revocation",
                     json={"revoked_on": today.isoformat(), "grounds": "デモ"}).raise_for_status()
    return ids


def _dispatch(portal: Portal, supporters: list[str], cases: list[tuple[str, str]]) -> None:
    """Three dispatches: one requested from intake, one active with a report, one stopped on request."""
    day = date.today().isoformat()
    centre_id, case_id = cases[0]
    with portal.client("intake", "centre_staff", centre_id) as staff:
        staff.post(f"/v1/cases/{case_id}/supporter-requests", headers={"Idempotency-Key": "demo-request"},
                   json={"municipality": CITY, "needs": ["visit"], "requested_on": day}).raise_for_status()
    with portal.client("dispatch", "municipal_officer", CITY) as city:
        deadline = time.monotonic() + 30
        while len(city.get("/v1/roster").json()["data"]) < 3:
            if time.monotonic() > deadline:
                raise RuntimeError("the roster did not reach dispatch over NATS within 30 s")
            time.sleep(0.2)  # the roster travels over NATS from the registry
        for sid in supporters[:3]:
            city.post(f"/v1/roster/{sid}/intent-reconfirmation", json={"on": day}).raise_for_status()
        for n, sid in enumerate(supporters[:2]):
            d = city.post("/v1/dispatches", headers={"Idempotency-Key": f"demo-dispatch-{n}"}, json={
                "needs": ["visit", "accompanied_outing"], "requested_on": day,
                "subject_details": {"name": f"デモ 対象者{n}", "address": "東京都千代田区"}}).json()
            base = f"/v1/dispatches/{d['id']}"
            city.post(f"{base}/assignment", json={"supporter_id": sid, "assigned_on": day}).raise_for_status()
            city.post(f"{base}/subject-consent", json={"items": ["name", "address"], "support_meetings": True,
                                                       "costs_self_paid": True, "signed_on": day}).raise_for_status()
            city.post(f"{base}/plan", json={"activities": ["visit"], "purpose": "デモ", "activity_plan": "週1回",
                                             "content": "会話", "agreed_on": day}).raise_for_status()
            with portal.client("dispatch", "supporter", "130001", sub=sid) as me:
                me.post(f"{base}/supporter-acceptance", json={"accepted_on": day}).raise_for_status()
            city.post(f"{base}/start", json={"on": day}).raise_for_status()
            if n == 0:
                with portal.client("dispatch", "supporter", "130001", sub=sid) as me:
                    me.post(f"{base}/activity-reports", json={
                        "reported_on": day, "activity_date": day, "starts_at": "10:00", "ends_at": "11:00",
                        "place": "自宅", "activity_type": "visit", "content": "デモ訪問",
                        "next_step": "continue"}).raise_for_status()
            else:
                city.post(f"{base}/stop-request", json={"on": day}).raise_for_status()
