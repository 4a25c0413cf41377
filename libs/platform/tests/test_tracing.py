"""Tracing is configured by the OTEL_* variables alone and costs nothing when off; the trace
context on the bus is signed with the body and documented in the AsyncAPI envelope."""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Iterator

import jsonschema
import pytest
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import SpanKind

from libs.platform import tracing
from libs.platform.messaging.cloudevents import Envelope
from libs.platform.messaging.signing import EventSigner, EventVerifier, ForgedEvent, public_key_hex
from libs.platform.tools.asyncapi import asyncapi_document

ENVELOPE = Envelope(id="5e0f0a6e-3c56-5d8b-9a4a-1f7f8c2b7a10", source="/tsunagu/intake",
                    type="jp.tsunagu.intake.CentreRegistered.v2", subject="0b8e3c1e-8f5e-4c8e-9d53-2b3c4d5e6f70",
                    time="2016-04-01T00:00:00+09:00", tenant="130001", sequence=1, aggregate="centre",
                    data={}, chainhash="ab" * 32, leafhash="cd" * 32)
TRACEPARENT = "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"


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


@pytest.mark.parametrize(("env", "on"), [
    ({}, False),
    ({"OTEL_SERVICE_NAME": "x", "OTEL_TRACES_SAMPLER": "always_on"}, False),
    ({"OTEL_EXPORTER_OTLP_ENDPOINT": "http://127.0.0.1:4318"}, True),
    ({"OTEL_EXPORTER_OTLP_TRACES_ENDPOINT": "http://127.0.0.1:4318/v1/traces"}, True),
    ({"OTEL_TRACES_EXPORTER": "console"}, True),
    ({"OTEL_TRACES_EXPORTER": "none", "OTEL_EXPORTER_OTLP_ENDPOINT": "http://127.0.0.1:4318"}, False),
    ({"OTEL_SDK_DISABLED": "true", "OTEL_EXPORTER_OTLP_ENDPOINT": "http://127.0.0.1:4318"}, False),
])
def test_traces_are_wanted_only_when_the_otel_variables_ask_for_them(env: dict[str, str], on: bool) -> None:
    assert tracing.wanted(env) is on


def test_off_every_helper_does_nothing() -> None:
    assert not tracing.configure("intake", {}) and not tracing.enabled()
    assert tracing.span("x") is tracing.span("y")  # one shared no-op context
    assert tracing.applying("h", "INTAKE", ENVELOPE) is tracing.span("z")
    envelopes = [ENVELOPE]
    assert tracing.publishing("INTAKE", str, envelopes)[0] is envelopes

    class Event:
        pass

    event = Event()
    tracing.stamp([event])
    assert vars(event) == {}


def test_configure_turns_tracing_on_from_the_environment_and_names_the_service() -> None:
    try:
        assert tracing.configure("registry", {"OTEL_TRACES_EXPORTER": "console"})
        assert tracing.enabled()
        assert tracing._provider.resource.attributes["service.name"] in ("tsunagu-registry",
                                                                         os.environ.get("OTEL_SERVICE_NAME"))
    finally:
        provider = tracing._provider
        tracing.use(None)
        provider.shutdown()


def test_the_relay_span_continues_the_stored_context_and_goes_on_the_envelope(spans: InMemorySpanExporter) -> None:
    stored = dataclasses.replace(ENVELOPE, traceparent=TRACEPARENT)
    [published], traced = tracing.publishing("INTAKE", lambda e: "intake.130001.centre.CentreRegistered", [stored])
    traced.end()
    [span] = spans.get_finished_spans()
    assert span.kind == SpanKind.PRODUCER and span.parent is not None
    assert format(span.context.trace_id, "032x") == "0af7651916cd43dd8448eb211c80319c"
    assert format(span.parent.span_id, "016x") == "b7ad6b7169203331"
    assert published.traceparent.split("-")[1:3] == ["0af7651916cd43dd8448eb211c80319c",
                                                     format(span.context.span_id, "016x")]
    assert published.chained("0" * 64).chainhash == stored.chained("0" * 64).chainhash

    with tracing.applying("reporting", "INTAKE", published):
        assert tracing.current_ids() is not None
    applied = spans.get_finished_spans()[-1]
    assert applied.kind == SpanKind.CONSUMER and applied.parent is not None
    assert applied.parent.span_id == span.context.span_id


def test_the_trace_context_is_signed_with_the_body() -> None:
    seed = os.urandom(32).hex()
    signer, verifier = EventSigner(seed), EventVerifier({"intake": public_key_hex(seed)})
    body = dataclasses.replace(ENVELOPE, traceparent=TRACEPARENT).to_json()
    headers = {"Tsunagu-Signature": signer.header(body)}
    verifier.check("intake", body, headers)
    other = dataclasses.replace(ENVELOPE, traceparent=TRACEPARENT.replace("b7ad", "0000")).to_json()
    with pytest.raises(ForgedEvent):
        verifier.check("intake", other, headers)


def test_the_asyncapi_envelope_takes_a_w3c_traceparent_and_nothing_else() -> None:
    schema = {"$ref": "#/components/schemas/CentreRegistered", "components": asyncapi_document()["components"]}
    data = {"tenant": "130001", "name": "東京都ひきこもりサポートネット", "kind": "adult", "site": "main",
            "opened_on": "2016-04-01", "closed_on": None, "demo": False}
    untraced = dataclasses.replace(ENVELOPE, data=data)
    jsonschema.validate(untraced.to_dict(), schema)
    jsonschema.validate(dataclasses.replace(untraced, traceparent=TRACEPARENT, tracestate="a=1").to_dict(), schema)
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate(dataclasses.replace(untraced, traceparent="not-a-traceparent").to_dict(), schema)
