"""A small demo data set, loaded once through the public HTTP APIs (as a portal would)."""

from __future__ import annotations

import time
from datetime import date, timedelta

import httpx

from libs.platform.http import tls
from libs.platform.settings import Settings, port_of, var_dir
from libs.platform.web.auth import mint_token

# Two prefectures, three centres (adult, child, satellite), a few cases and consultations. The demo
# lives in demo tenants: local-government codes of no real one (prefectures 99 and 98, which JIS
# X 0401 does not assign), its centres registered as demo, so the national tables leave it out.
CENTRES = [
    ("990001", "デモ県ひきこもりサポートネット", "adult", "main"),
    ("990001", "デモ県ひきこもり支援センター（児童）", "child", "main"),
    ("980005", "デモ府ひきこもり地域支援センター サテライト", "adult", "satellite"),
]
CONSULTATIONS = [
    ("phone", "person", "2016-06-01T10:00:00+09:00"),
    ("visit", "family", "2016-09-15T14:00:00+09:00"),
    ("outreach", "person", "2017-03-31T23:59:00+09:00"),
    ("email", "family", "2017-04-01T00:00:00+09:00"),
]
REGISTRAR, CITY = "990001", "991015"  # デモ県 trains and registers; デモ市 dispatches
MUNICIPALITY_OF = {"990001": "991040", "980005": "981001"}  # where each prefecture's centres are (デモ町, デモ府市)
HOURS = {day: ["09:00", "17:00"] for day in ("mon", "tue", "wed", "thu", "fri")}
AGENCIES = [("デモ市保健所", "public_health_centre"), ("ハローワークデモ", "hello_work"),
            ("デモ県立精神保健福祉センター", "mental_health_welfare_centre"),
            ("NPO法人つなぐ会", "private_support_group")]
CONSENT = {"roster_listing": True, "follow_instructions": True, "confidentiality": True,
           "no_discrediting_conduct": True, "continuing_training": True, "consent_text_version": "資料4-v1"}
SUPPORTERS = ["デモ 花子", "デモ 次郎", "デモ 三郎", "デモ 四郎", "デモ 五月"]


