"""The one CloudEvents 1.0 JSON codec of Tsunagu (DESIGN §2).

An envelope carries a stable `id` (aggregate id + version), `source` /tsunagu/<service>,
`type` jp.tsunagu.<context>.<EventName>.v<N>, `subject` (aggregate id), `time`, `data`, and
the extensions `tenant` (全国地方公共団体コード), `sequence` (position in the service's log),
`aggregate` (aggregate type), `leafhash` (the event's leaf in the service's Merkle tree, which is
over the stored form, not this envelope) and `chainhash` (SHA-256 chain over the log); and,
when the event was recorded or published under a trace, the CloudEvents distributed-tracing
extension `traceparent` / `tracestate` (W3C trace context, libs/platform/tracing.py). Those two are
transport, not the fact: the chain hash and the audit comparison leave them out; the signature,
over the message's exact bytes, covers them.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import MISSING, dataclass, fields, replace
from datetime import date, datetime
from typing import Any
from uuid import UUID

from libs.domain.contracts import contract_of, event_id, event_type

_ENVELOPE_FIELDS = (
    "id", "source", "type", "subject", "time", "tenant", "sequence", "aggregate", "data",
)
# The trace context a store write keeps in the event's stored state (tracing.stamp): not data.
STORED_TRACE = {"_traceparent": "traceparent", "_tracestate": "tracestate"}
_NOT_DATA = {"originator_id", "originator_version", "timestamp", "originator_topic", *STORED_TRACE}
# The distributed-tracing extension attributes (omitted when empty).
TRACE_ATTRIBUTES = ("traceparent", "tracestate")
GENESIS = "0" * 64
# The largest log position (a signed 64-bit id in the event store): its digits count in the size.
LARGEST_SEQUENCE = 2**63 - 1


class InvalidEnvelope(ValueError):
    """Bytes that are not a Tsunagu CloudEvent."""


def jsonable(value: Any) -> Any:
    if isinstance(value, (UUID,)):
        return str(value)
    if isinstance(value, (datetime, date)):
        return value.isoformat()
    if isinstance(value, dict):
        return {str(k): jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple, set, frozenset)):
        return [jsonable(v) for v in value]
    return value


class NotRoundTripped(TypeError):
    """A value whose rendering from memory is not proven to equal its rendering from the store."""


def as_stored(value: Any) -> Any:
    """`jsonable(value)` of the value as the store gives it back (eventsourcing's JSONTranscoder:
    JSON, with UUID, datetime and date as tagged strings), computed from the value in memory; for
    any value where that is not proven, NotRoundTripped. Proven by type, exactly (no subclass):
    str, int, bool, float, None come back as they went (JSON; a float by its repr); a UUID, a
    datetime, a date come back from their hex / isoformat() as equal values with equal str() /
    isoformat(); a list or tuple comes back a list, as jsonable makes both; a dict with str keys
    comes back with the same keys, except a dict of exactly `_type_` and `_data_`, which the
    decoder takes for a tagged value (so refused here). A non-str key is refused: JSON writes
    True as "true" where jsonable writes "True". libs/platform/tests/test_render_in_memory.py
    compares both renderings of every event type byte for byte."""
    kind = type(value)
    if kind is str or kind is int or kind is bool or kind is float or value is None:
        return value
    if kind is UUID:
        return str(value)
    if kind is datetime or kind is date:
        return value.isoformat()
    if kind is list or kind is tuple:
        return [as_stored(v) for v in value]
    if kind is dict:
        if len(value) == 2 and "_type_" in value and "_data_" in value:
            raise NotRoundTripped("a dict the store's decoder reads as a tagged value")
        out = {}
        for k, v in value.items():
            if type(k) is not str:
                raise NotRoundTripped(f"a {type(k).__name__} key")
            out[k] = as_stored(v)
        return out
    raise NotRoundTripped(f"a {kind.__qualname__}")


def canonical(obj: Any) -> bytes:
    return json.dumps(obj, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()


@dataclass(frozen=True)
class Envelope:
    id: str
    source: str
    type: str
    subject: str
    time: str
    tenant: str
    sequence: int
    aggregate: str
    data: dict[str, Any]
    chainhash: str = ""
    leafhash: str = ""
    specversion: str = "1.0"
    datacontenttype: str = "application/json"
    traceparent: str = ""
    tracestate: str = ""

    @property
    def context(self) -> str:
        return self.type.split(".")[2]

    @property
    def name(self) -> str:
        return self.type.split(".")[3]

    @property
    def version(self) -> int:
        return int(self.type.rsplit(".v", 1)[1])

    def to_dict(self) -> dict[str, Any]:
        # Shallow: `data` is JSON already (envelope_of, from_json), and dataclasses.asdict's deep
        # copy of it was most of the relay's time (issue 15). The caller gets its own top dicts.
        body = {f.name: getattr(self, f.name) for f in _FIELDS}
        body["data"] = dict(self.data)
        if not body["leafhash"]:  # an envelope of no stored event (e.g. a history view) has no leaf
            del body["leafhash"]
        for name in TRACE_ATTRIBUTES:  # not traced: no attribute
            if not body[name]:
                del body[name]
        return body

    def fact(self) -> dict[str, Any]:
        """What the hash chain covers and bus and store must agree on: the envelope without its
        chain hash and trace context."""
        body = self.to_dict()
        for name in ("chainhash", *TRACE_ATTRIBUTES):
            body.pop(name, None)
        return body

    def to_json(self) -> bytes:
        return canonical(self.to_dict())

    def chained(self, previous_hash: str) -> Envelope:
        """This envelope with chainhash = SHA-256(previous ‖ canonical(fact)): the envelope without
        chainhash, traceparent and tracestate (an event published again under another trace is the
        same link of the chain)."""
        digest = hashlib.sha256(previous_hash.encode() + canonical(self.fact())).hexdigest()
        return replace(self, chainhash=digest)

    def chained_json(self, previous_hash: str) -> tuple[Envelope, bytes]:
        """`chained(previous_hash)` and its `to_json()`, with one canonical rendering instead of two
        (issue 15: an import renders hundreds in its save). Untraced, the message is the fact with
        the chain hash put in its place among the sorted keys, right after `aggregate` (the first);
        traced, it is rendered again."""
        fact = canonical(self.fact())
        digest = hashlib.sha256(previous_hash.encode() + fact).hexdigest()
        # What replace(self, chainhash=digest) gives, without its __init__ (a third of this method's
        # time in an import's save): a frozen dataclass's fields are its __dict__.
        chained = object.__new__(Envelope)
        chained.__dict__.update(self.__dict__, chainhash=digest)
        head = b'{"aggregate":' + json.dumps(self.aggregate, ensure_ascii=False).encode() + b","
        if self.traceparent or self.tracestate or not fact.startswith(head):
            return chained, chained.to_json()
        return chained, head + b'"chainhash":"' + digest.encode() + b'",' + fact[len(head):]

    @classmethod
    def from_json(cls, raw: bytes) -> Envelope:
        try:
            obj = json.loads(raw)
        except ValueError as e:
            raise InvalidEnvelope(f"not JSON: {e}") from e
        if not isinstance(obj, dict) or obj.get("specversion") != "1.0":
            raise InvalidEnvelope("not a CloudEvents 1.0 envelope")
        if not _REQUIRED.issubset(obj):
            missing = [f for f in _ENVELOPE_FIELDS if f not in obj]
            raise InvalidEnvelope(f"missing attributes: {', '.join(missing)}")
        if cls is not Envelope:
            return cls(**{k: v for k, v in obj.items() if k in _KNOWN})
        # What __init__ gives, without it (a consumer decodes every message: issue 15): a frozen
        # dataclass's fields are its __dict__; the defaults first, then the known attributes.
        envelope = object.__new__(Envelope)
        envelope.__dict__.update(_DEFAULTS, **{k: v for k, v in obj.items() if k in _KNOWN})
        return envelope


_KNOWN = frozenset(Envelope.__dataclass_fields__)
_REQUIRED = frozenset(_ENVELOPE_FIELDS)
_DEFAULTS = {f.name: f.default for f in fields(Envelope) if f.default is not MISSING}


_FIELDS = fields(Envelope)


def envelope_of(service: str, domain_event: Any, *, tenant: str, sequence: int, leafhash: str = "",
                in_memory: bool = False) -> Envelope:
    """The CloudEvent for a stored domain event (unchained). `in_memory`: the event is the object
    a save is storing, not one decoded from the store; its envelope is the one the store's copy
    renders, or NotRoundTripped where that is not proven (as_stored)."""
    contract = contract_of(type(domain_event))
    if contract is None:
        raise TypeError(f"{type(domain_event).__qualname__} has no libs/domain contract")
    state = domain_event.__dict__
    convert = as_stored if in_memory else jsonable
    data = {k: convert(v) for k, v in state.items() if k not in _NOT_DATA}
    trace = {attribute: state[key] for key, attribute in STORED_TRACE.items() if state.get(key)}
    if in_memory and (type(domain_event.originator_id) is not UUID or type(domain_event.timestamp) is not datetime
                      or any(type(v) is not str for v in trace.values())):
        raise NotRoundTripped("an id, time or trace context of another type")
    return Envelope(
        id=event_id(domain_event.originator_id, domain_event.originator_version),
        source=f"/tsunagu/{service}",
        type=event_type(contract),
        subject=str(domain_event.originator_id),
        time=domain_event.timestamp.isoformat(),
        tenant=tenant,
        sequence=sequence,
        aggregate=contract.AGGREGATE,
        data=data,
        leafhash=leafhash,
        **trace,
    )


def published_size(service: str, domain_event: Any, *, tenant: str, in_memory: bool = False) -> int:
    """Bytes of the event's envelope as the relay will publish it (to_json of the chained envelope),
    measured before it is stored: the extensions only known later (its position, leaf hash and
    chain hash) at their largest. The trace context it was stamped with counts as it is: the relay's
    publish span replaces it with one as long (an event stored untraced and published traced gains
    ~70 bytes, inside PUBLISH_HEADROOM). `in_memory`: as envelope_of's (NotRoundTripped where the
    object a save is storing is not proven to render as its stored copy will)."""
    envelope = envelope_of(service, domain_event, tenant=tenant, sequence=LARGEST_SEQUENCE, leafhash=GENESIS,
                           in_memory=in_memory)
    # A shallow to_dict(): asdict's deep copy of the data would be most of the cost of every save.
    body = {f.name: getattr(envelope, f.name) for f in fields(envelope)
            if f.name not in TRACE_ATTRIBUTES or getattr(envelope, f.name)}
    return len(canonical({**body, "chainhash": GENESIS}))


# More than every envelope attribute but `data` takes, with its name and punctuation (id, source,
# type, subject, time, tenant, sequence at its largest, aggregate, leaf and chain hash,
# specversion, datacontenttype: ~700 bytes).
ENVELOPE_ATTRIBUTES_BOUND = 2048


def stored_size_bound(state: bytes) -> int:
    """More than the bytes of the message of a stored event whose state is the transcoder's JSON
    (neither compressed nor shorter encrypted): each value of its `data` renders no longer than the
    store wrote it (strings, numbers, lists and dicts as the same JSON; a UUID, datetime or date as a
    string, shorter than its tagged form), its trace context is in the state too, and the rest of
    the envelope is under ENVELOPE_ATTRIBUTES_BOUND. Doubled for margin: an event far under the
    limit by this bound needs no rendering to be measured (issue 15: 500 renderings an import)."""
    return 2 * len(state) + ENVELOPE_ATTRIBUTES_BOUND


def nats_subject(service: str, envelope: Envelope) -> str:
    """<service>.<tenant>.<aggregate>.<EventName> (DESIGN §2)."""
    return f"{service}.{envelope.tenant}.{envelope.aggregate}.{envelope.name}"
