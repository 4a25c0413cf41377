"""One consultation followed as one trace (issue 18): from the POST through intake's store, its
relay and NATS, into reporting's projection row — with the SDK's in-memory span exporter."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import SpanKind

from libs.platform import tracing
from libs.platform.audit.verify import Report, compare_bus
from libs.platform.messaging.cloudevents import Envelope
from tests.e2e.test_consultation_slice import PREF, _setup_case
from tests.harness import drained, eventually, stream_messages


@pytest.fixture
def spans() -> Iterator[InMemorySpanExporter]:
    exporter = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    tracing.use(provider)
    try:
        yield exporter
    finally:
        tracing.use(None)
        provider.shutdown()


def _one(found: list[ReadableSpan], what: str) -> ReadableSpan:
    assert len(found) == 1, f"{what}: {[(s.name, dict(s.attributes or {})) for s in found]}"
    return found[0]


def _hex(trace_id: int) -> str:
    return format(trace_id, "032x")


def test_a_consultation_is_one_trace_from_the_post_to_the_reporting_row(nats_server, start_service, spans):
    intake = start_service("intake", nats_server.url)
    reporting = start_service("reporting", nats_server.url)
    centre_id, case_id = _setup_case(intake)
    with intake.client(role="centre_staff", org=centre_id) as staff:
        r = staff.post(f"/v1/cases/{case_id}/consultations", json={
            "channel": "phone", "occurred_at": "2016-06-01T10:00:00+09:00", "summary": "母親から電話相談"})
        assert r.status_code == 201, r.text
    with reporting.client(role="prefecture_officer", org=PREF) as pref:
        eventually(lambda: pref.get("/v1/reports/consultations", params={"fy": 2016}).json()["total"] == 1)
    drained(nats_server.url, intake, reporting)

    def recorded(span: ReadableSpan) -> bool:
        return str((span.attributes or {}).get("cloudevents.event_type", "")).startswith(
            "jp.tsunagu.intake.ConsultationRecorded.")

    def finished() -> list[ReadableSpan] | None:  # a span is exported when it ends (after the response, the commit)
        done = spans.get_finished_spans()
        ended = {s.name for s in done if s.name == "POST /v1/cases/{case_id}/consultations"
                 or (s.name == "apply reporting" and recorded(s))}
        return done if len(ended) == 2 else None

    done = eventually(finished)
    request = _one([s for s in done if s.kind == SpanKind.SERVER
                    and s.name == "POST /v1/cases/{case_id}/consultations"], "request span")
    trace_id = request.context.trace_id
    in_trace = [s for s in done if s.context.trace_id == trace_id]
    by_id = {s.context.span_id: s for s in in_trace}

    publish = _one([s for s in in_trace if s.kind == SpanKind.PRODUCER and recorded(s)], "relay publish span")
    applied = _one([s for s in in_trace if s.name == "apply reporting" and recorded(s)], "reporting apply span")
    assert applied.kind == SpanKind.CONSUMER and applied.attributes["messaging.destination.name"] == "INTAKE"
    assert applied.parent is not None and applied.parent.span_id == publish.context.span_id
    assert applied.attributes["messaging.message.id"] == publish.attributes["messaging.message.id"]

    # request → change → save → store write → publish: every link has its parent in the trace
    chain, span = [], publish
    while span.parent is not None:
        span = by_id[span.parent.span_id]
        chain.append(span.name)
    assert chain == ["store write", "save", "change Case", "POST /v1/cases/{case_id}/consultations"]
    # intake's own read model (the follower) applies it in the same trace, under the store write
    assert any(s.kind == SpanKind.CONSUMER and s.attributes["messaging.destination.name"] == "intake-log"
               and recorded(s) for s in in_trace)

    # on the bus: the publish span's context as the CloudEvents traceparent, signed with the body
    # (the nats_server fixture checks every signature and the AsyncAPI schema)
    [message] = [m for m in stream_messages(nats_server.url, "INTAKE")
                 if Envelope.from_json(m.data).id == publish.attributes["messaging.message.id"]]
    envelope = Envelope.from_json(message.data)
    assert envelope.traceparent.startswith(f"00-{_hex(trace_id)}-{format(publish.context.span_id, '016x')}-")
    # the trace context is not part of the fact: the bus still equals the store, chain unbroken
    bus = [Envelope.from_json(m.data) for m in stream_messages(nats_server.url, "INTAKE")]
    stored = intake.runtime.require_relay().reader.read(0, 100)
    assert all(e.traceparent for e in stored)  # kept with each stored event …
    assert {e.traceparent for e in stored}.isdisjoint({e.traceparent for e in bus})  # … the bus has the relay's
    report = Report(service="intake")
    compare_bus(report, stored, bus)
    assert report.ok, report
    for span in in_trace:  # ids, types, routes and positions: no personal data in a span
        assert "母親" not in str(span.attributes) and "山田" not in str(span.attributes)


def test_without_otel_variables_nothing_is_traced_or_stamped(nats_server, start_service):
    assert not tracing.enabled()
    intake = start_service("intake", nats_server.url)
    _setup_case(intake)
    messages = eventually(lambda: (m := stream_messages(nats_server.url, "INTAKE")) and len(m) == 2 and m)
    assert all(b"traceparent" not in m.data for m in messages)
    assert all(not e.traceparent for e in intake.runtime.require_relay().reader.read(0, 10))


def test_a_callers_tracestate_is_never_stored_or_published(nats_server, start_service, spans):
    """tracestate is free text of the caller's choosing: stored with the event and published it
    could never be erased. The caller's traceparent (hex ids) is continued; its tracestate dropped."""
    intake = start_service("intake", nats_server.url)
    centre_id, case_id = _setup_case(intake)
    caller_trace = "0af7651916cd43dd8448eb211c80319c"
    with intake.client(role="centre_staff", org=centre_id) as staff:
        r = staff.post(f"/v1/cases/{case_id}/consultations", headers={
            "traceparent": f"00-{caller_trace}-b7ad6b7169203331-01",
            "tracestate": "portal=yamada.taro.tel.0901234567"},
            json={"channel": "phone", "occurred_at": "2016-06-01T10:00:00+09:00"})
        assert r.status_code == 201, r.text
    eventually(lambda: intake.runtime.relay.lag() == 0)
    stored = intake.runtime.require_relay().reader.read(0, 100)
    recorded = [e for e in stored if ".ConsultationRecorded." in e.type]
    assert recorded and recorded[0].traceparent.startswith(f"00-{caller_trace}-")  # the caller's trace goes on
    assert all("yamada" not in e.tracestate for e in stored)
    assert not any(b"yamada" in m.data for m in stream_messages(nats_server.url, "INTAKE"))


