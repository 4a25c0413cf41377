"""Tracing with OpenTelemetry, configured only by the standard `OTEL_*` variables (issue 18).

Off unless `OTEL_EXPORTER_OTLP_ENDPOINT`, `OTEL_EXPORTER_OTLP_TRACES_ENDPOINT` or
`OTEL_TRACES_EXPORTER` (otlp, console) is set, and `OTEL_SDK_DISABLED` is not true: then every
helper here returns at once and nothing is stamped, so a service without a collector pays nothing.
On, one trace follows a request across the bus:

    HTTP request → command (change) → save → store write
        → relay publish (PRODUCER) → consumer / follower apply (CONSUMER) → [its own store write …]

The link across the store and NATS is the W3C trace context. A store write stamps each new event
with `_traceparent` (and `_tracestate`) beside its data in the stored state: eventsourcing stores an
event's whole `__dict__`, the envelope codec leaves these keys out of `data`, and no extra table or
transaction is needed (see cloudevents.envelope_of). The relay opens its publish span as a child of
that context and puts the span's own context on the envelope as the CloudEvents distributed-tracing
extension (`traceparent`, `tracestate`); consumers and followers continue from it.

The trace attributes are transport, not facts: they are signed with the message body (the signature
covers the exact bytes), but left out of the hash chain and of the audit comparison of bus and
store, so a re-published event (another publish span) still chains and compares as the same event.
Span names and attributes carry ids, types and positions only: never personal data.
"""

from __future__ import annotations

import contextlib
import logging
import os
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import replace
from typing import Any

from opentelemetry import context as otel_context
from opentelemetry import trace
from opentelemetry.trace import Span, SpanKind, Status, StatusCode, Tracer
from opentelemetry.trace.propagation.tracecontext import TraceContextTextMapPropagator

from libs.platform.messaging.cloudevents import STORED_TRACE, Envelope

log = logging.getLogger(__name__)

# The keys a store write adds to an event's stored state (left out of the envelope's data).
STORED_TRACEPARENT, STORED_TRACESTATE = STORED_TRACE
# A tracestate longer than this is not carried (W3C allows dropping it): it is measured with the
# event when stamped, but the relay's span may carry a new one (cloudevents.published_size).
MAX_TRACESTATE = 256

_propagator = TraceContextTextMapPropagator()
_tracer: Tracer | None = None
_provider: Any = None
_OFF = contextlib.nullcontext()


def enabled() -> bool:
    return _tracer is not None


def wanted(env: Mapping[str, str] = os.environ) -> bool:
    """Whether the `OTEL_*` variables ask for traces."""
    if env.get("OTEL_SDK_DISABLED", "").strip().lower() == "true":
        return False
    exporter = env.get("OTEL_TRACES_EXPORTER", "").strip().lower()
    if exporter == "none":
        return False
    return bool(exporter or env.get("OTEL_EXPORTER_OTLP_ENDPOINT") or env.get("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT"))


def configure(service: str, env: Mapping[str, str] = os.environ) -> bool:
    """Turn tracing on from the `OTEL_*` variables, once per process (the first service to start
    names the resource unless `OTEL_SERVICE_NAME` does); returns whether it is on."""
    if _tracer is not None or not wanted(env):
        return enabled()
    from opentelemetry.sdk.resources import Resource
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import BatchSpanProcessor, ConsoleSpanExporter, SpanExporter

    # Resource.create reads OTEL_SERVICE_NAME and OTEL_RESOURCE_ATTRIBUTES; the provider reads
    # OTEL_TRACES_SAMPLER(_ARG); the OTLP exporter reads OTEL_EXPORTER_OTLP_* (endpoint, headers…).
    provider = TracerProvider(resource=Resource.create({"service.name": f"tsunagu-{service}"}))
    exporters: list[SpanExporter] = []
    for name in (env.get("OTEL_TRACES_EXPORTER") or "otlp").split(","):
        name = name.strip().lower()
        if name == "otlp":
            from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
            exporters.append(OTLPSpanExporter())
        elif name == "console":
            exporters.append(ConsoleSpanExporter())
        elif name:
            log.warning("OTEL_TRACES_EXPORTER=%s is not supported here (otlp, console); ignored", name)
    for exporter in exporters:
        provider.add_span_processor(BatchSpanProcessor(exporter))
    use(provider)
    log.info("tracing on: %s", ", ".join(type(e).__name__ for e in exporters) or "no exporter")
    return True


def use(provider: Any) -> None:
    """Trace with this TracerProvider (None: off). Kept here rather than set as OpenTelemetry's
    global, which can be set only once per process: a test gives its own in-memory one."""
    global _tracer, _provider
    _provider = provider
    _tracer = None if provider is None else provider.get_tracer("tsunagu")


def span(name: str, attributes: Mapping[str, Any] | None = None,
         kind: SpanKind = SpanKind.INTERNAL) -> contextlib.AbstractContextManager[Any]:
    """A span of the current trace around a block (an exception is recorded on it); nothing when off."""
    if _tracer is None:
        return _OFF
    return _tracer.start_as_current_span(name, kind=kind, attributes=dict(attributes or {}))


# -- across the store ------------------------------------------------------------------------
def stamp(events: Iterable[Any]) -> None:
    """Write the current span's context into each event about to be stored (store write)."""
    if _tracer is None:
        return
    carrier: dict[str, str] = {}
    _propagator.inject(carrier)
    if "traceparent" not in carrier:
        return
    state = carrier.get("tracestate", "")
    for event in events:
        object.__setattr__(event, STORED_TRACEPARENT, carrier["traceparent"])
        if state and len(state) <= MAX_TRACESTATE:
            object.__setattr__(event, STORED_TRACESTATE, state)


