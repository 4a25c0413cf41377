"""The AsyncAPI 3 document of the event streams, generated from the libs/domain contracts."""

from __future__ import annotations

import copy
import types
import typing
from datetime import date, datetime
from typing import Any
from uuid import UUID

from libs.domain.contracts import Contract, event_type
from libs.platform.messaging.signing import HEADER
from libs.platform.messaging.streams import AUDIT_STREAM, CONTRACTS, STREAMS
from libs.platform.tracing import MAX_TRACESTATE

# Every event message carries these NATS headers (libs/platform/messaging/relay.py, signing.py).
EVENT_HEADERS = {
    "type": "object", "required": ["Nats-Msg-Id", HEADER],
    "properties": {
        "Nats-Msg-Id": {"type": "string", "description": "the CloudEvent id (JetStream de-duplicates on it)"},
        "Nats-Expected-Last-Sequence": {
            "type": "string", "pattern": "^[0-9]+$",
            "description": "on the first message of each batch the relay publishes (and on each message "
                           "published before batches were atomic): the stream sequence the stream must end "
                           "at when the batch commits (that of the event before it in the publishing "
                           "service's log or, after a message someone else put on the stream, that one): "
                           "JetStream (a cluster's stream leader) stores the batch only then, so the stream "
                           "is in log order. Messages published before it carry Nats-Expected-Last-Msg-Id "
                           "instead, the id of the event before them"},
        "Nats-Batch-Id": {"type": "string", "maxLength": 64,
                          "description": "the JetStream atomic batch the message was published in (ADR-50): "
                                         "its messages were stored together, in order, or none of them. "
                                         "Absent on a batch of one and on messages published before"},
        "Nats-Batch-Sequence": {"type": "string", "pattern": "^[1-9][0-9]*$",
                                "description": "the message's place in its atomic batch, from 1"},
        "Nats-Batch-Commit": {"type": "string", "enum": ["1"],
                              "description": "on the last message of an atomic batch"},
        HEADER: {"type": "string", "pattern": "^ed25519:[A-Za-z0-9_-]{86}$",
                 "description": "Ed25519 signature (unpadded base64url) of `tsunagu/event/v1` and a NUL byte "
                                "followed by the message body, by the publishing service's signing key "
                                "(messages published before that context: of the body alone); check it with "
                                "that service's published public key "
                                "(`<SERVICE>_PUBLIC_KEY`, `tsunagu keys public`) before trusting the event"},
    },
}
# The CloudEvents distributed-tracing extension (libs/platform/tracing.py): present when the event
# was stored or published under a trace. Signed with the body; not part of the hash chain.
TRACE_EXTENSION = {
    "traceparent": {"type": "string", "pattern": "^00-[0-9a-f]{32}-[0-9a-f]{16}-[0-9a-f]{2}$",
                    "description": "W3C trace context of the relay's publish span (CloudEvents distributed "
                                   "tracing extension): a consumer's span continues this trace"},
    "tracestate": {"type": "string", "maxLength": MAX_TRACESTATE,
                   "description": "W3C tracestate that goes with traceparent, when there is one"},
}
_ORIGINATOR_FIELDS = {"originator_id", "originator_version", "timestamp", "originator_topic"}
_SCALARS = {
    str: {"type": "string"}, int: {"type": "integer"}, bool: {"type": "boolean"},
    float: {"type": "number"}, UUID: {"type": "string", "format": "uuid"},
    datetime: {"type": "string", "format": "date-time"}, date: {"type": "string", "format": "date"},
    dict: {"type": "object"},
}
SEALED = {
    "type": "object",
    "description": "A value sealed per data subject (AES-256-GCM); never plaintext.",
    "required": ["alg", "kid", "iv", "ct"],
    "properties": {"alg": {"const": "A256GCM"}, "kid": {"type": "string"},
                   "iv": {"type": "string"}, "ct": {"type": "string"}},
    "additionalProperties": False,
}