def test_a_deployment_is_one_trace_from_the_dispatch_command_to_the_reporting_row(nats_server, start_service, spans):
    """The same chain through dispatch's store, relay and DISPATCH stream: POST /v1/deployments →
    SupporterDeployed → reporting's deployments row (サポーターの活動 by kind counts from it)."""
    from tests.e2e.test_deployments import _place
    from tests.e2e.test_dispatch_flow import CITY, DAY, rostered

    registry = start_service("registry", nats_server.url)
    intake = start_service("intake", nats_server.url)
    dispatch = start_service("dispatch", nats_server.url)
    reporting = start_service("reporting", nats_server.url)
    supporter = rostered(registry)[0]
    _, place_id = _place(intake, CITY, "居場所ひだまり")
    deployment = {"supporter_id": supporter, "target_kind": "place", "target_id": place_id,
                  "role": "place_operation", "starts_on": DAY}
    with dispatch.client(role="municipal_officer", org=CITY) as city:
        eventually(lambda: city.get("/v1/roster").json()["data"])
        city.post(f"/v1/roster/{supporter}/intent-reconfirmation", json={"on": DAY}).raise_for_status()
        # until INTAKE's PlaceOpened has reached dispatch the place is unknown (409)
        eventually(lambda: city.post("/v1/deployments", json=deployment).status_code == 201)
    drained(nats_server.url, dispatch, reporting)

    def deployed(span: ReadableSpan) -> bool:
        return str((span.attributes or {}).get("cloudevents.event_type", "")).startswith(
            "jp.tsunagu.dispatch.SupporterDeployed.")

    done = eventually(lambda: (d := spans.get_finished_spans()) and any(
        s.name == "apply reporting" and deployed(s) for s in d) and d)
    request = _one([s for s in done if s.kind == SpanKind.SERVER and s.name == "POST /v1/deployments"
                    and (s.attributes or {}).get("http.response.status_code") == 201], "request span")
    in_trace = [s for s in done if s.context.trace_id == request.context.trace_id]
    by_id = {s.context.span_id: s for s in in_trace}
    publish = _one([s for s in in_trace if s.kind == SpanKind.PRODUCER and deployed(s)], "dispatch's publish span")
    assert publish.attributes["messaging.destination.name"].startswith("dispatch.")
    applied = _one([s for s in in_trace if s.name == "apply reporting" and deployed(s)], "reporting apply span")
    assert applied.kind == SpanKind.CONSUMER and applied.attributes["messaging.destination.name"] == "DISPATCH"
    assert applied.parent is not None and applied.parent.span_id == publish.context.span_id
    assert applied.attributes["messaging.message.id"] == publish.attributes["messaging.message.id"]
    chain, span = [], publish
    while span.parent is not None:
        span = by_id[span.parent.span_id]
        chain.append(span.name)
    assert chain == ["store write", "save", "POST /v1/deployments"], chain
    for span in in_trace:  # ids, types, routes and positions: no personal data in a span
        assert "ひだまり" not in str(span.attributes)