def _parent(envelope: Envelope) -> otel_context.Context | None:
    if not envelope.traceparent:
        return None
    carrier = {"traceparent": envelope.traceparent}
    if envelope.tracestate:
        carrier["tracestate"] = envelope.tracestate
    return _propagator.extract(carrier)


# -- across NATS -----------------------------------------------------------------------------
class Publishing:
    """The relay's publish spans of one batch, one per message, ended when the batch's PubAcks came
    (or it failed)."""

    def __init__(self, spans: Sequence[Span]) -> None:
        self.spans = spans

    def end(self, error: BaseException | None = None) -> None:
        for s in self.spans:
            if error is not None:
                s.record_exception(error)
                s.set_status(Status(StatusCode.ERROR, type(error).__name__))
            s.end()
        self.spans = ()


def publishing(stream: str, subject_of: Callable[[Envelope], str],
               envelopes: list[Envelope]) -> tuple[list[Envelope], Publishing]:
    """Open a PRODUCER span per envelope, each a child of the context its event was stored with, and
    return the envelopes carrying their span's context (CloudEvents `traceparent`/`tracestate`).
    Off: the envelopes as they are (a stored context passes through), and nothing to end."""
    if _tracer is None:
        return envelopes, Publishing(())
    traced, spans = [], []
    for e in envelopes:
        s = _tracer.start_span(f"publish {stream}", context=_parent(e), kind=SpanKind.PRODUCER, attributes={
            "messaging.system": "nats", "messaging.operation.type": "send",
            "messaging.destination.name": subject_of(e), "messaging.message.id": e.id,
            "cloudevents.event_type": e.type, "tsunagu.sequence": e.sequence,
        })
        carrier: dict[str, str] = {}
        _propagator.inject(carrier, context=trace.set_span_in_context(s))
        state = carrier.get("tracestate", "")
        traced.append(replace(e, traceparent=carrier.get("traceparent", ""),
                              tracestate=state if len(state) <= MAX_TRACESTATE else ""))
        spans.append(s)
    return traced, Publishing(spans)


@contextlib.contextmanager
def _applying(tracer: Tracer, handler: str, stream: str, envelope: Envelope) -> Iterator[None]:
    parent = _parent(envelope)
    with tracer.start_as_current_span(
        f"apply {handler}", context=parent, kind=SpanKind.CONSUMER, attributes={
            "messaging.system": "nats" if not stream.endswith("-log") else "eventsourcing",
            "messaging.operation.type": "process", "messaging.destination.name": stream,
            "messaging.message.id": envelope.id, "cloudevents.event_type": envelope.type,
            "tsunagu.sequence": envelope.sequence, "tsunagu.handler": handler,
        }):
        yield


def applying(handler: str, stream: str, envelope: Envelope) -> contextlib.AbstractContextManager[Any]:
    """A CONSUMER span, current around one envelope's effect, child of the context it arrived with
    (the relay's publish span; a follower's: the store write's)."""
    if _tracer is None:
        return _OFF
    return _applying(_tracer, handler, stream, envelope)


# -- logs --------------------------------------------------------------------------------------
def current_ids() -> tuple[str, str] | None:
    """(trace id, span id) in hex of the active span, if any (for log lines)."""
    ctx = trace.get_current_span().get_span_context()
    if not ctx.is_valid:
        return None
    return format(ctx.trace_id, "032x"), format(ctx.span_id, "016x")


# -- HTTP ------------------------------------------------------------------------------------
class TracingMiddleware:
    """A SERVER span per HTTP request, continuing a caller's `traceparent` header. Named by the
    route's template (`POST /v1/cases/{case_id}/consultations`), never by the path with its ids."""

    def __init__(self, app: Any, service: str) -> None:
        self.app = app
        self.service = service

    async def __call__(self, scope: dict, receive: Any, send: Any) -> None:
        if scope["type"] != "http" or _tracer is None:
            await self.app(scope, receive, send)
            return
        # Only the caller's traceparent (fixed-format hex ids) is continued. Its `tracestate` is free
        # text up to 512 characters of the caller's choosing that would be stored with the event and
        # published, where it could never be erased: dropped at the edge (W3C allows it).
        carrier = {k.decode("latin-1"): v.decode("latin-1") for k, v in scope.get("headers", ())
                   if k == b"traceparent"}
        method = scope.get("method", "")
        status = 0

        async def sending(message: dict) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        with _tracer.start_as_current_span(method, context=_propagator.extract(carrier), kind=SpanKind.SERVER,
                                           attributes={"http.request.method": method,
                                                       "tsunagu.service": self.service}) as s:
            try:
                await self.app(scope, receive, sending)
            finally:
                route = getattr(scope.get("route"), "path", None)
                if route:
                    s.update_name(f"{method} {route}")
                    s.set_attribute("http.route", route)
                if status:
                    s.set_attribute("http.response.status_code", status)
                    if status >= 500:
                        s.set_status(Status(StatusCode.ERROR))


def install_http(app: Any, service: str) -> None:
    """Trace the app's requests when tracing is on (outermost, so the edge's answers count too)."""
    if _tracer is not None:
        app.add_middleware(TracingMiddleware, service=service)