def _schema_of(hint: Any) -> dict[str, Any]:
    if hint in _SCALARS:
        return dict(_SCALARS[hint])
    origin = typing.get_origin(hint)
    if origin in (typing.Union, types.UnionType):
        args = typing.get_args(hint)
        return {"anyOf": [{"type": "null"} if a is type(None) else _schema_of(a) for a in args]}
    if origin in (list, tuple):
        (item, *_) = typing.get_args(hint) or (str,)
        return {"type": "array", "items": _schema_of(item)}
    raise TypeError(f"no JSON Schema mapping for {hint!r}")


def data_schema(contract: type[Contract]) -> dict[str, Any]:
    hints = {k: v for k, v in typing.get_type_hints(contract).items()
             if k not in _ORIGINATOR_FIELDS and typing.get_origin(v) is not typing.ClassVar}
    properties = {}
    for name, hint in hints.items():
        if name in contract.SEALED_FIELDS:
            properties[name] = {"anyOf": [{"$ref": "#/components/schemas/Sealed"}, {"type": "null"}]}
        else:
            properties[name] = _schema_of(hint)
    return {"type": "object", "required": list(hints), "properties": properties, "additionalProperties": False}


def envelope_schema(contract: type[Contract], service: str | None) -> dict[str, Any]:
    """`service` None: a contract every service publishes (e.g. audit), from its own source."""
    return {
        "type": "object",
        "required": ["specversion", "id", "source", "type", "subject", "time", "datacontenttype",
                     "tenant", "sequence", "aggregate", "leafhash", "chainhash", "data"],
        "properties": {
            "specversion": {"const": "1.0"},
            "id": {"type": "string", "format": "uuid"},
            "source": ({"const": f"/tsunagu/{service}"} if service
                       else {"type": "string", "pattern": "^/tsunagu/[a-z]+$"}),
            "type": {"const": event_type(contract)},
            "subject": {"type": "string", "description": "aggregate id"},
            "time": {"type": "string", "format": "date-time"},
            "datacontenttype": {"const": "application/json"},
            "tenant": {"type": "string", "pattern": "^[0-9]{6}$",
                       "description": "全国地方公共団体コード (000000: national, no local government)"},
            "sequence": {"type": "integer", "minimum": 1},
            "aggregate": {"type": "string"},
            "leafhash": {"type": "string", "pattern": "^[0-9a-f]{64}$",
                         "description": "RFC 9162 leaf hash of the event's stored (sealed) form in the service's "
                                        "Merkle tree: the signed checkpoints' roots are over these, in sequence order"},
            "chainhash": {"type": "string", "pattern": "^[0-9a-f]{64}$",
                          "description": "SHA-256(previous chainhash ‖ canonical JSON of this envelope without "
                                         "chainhash, traceparent and tracestate)"},
            **TRACE_EXTENSION,
            "data": {"$ref": f"#/components/schemas/{contract.__name__}Data"},
        },
        "additionalProperties": False,
    }


