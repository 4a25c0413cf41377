"""attack9: an instant with an offset at the ends of what Python's datetime holds (year 1 at +14:00,
year 9999 at -14:00) is a bad input like any outside the window (422), never a 500: the window was
checked on the instant converted to UTC, a year 0 or 10000 (OverflowError). A generated client or a
fuzzer sends them; single consultations, imports and reports `as_of` read them alike."""

from __future__ import annotations

import pytest

from tests.e2e.test_consultation_slice import PREF, _setup_case
from tests.harness import provision_streams, status

EDGES = ("0001-01-01T00:00:00+14:00", "9999-12-31T23:59:59-14:00")


@pytest.mark.parametrize("when", EDGES)
def test_an_instant_whose_utc_falls_outside_python_s_years_is_refused_as_bad_input(nats_server, start_service, when):
    intake = start_service("intake", nats_server.url)
    centre_id, case_id = _setup_case(intake)
    with intake.client(role="centre_staff", org=centre_id) as staff:
        single = staff.post(f"/v1/cases/{case_id}/consultations", json={"channel": "phone", "occurred_at": when})
        imported = staff.post("/v1/consultation-imports", json={"consultations": [
            {"case_id": case_id, "channel": "phone", "occurred_at": when}]})
    provision_streams(nats_server.url, "registry", "dispatch")
    reporting = start_service("reporting", nats_server.url)
    with reporting.client(role="prefecture_officer", org=PREF) as pref:
        report = pref.get("/v1/reports/consultations", params={"fy": 2016, "as_of": when})
    assert (status(single), status(imported), status(report)) == (422, 422, 422)