class Portal:
    def __init__(self, secret: str) -> None:
        self.secret = secret

    def client(self, service: str, role: str, org: str, sub: str = "demo") -> httpx.Client:
        token = mint_token(self.secret, sub=sub, org=org, roles=[role])
        return httpx.Client(base_url=f"http://127.0.0.1:{port_of(service)}", timeout=30, verify=tls(),
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
    _programmes(portal, supporters[1])
    with portal.client("registry", "prefecture_officer", REGISTRAR) as officer:  # 辞退 after the roster
        officer.post(f"/v1/supporters/{supporters[2]}/withdrawal", json={
            "withdrawn_on": date.today().isoformat(), "reason": "デモ: 転居"}).raise_for_status()
    marker.write_text("loaded\n")
    print(f"demo data loaded: {len(CENTRES)} centres, {len(case_ids)} cases, {len(supporters)} supporters, "
          "3 dispatches, a station with a place and a supporter deployed there, a satellite, prefectural back-up")


def _intake(portal: Portal) -> list[tuple[str, str]]:
    case_ids: list[tuple[str, str]] = []
    for i, (pref, name, kind, site) in enumerate(CENTRES):
        with portal.client("intake", "prefecture_officer", pref) as officer:
            r = officer.post("/v1/centres", json={"name": name, "kind": kind, "site": site, "prefecture": pref,
                                                  "opened_on": f"{2009 + i}-06-01", "demo": True},
                             headers={"Idempotency-Key": f"demo-centre-{i}"})
            r.raise_for_status()
            centre_id = r.json()["id"]
            term = {"starts_on": "2025-04-01", "ends_on": "2027-03-31"} if site == "satellite" else None
            officer.put(f"/v1/centres/{centre_id}/profile", json={
                "opened_fy": 2009 + i, "municipality": MUNICIPALITY_OF[pref], "address": f"{name} 所在地",
                "phone": "03-0000-0000", "hours": HOURS, "satellite_term": term}).raise_for_status()
            officer.put(f"/v1/centres/{centre_id}/staffing", json={
                "coordinators": ["psychiatric_social_worker", "public_health_nurse"][: 2 - (i == 2)],
                "outreach_workers": 1, "municipal_support_workers": 0}).raise_for_status()
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
    _referrals(portal, case_ids)
    return case_ids


def _referrals(portal: Portal, case_ids: list[tuple[str, str]]) -> None:
    """Agencies of several categories; one referral decided, one awaiting; one case closed."""
    ids = {}
    with portal.client("intake", "prefecture_officer", "990001") as officer:
        for n, (name, category) in enumerate(AGENCIES):
            ids[category] = officer.post("/v1/agencies", headers={"Idempotency-Key": f"demo-agency-{n}"}, json={
                "name": name, "category": category, "municipality": CITY, "address": "デモ県デモ市",
                "phone": "03-1111-1111"}).json()["id"]
    centre_id, case_id = case_ids[0]
    with portal.client("intake", "centre_staff", centre_id) as staff:
        base = f"/v1/cases/{case_id}"
        staff.post(f"{base}/share-consents", headers={"Idempotency-Key": "demo-consent"}, json={
            "categories": ["hello_work", "mental_health_welfare_centre"], "items": ["name", "contact"],
            "explained_on": "2016-06-01", "consent_text_version": "demo-v1"}).raise_for_status()
        for n, category in enumerate(("hello_work", "mental_health_welfare_centre")):
            r = staff.post(f"{base}/referrals", headers={"Idempotency-Key": f"demo-referral-{n}"},
                           json={"agency_id": ids[category], "items": ["name"], "referred_on": "2016-07-01"})
            r.raise_for_status()
            if n == 0:
                referral = r.headers["location"].rsplit("/", 1)[1]
                staff.post(f"{base}/referrals/{referral}/outcome",
                           json={"outcome": "support_decided", "on": "2016-08-01"}).raise_for_status()
    centre_id, case_id = case_ids[1]
    with portal.client("intake", "centre_staff", centre_id) as staff:
        staff.post(f"/v1/cases/{case_id}/closure", json={"reason": "resolved", "on": "2017-03-01"})


def _programmes(portal: Portal, supporter: str) -> None:
    """A station of デモ市 with a 居場所, its sessions and a supporter deployed there, a satellite of
    デモ県 in its second year, and the prefecture's back-up to デモ市."""
    year = date.today().year - (1 if date.today().month < 4 else 0)  # this fiscal year
    with portal.client("intake", "municipal_officer", CITY) as city:
        station = city.post("/v1/programmes", headers={"Idempotency-Key": "demo-station"}, json={
            "kind": "station", "name": "デモ市ひきこもり支援ステーション", "starts_on": f"{year - 1}-04-01",
            "funding": {"national": "1/2", "prefecture": "1/4", "municipality": "1/4"}}).json()
        city.post(f"/v1/programmes/{station['id']}/group-activities", json={
            "kind": "family_class", "held_on": f"{year}-06-01", "participants": 9}).raise_for_status()
        place = city.post("/v1/places", headers={"Idempotency-Key": "demo-place"}, json={
            "programme_id": station["id"], "name": "居場所ひだまり（デモ）", "operator": "NPO法人ひだまり",
            "municipality": CITY, "address": "デモ市神田1-1", "schedule": {"tue": ["13:00", "17:00"],
                                                                            "thu": ["13:00", "17:00"]}}).json()
        for n, people in enumerate((4, 6, 5)):
            city.post(f"/v1/places/{place['id']}/sessions", headers={"Idempotency-Key": f"demo-session-{n}"}, json={
                "held_on": f"{year}-05-{7 + n * 7:02d}", "participants": people, "staff": 2}).raise_for_status()
    with portal.client("intake", "prefecture_officer", REGISTRAR) as pref:
        satellite = pref.post("/v1/programmes", headers={"Idempotency-Key": "demo-satellite"}, json={
            "kind": "satellite", "name": "デモ県ひきこもりサポートネット 千代田サテライト", "operators": [CITY],
            "starts_on": f"{year - 1}-04-01", "funding": {"national": "1/2", "prefecture": "1/2"}}).json()
        pref.post("/v1/backups", headers={"Idempotency-Key": "demo-backup"}, json={
            "municipality": CITY, "kind": "staff_dispatched", "given_on": f"{year}-05-20",
            "programme_id": station["id"],
            "staff_role": "municipal_support_worker", "staff_days": 2}).raise_for_status()
    with portal.client("intake", "municipal_officer", CITY) as city:  # named as operator: デモ市 agrees
        if satellite["status"] == "pending":  # a rerun finds it accepted already
            city.post(f"/v1/programmes/{satellite['id']}/operators/{CITY}/acceptance",
                      json={"on": f"{year - 1}-03-20"}).raise_for_status()
    _deploy(portal, supporter, place["id"])


def _deploy(portal: Portal, supporter: str, place_id: str) -> None:
    """The supporter helps run the 居場所 (居場所運営へのサポーター派遣) and reports one afternoon."""
    day = date.today().isoformat()
    with portal.client("dispatch", "municipal_officer", CITY) as city:
        deadline = time.monotonic() + 30
        while (r := city.post("/v1/deployments", headers={"Idempotency-Key": "demo-deployment"}, json={
                "supporter_id": supporter, "target_kind": "place", "target_id": place_id, "role": "place_operation",
                "starts_on": day})).status_code == 409 and r.json()["type"].endswith("/unknown-deployment-target"):
            if time.monotonic() > deadline:
                raise RuntimeError(f"the place did not reach dispatch over NATS within 30 s: {r.text}")
            time.sleep(0.2)  # the place travels over NATS from intake
        r.raise_for_status()
        base = f"/v1/deployments/{r.json()['id']}"
    with portal.client("dispatch", "supporter", REGISTRAR, sub=supporter) as me:
        me.post(f"{base}/acceptance", json={"accepted_on": day}).raise_for_status()
        me.post(f"{base}/activity-reports", headers={"Idempotency-Key": "demo-deployment-report"}, json={
            "reported_on": day, "activity_date": day, "starts_at": "13:00", "ends_at": "17:00", "participants": 5,
            "content": "デモ: 居場所の運営協力"}).raise_for_status()


def _registry(portal: Portal) -> list[str]:
    """Five trained people: four registered and put on the roster of デモ市 (one is then revoked,
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
                                  json={"trainee_id": trainee, "completed_on": "2016-05-12"},
                                  ).json()["certificate_number"]
            officer.post("/v1/registrations", headers={"Idempotency-Key": f"demo-registration-{n}"}, json={
                "certificate_number": number, "applied_on": "2016-06-01",
                "applicant": {"furigana": "でも", "name": name, "gender": "unspecified", "birth_date": "1970-01-01",
                              "address": "デモ県デモ市", "phone": "03-0000-0000"},
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
                "subject_details": {"name": f"デモ 対象者{n}", "address": "デモ県デモ市"}}).json()
            base = f"/v1/dispatches/{d['id']}"
            city.post(f"{base}/assignment", json={"supporter_id": sid, "assigned_on": day}).raise_for_status()
            city.post(f"{base}/subject-consent", json={"items": ["name", "address"], "support_meetings": True,
                                                       "costs_self_paid": True, "signed_on": day}).raise_for_status()
            city.post(f"{base}/plan", json={"activities": ["visit"], "purpose": "デモ", "activity_plan": "週1回",
                                             "content": "会話", "agreed_on": day}).raise_for_status()
            with portal.client("dispatch", "supporter", "990001", sub=sid) as me:
                me.post(f"{base}/supporter-acceptance", json={"accepted_on": day}).raise_for_status()
            city.post(f"{base}/start", json={"on": day}).raise_for_status()
            if n == 0:
                with portal.client("dispatch", "supporter", "990001", sub=sid) as me:
                    me.post(f"{base}/activity-reports", json={
                        "reported_on": day, "activity_date": day, "starts_at": "10:00", "ends_at": "11:00",
                        "place": "自宅", "activity_type": "visit", "content": "デモ訪問",
                        "next_step": "continue"}).raise_for_status()
            else:
                city.post(f"{base}/stop-request", json={"on": day}).raise_for_status()