def asyncapi_document() -> dict[str, Any]:
    channels: dict[str, Any] = {}
    operations: dict[str, Any] = {}
    messages: dict[str, Any] = {}
    schemas: dict[str, Any] = {"Sealed": SEALED}
    for service, contracts in CONTRACTS.items():
        stream = STREAMS[service]
        for contract in contracts:
            name = contract.__name__
            channel = f"{service}{name}"
            channels[channel] = {
                "address": f"{service}.{{tenant}}.{contract.AGGREGATE}.{name}",
                "description": f"JetStream stream {stream.name}",
                "parameters": {"tenant": {"description": "全国地方公共団体コード of the owning local government"}},
                "messages": {name: {"$ref": f"#/components/messages/{name}"}},
            }
            operations[f"publish{name}" if contract.CONTEXT == service else f"publish{name}From{service.title()}"] = {
                "action": "send", "channel": {"$ref": f"#/channels/{channel}"},
                "messages": [{"$ref": f"#/channels/{channel}/messages/{name}"}],
            }
            messages[name] = {
                "name": name, "title": event_type(contract),
                "summary": (contract.__doc__ or "").strip().splitlines()[0] if contract.__doc__ else name,
                "contentType": "application/cloudevents+json",
                "headers": copy.deepcopy(EVENT_HEADERS),
                "payload": {"$ref": f"#/components/schemas/{name}"},
            }
            schemas[name] = envelope_schema(contract, service if contract.CONTEXT == service else None)
            schemas[f"{name}Data"] = data_schema(contract)
    _add_checkpoints(channels, operations, messages, schemas)
    return {
        "asyncapi": "3.0.0",
        "info": {"title": "Tsunagu event streams", "version": "1.0.0",
                 "description": "CloudEvents 1.0 JSON on NATS JetStream; one stream per publishing service, "
                                "and the stream AUDIT of every service's signed checkpoints."},
        "defaultContentType": "application/cloudevents+json",
        "channels": channels,
        "operations": operations,
        "components": {"messages": messages, "schemas": schemas},
    }


CHECKPOINT = {
    "type": "object",
    "required": ["service", "tree_size", "root_hash", "made_at", "signature", "public_key"],
    "properties": {
        "service": {"type": "string", "enum": sorted(CONTRACTS)},
        "tree_size": {"type": "integer", "minimum": 1, "description": "events in the tree"},
        "root_hash": {"type": "string", "pattern": "^[0-9a-f]{64}$", "description": "RFC 9162 Merkle tree hash"},
        "chainhash": {"anyOf": [{"type": "string", "pattern": "^[0-9a-f]{64}$"}, {"type": "null"}],
                      "description": "chainhash of the tree's last event on the stream (v2); null on a v1 checkpoint"},
        "made_at": {"type": "string", "format": "date-time"},
        "signature": {"type": "string", "pattern": "^[0-9a-f]{128}$",
                      "description": "Ed25519 over 'tsunagu-checkpoint/v2\\n<service>\\n<tree_size>\\n<root_hash>"
                                     "\\n<chainhash>\\n<made_at>\\n' (v1: without the chainhash line)"},
        "public_key": {"type": "string", "pattern": "^[0-9a-f]{64}$",
                       "description": "the signing key (hex), a hint: witnesses pin the key they got out of band"},
    },
    "additionalProperties": False,
}


def _add_checkpoints(channels: dict, operations: dict, messages: dict, schemas: dict) -> None:
    """Signed checkpoints: plain JSON (not CloudEvents: no event of any aggregate), kept in AUDIT."""
    channels["auditCheckpoint"] = {
        "address": "audit.{service}.checkpoint",
        "description": f"JetStream stream {AUDIT_STREAM.name} (subjects audit.>, file storage, kept forever)",
        "parameters": {"service": {"enum": sorted(CONTRACTS), "description": "the service whose log is signed"}},
        "messages": {"Checkpoint": {"$ref": "#/components/messages/Checkpoint"}},
    }
    operations["publishCheckpoint"] = {
        "action": "send", "channel": {"$ref": "#/channels/auditCheckpoint"},
        "messages": [{"$ref": "#/channels/auditCheckpoint/messages/Checkpoint"}],
    }
    messages["Checkpoint"] = {
        "name": "Checkpoint", "title": "Signed checkpoint of a service's Merkle tree",
        "summary": "Published when made; a witness reads them all from AUDIT.",
        "contentType": "application/json",
        "headers": {"type": "object", "properties": {"Nats-Msg-Id": {
            "type": "string", "description": "checkpoint-<service>-<tree_size>: a republished one is a duplicate"}}},
        "payload": {"$ref": "#/components/schemas/Checkpoint"},
    }
    schemas["Checkpoint"] = CHECKPOINT
