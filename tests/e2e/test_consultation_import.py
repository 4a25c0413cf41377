"""A centre's history moved in from another system (POST /v1/consultation-imports, issue 15): every
consultation recorded in one transaction or none, each refused item named, once per
Idempotency-Key, and each imported consultation counted by reporting like one recorded by hand."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from tests.e2e.test_consultation_slice import PREF, _setup_case
from tests.harness import eventually, log_positions, published

KEY = "migration batch 0001"


def _item(case_id: str, when: str, summary: str = "旧システムから移行した相談記録") -> dict:
    return {"case_id": case_id, "channel": "phone", "occurred_at": when, "summary": summary}


def _second_case(intake, centre_id: str) -> str:
    with intake.client(role="centre_staff", org=centre_id) as staff:
        r = staff.post("/v1/cases", json={"centre_id": centre_id, "client_kind": "person", "age_group": "adult"})
        assert r.status_code == 201, r.text
        return r.json()["id"]


def test_an_import_records_every_consultation_once_and_reporting_counts_them(nats_server, start_service):
    intake = start_service("intake", nats_server.url)
    reporting = start_service("reporting", nats_server.url)
    centre_id, case_a = _setup_case(intake)
    case_b = _second_case(intake, centre_id)
    items = [_item(case_a, "2015-06-01T10:00:00+09:00"), _item(case_b, "2015-07-01T10:00:00+09:00"),
             _item(case_a, "2016-05-01T10:00:00+09:00"), _item(case_a, "2016-05-02T10:00:00+09:00", "二回目")]
    with intake.client(role="centre_staff", org=centre_id) as staff:
        first = staff.post("/v1/consultation-imports", json={"consultations": items}, headers={"Idempotency-Key": KEY})
        assert first.status_code == 201, first.text
        body = first.json()
        assert body["count"] == 4 and [c["case_id"] for c in body["data"]] == [case_a, case_b, case_a, case_a]
        assert [c["summary"] for c in body["data"]][-1] == "二回目"
        for made in body["data"]:  # each is a consultation of its case like any other
            got = staff.get(f"/v1/cases/{made['case_id']}/consultations/{made['id']}")
            assert got.status_code == 200 and got.json()["occurred_at"] == made["occurred_at"]
        listed = staff.get(f"/v1/cases/{case_a}/consultations").json()
        assert listed["count"] == 3

        written = log_positions(intake)
        again = staff.post("/v1/consultation-imports", json={"consultations": items}, headers={"Idempotency-Key": KEY})
        assert again.status_code == 200, again.text
        assert [c["id"] for c in again.json()["data"]] == [c["id"] for c in body["data"]]
        # The key with another import — one item fewer, or one changed — is refused, not answered.
        for other in (items[:3], [*items[:3], _item(case_a, "2016-05-02T10:00:00+09:00", "別の記録")]):
            reused = staff.post("/v1/consultation-imports", json={"consultations": other},
                                headers={"Idempotency-Key": KEY})
            assert reused.status_code == 422 and reused.json()["type"].endswith("/idempotency-key-reused"), reused.text
        assert log_positions(intake) == written

    bodies = [m.data.decode() for m in published(intake, nats_server.url)]
    assert sum("ConsultationRecorded" in b for b in bodies) == 4
    assert not any("旧システム" in b or "migration" in b for b in bodies)  # sealed, and the key is not on the bus

    with reporting.client(role="prefecture_officer", org=PREF) as pref:
        def counted(fy: int, n: int):
            return eventually(lambda: pref.get("/v1/reports/consultations", params={"fy": fy}).json()["total"] == n)
        counted(2015, 2)
        counted(2016, 2)


def test_an_import_with_a_refused_item_records_nothing_and_names_each_refused_item(nats_server, start_service):
    intake = start_service("intake", nats_server.url)
    centre_id, case_a = _setup_case(intake)
    _, not_ours = _setup_case(intake)
    closed = _second_case(intake, centre_id)
    with intake.client(role="centre_staff", org=centre_id) as staff:
        staff.post(f"/v1/cases/{closed}/closure", json={"reason": "resolved", "on": "2016-04-30"}
                   ).raise_for_status()
        written = log_positions(intake)
        later = (datetime.now(UTC) + timedelta(days=30)).isoformat()
        items = [_item(case_a, "2016-05-01T10:00:00+09:00"), _item(not_ours, "2016-05-01T10:00:00+09:00"),
                 _item(closed, "2016-05-01T10:00:00+09:00"), _item(case_a, later)]
        r = staff.post("/v1/consultation-imports", json={"consultations": items})
        assert r.status_code == 422 and r.headers["content-type"].startswith("application/problem+json"), r.text
        refused = {tuple(e["loc"][:3]) for e in r.json()["errors"]}
        assert refused == {("body", "consultations", "1"), ("body", "consultations", "2"),
                           ("body", "consultations", "3")}
        assert log_positions(intake) == written  # not even the acceptable first item
        assert staff.get(f"/v1/cases/{case_a}/consultations").json()["count"] == 0

        # Schema errors point at the item too; an empty import and an oversized one are refused.
        fine = _item(case_a, "2016-05-01T10:00:00+09:00")
        bad = staff.post("/v1/consultation-imports", json={"consultations": [fine, {**fine, "channel": "fax"}]})
        assert bad.status_code == 422 and bad.json()["errors"][0]["loc"][:3] == ["body", "consultations", "1"]
        for n in (0, 501):
            too = staff.post("/v1/consultation-imports",
                             json={"consultations": [_item(case_a, "2016-05-01T10:00:00+09:00", "")] * n})
            assert too.status_code == 422, too.text
        assert log_positions(intake) == written