def test_a_supporter_request_and_the_dispatch_it_opens_are_one_trace_across_both_services(
        nats_server, start_service, spans):
    """Through dispatch's consumer too: intake's POST → INTAKE → dispatch applies SupporterRequested
    (its process application stores DispatchRequested) → DISPATCH, each link the parent of the next."""
    from tests.e2e.test_dispatch_flow import CITY, DAY

    intake = start_service("intake", nats_server.url)
    start_service("dispatch", nats_server.url)
    centre_id, case_id = _setup_case(intake)
    with intake.client(role="centre_staff", org=centre_id) as staff:
        r = staff.post(f"/v1/cases/{case_id}/supporter-requests", json={
            "municipality": CITY, "needs": ["visit"], "requested_on": DAY})
        assert r.status_code == 201, r.text

    def of(span: ReadableSpan, event: str) -> bool:
        return f".{event}." in str((span.attributes or {}).get("cloudevents.event_type", ""))

    done = eventually(lambda: (d := spans.get_finished_spans()) and any(
        s.kind == SpanKind.PRODUCER and of(s, "DispatchRequested") for s in d) and d)
    opened = _one([s for s in done if s.kind == SpanKind.PRODUCER and of(s, "DispatchRequested")], "DISPATCH publish")
    by_id = {s.context.span_id: s for s in done if s.context.trace_id == opened.context.trace_id}
    chain, span = [], opened
    while span.parent is not None:
        span = by_id[span.parent.span_id]
        chain.append((span.name, span.kind, (span.attributes or {}).get("messaging.destination.name")))
    assert [name for name, _, _ in chain] == [
        "store write", "apply dispatch", "publish INTAKE", "store write", "save", "change Case",
        "POST /v1/cases/{case_id}/supporter-requests"], chain
    assert chain[1][1:] == (SpanKind.CONSUMER, "INTAKE")
