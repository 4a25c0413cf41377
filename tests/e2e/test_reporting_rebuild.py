"""Reporting can be dropped and rebuilt from the streams, and answers "as of" a past instant."""

from __future__ import annotations

from datetime import datetime, timezone

from services.reporting.rebuild import rebuild
from tests.e2e.test_consultation_slice import PREF, _setup_case
from tests.harness import eventually

REPORTS = ("consultations", "referrals", "outcome", "centres")


def _snapshot(reporting) -> dict:  # noqa: ANN001
    with reporting.client(role="ministry", org="mhlw") as ministry:
        return {name: ministry.get(f"/v1/reports/{name}", params={"fy": 2016}).json() for name in REPORTS}


def test_rebuilt_reports_equal_the_live_ones_and_as_of_shows_the_past(nats_server, start_service):
    intake = start_service("intake", nats_server.url)
    reporting = start_service("reporting", nats_server.url)
    centre_id, case_id = _setup_case(intake)
    with intake.client(role="centre_staff", org=centre_id) as staff:
        for day in ("2016-05-01", "2016-06-01"):
            staff.post(f"/v1/cases/{case_id}/consultations", json={
                "channel": "phone", "occurred_at": f"{day}T10:00:00+09:00"}).raise_for_status()
    eventually(lambda: _snapshot(reporting)["consultations"]["total"] == 2)
    between = datetime.now(timezone.utc).isoformat()
    with intake.client(role="centre_staff", org=centre_id) as staff:
        staff.post(f"/v1/cases/{case_id}/consultations", json={
            "channel": "visit", "occurred_at": "2016-07-01T10:00:00+09:00"}).raise_for_status()
    live = eventually(lambda: (s := _snapshot(reporting))["consultations"]["total"] == 3 and s)

    reporting.stop()
    rebuild(reporting.runtime.engine)
    assert _rows(reporting) == 0
    reporting.start()  # the runner sees its durable ahead of the reset position and replays
    rebuilt = eventually(lambda: (s := _snapshot(reporting))["consultations"]["total"] == 3 and s)
    assert rebuilt == live

    with reporting.client(role="prefecture_officer", org=PREF) as pref:
        past = pref.get("/v1/reports/consultations", params={"fy": 2016, "as_of": between}).json()
    assert past["total"] == 2


def _rows(reporting) -> int:  # noqa: ANN001
    from sqlalchemy import func, select

    from services.reporting.projections import metadata

    table = metadata.tables["rp_consultations"]
    with reporting.runtime.engine.connect() as conn:
        return conn.execute(select(func.count()).select_from(table)).scalar_one()


def test_a_voided_consultation_changes_its_year_and_the_submitted_report_shows_it(nats_server, start_service):
    intake = start_service("intake", nats_server.url)
    reporting = start_service("reporting", nats_server.url)
    centre_id, case_id = _setup_case(intake)
    with intake.client(role="centre_staff", org=centre_id) as staff:
        ids = [staff.post(f"/v1/cases/{case_id}/consultations", json={
            "channel": "phone", "occurred_at": "2016-05-01T10:00:00+09:00"}).json()["id"] for _ in range(2)]
    with reporting.client(role="prefecture_officer", org=PREF) as pref:
        eventually(lambda: pref.get("/v1/reports/consultations", params={"fy": 2016}).json()["total"] == 2)
        submitted = pref.post("/v1/reports/consultations/submissions", params={"fy": 2016})
        assert submitted.status_code == 201, submitted.text
        assert not pref.get("/v1/reports/consultations/submissions",
                            params={"fy": 2016}).json()["data"][0]["changed_since_submission"]
    with intake.client(role="centre_staff", org=centre_id) as staff:  # entered twice: void one
        r = staff.post(f"/v1/cases/{case_id}/consultations/{ids[1]}/void", json={"reason": "duplicate_entry",
                                                                                 "on": "2016-05-02"})
        assert r.status_code == 200 and r.json()["consultation_count"] == 1
        again = staff.post(f"/v1/cases/{case_id}/consultations/{ids[1]}/void", json={"reason": "duplicate_entry",
                                                                                     "on": "2016-05-02"})
        assert again.status_code == 409
    with reporting.client(role="prefecture_officer", org=PREF) as pref:
        eventually(lambda: pref.get("/v1/reports/consultations", params={"fy": 2016}).json()["total"] == 1)
        row = pref.get("/v1/reports/consultations/submissions", params={"fy": 2016}).json()["data"][0]
        assert row["changed_since_submission"]
        assert {"path": "total", "submitted": 2, "current": 1} in row["changes"]
        as_submitted = pref.get("/v1/reports/consultations", params={"fy": 2016, "as_of": row["submitted_at"]})
        assert as_submitted.json()["total"] == 2  # the report as it stood when it was submitted
        assert pref.get("/v1/reports/nonsense/submissions", params={"fy": 2016}).status_code == 404
