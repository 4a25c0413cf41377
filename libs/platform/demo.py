"""A small demo data set, loaded once through the public HTTP APIs (as a portal would)."""

from __future__ import annotations

import httpx

from libs.platform.auth import mint_token
from libs.platform.settings import PORTS, Settings, var_dir

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


def load_demo(*, force: bool = False) -> None:
    marker = var_dir() / "demo-loaded"
    if marker.exists() and not force:
        print("demo data already loaded (tsunagu demo --force loads it again)")
        return
    secret = Settings.from_env("intake").jwt_secret
    intake = f"http://127.0.0.1:{PORTS['intake']}"

    def client(role: str, org: str) -> httpx.Client:
        token = mint_token(secret, sub="demo", org=org, roles=[role])
        return httpx.Client(base_url=intake, headers={"Authorization": f"Bearer {token}"}, timeout=30)

    for i, (pref, name, kind, site) in enumerate(CENTRES):
        with client("prefecture_officer", pref) as officer:
            r = officer.post("/v1/centres", json={"name": name, "kind": kind, "site": site, "prefecture": pref},
                             headers={"Idempotency-Key": f"demo-centre-{i}"})
            r.raise_for_status()
            centre_id = r.json()["id"]
        with client("centre_staff", centre_id) as staff:
            for j in range(2):
                r = staff.post("/v1/cases", headers={"Idempotency-Key": f"demo-case-{i}-{j}"}, json={
                    "centre_id": centre_id, "client_kind": "person" if j == 0 else "family",
                    "age_group": kind, "personal_details": {"name": f"デモ 太郎{i}{j}"},
                })
                r.raise_for_status()
                case_id = r.json()["id"]
                for k, (channel, by, when) in enumerate(CONSULTATIONS[: 2 + j * 2]):
                    staff.post(f"/v1/cases/{case_id}/consultations",
                               headers={"Idempotency-Key": f"demo-consultation-{i}-{j}-{k}"},
                               json={"channel": channel, "consulted_by": by, "occurred_at": when,
                                     "summary": "デモ相談"}).raise_for_status()
    marker.write_text("loaded\n")
    print(f"demo data loaded: {len(CENTRES)} centres, {len(CENTRES) * 2} cases")
