"""A service's JSON log lines carry the trace of the request that caused them, and no personal data."""

from __future__ import annotations

import io
import json
import logging
from collections.abc import Iterator

import pytest
from opentelemetry.sdk.trace import TracerProvider

from libs.platform import tracing
from libs.platform.logs import configure_logging, reset
from tests.e2e.test_consultation_slice import PII, _setup_case
from tests.harness import drained, eventually

TRACE_ID = "4bf92f3577b34da6a3ce929d0e0e4736"


@pytest.fixture
def log_lines() -> Iterator[io.StringIO]:
    out, root = io.StringIO(), logging.getLogger()
    level = root.level
    configure_logging("intake", "test", {"TSUNAGU_LOG_FORMAT": "json", "TSUNAGU_LOG_LEVEL": "DEBUG"}, stream=out)
    tracing.use(TracerProvider())
    try:
        yield out
    finally:
        tracing.use(None)
        reset()
        root.setLevel(level)


def test_a_refused_token_is_logged_as_json_with_the_callers_trace_and_no_personal_data(
        nats_server, start_service, log_lines):
    intake = start_service("intake", nats_server.url)
    reporting = start_service("reporting", nats_server.url)
    centre_id, case_id = _setup_case(intake)
    with intake.client(role="centre_staff", org=centre_id) as staff:
        r = staff.post(f"/v1/cases/{case_id}/consultations", json={
            "channel": "visit", "occurred_at": "2016-05-01T10:00:00+09:00", "summary": PII[2]})
        assert r.status_code == 201, r.text
    with intake.client() as anonymous:
        r = anonymous.get(f"/v1/cases/{case_id}", headers={
            "Authorization": "Bearer not-a-token", "traceparent": f"00-{TRACE_ID}-00f067aa0ba902b7-01"})
        assert r.status_code == 401
    drained(nats_server.url, intake, reporting)

    def refused() -> dict | None:
        lines = [json.loads(line) for line in log_lines.getvalue().splitlines()]
        return next((line for line in lines if line["message"].startswith("token refused")), None)

    line = eventually(refused)
    assert line["trace_id"] == TRACE_ID and len(line["span_id"]) == 16 and line["level"] == "INFO"
    text = log_lines.getvalue()
    assert text.count("\n") > 5  # the services logged (at DEBUG) while the flow ran
    for secret in PII:
        assert secret not in text
