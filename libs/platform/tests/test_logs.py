"""One logging setup: JSON lines carrying the active span's trace and span ids (issue 18)."""

from __future__ import annotations

import io
import json
import logging
from collections.abc import Iterator

import pytest
from opentelemetry.sdk.trace import TracerProvider

from libs.platform import tracing
from libs.platform.logs import configure_logging, log_format, reset


@pytest.fixture(autouse=True)
def _restore() -> Iterator[None]:
    root = logging.getLogger()
    level = root.level
    yield
    reset()
    root.setLevel(level)
    tracing.use(None)


@pytest.mark.parametrize(("environment", "env", "expected"), [
    ("production", {}, "json"), ("staging", {}, "json"), ("dev", {}, "text"), ("test", {}, None),
    ("production", {"TSUNAGU_LOG_FORMAT": "text"}, "text"), ("test", {"TSUNAGU_LOG_FORMAT": "JSON"}, "json"),
])
def test_json_lines_are_the_default_outside_dev_and_test(environment: str, env: dict, expected: str | None) -> None:
    assert log_format(environment, env) == expected


def test_an_unknown_format_is_refused_by_name() -> None:
    with pytest.raises(ValueError, match="TSUNAGU_LOG_FORMAT"):
        log_format("production", {"TSUNAGU_LOG_FORMAT": "xml"})


def test_a_json_line_carries_the_trace_and_span_of_the_active_span() -> None:
    out = io.StringIO()
    env = {"TSUNAGU_LOG_LEVEL": "info"}
    configure_logging("intake", "production", env, stream=out)
    configure_logging("intake", "production", env, stream=out)  # twice: still one handler
    tracing.use(TracerProvider())
    log = logging.getLogger("libs.platform.test")
    log.info("outside any span")
    with tracing.span("request") as span:
        log.warning("relay %s: %s", "INTAKE", "retrying")
    outside, inside = (json.loads(line) for line in out.getvalue().splitlines())
    assert "trace_id" not in outside and outside["service"] == "intake" and outside["level"] == "INFO"
    context = span.get_span_context()
    assert inside["trace_id"] == format(context.trace_id, "032x")
    assert inside["span_id"] == format(context.span_id, "016x")
    assert inside["message"] == "relay INTAKE: retrying" and inside["logger"] == "libs.platform.test"


def test_in_tests_logging_is_left_alone_unless_asked() -> None:
    before = list(logging.getLogger().handlers)
    assert configure_logging("intake", "test", {}) is None
    assert logging.getLogger().handlers == before


def test_the_access_log_never_carries_a_query_string() -> None:
    """A query may hold what must never be logged (a disclosure request's note): uvicorn's access
    line keeps the route and status, not the query, whatever the format."""
    configure_logging("intake", "dev", env={"TSUNAGU_LOG_FORMAT": "json", "TSUNAGU_LOG_LEVEL": "INFO"},
                      stream=(out := io.StringIO()))
    access = logging.getLogger("uvicorn.access")
    level = access.level  # a uvicorn started earlier in this process set it to its own log level
    access.setLevel(logging.INFO)
    try:
        access.info(
            '%s - "%s %s HTTP/%s" %d', "127.0.0.1:5000", "GET",
            "/v1/audit/subjects/x/document?purpose=disclosure_request&note=%E5%B1%B1%E7%94%B0+090-1234-5678",
            "1.1", 200)
    finally:
        access.setLevel(level)
        reset()
    line = json.loads(out.getvalue().strip().splitlines()[-1])
    assert line["message"] == '127.0.0.1:5000 - "GET /v1/audit/subjects/x/document HTTP/1.1" 200'
    assert "090" not in out.getvalue() and "note" not in out.getvalue()
