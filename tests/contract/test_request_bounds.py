"""Every request body of every service is bounded (issue 13), read from the OpenAPI documents the
services serve, so that a field added tomorrow cannot forget it: each string has a maxLength (or is
an enum, a uuid or a date), each list a maxItems, each map a closed set of keys, each number a
maximum. And no request within those bounds can make an event that reaches the event size limit,
nor a body that reaches the body size limit."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from libs.platform.limits import DEFAULT_MAX_BODY_BYTES, DEFAULT_MAX_EVENT_BYTES, PUBLISH_HEADROOM
from libs.platform.tools.openapi import SERVICES, openapi_of

# The most bytes one character of free text takes: in an event a control character is escaped to
# \u00XX (6 bytes) and sealing (AES-GCM, base64) adds a third; in a request body a character outside
# the BMP may come as two \uXXXX escapes. Codes, ids and keys are ASCII: one byte each in an event
# (canonical JSON), up to six in a body (any character may be sent escaped).
EVENT = {"char": 8, "ascii": 1}
BODY = {"char": 12, "ascii": 6}
BOUNDED_FORMATS = {"uuid": 36, "date": 10, "date-time": 40}
# What an event adds to the request's fields: the envelope (ids, type, time, hashes) and the
# aggregate's own ids and codes; measured envelopes of our events are under 1 KiB.
ENVELOPE_ALLOWANCE = 4096


def _bodies() -> Iterator[tuple[str, dict[str, Any], dict[str, Any]]]:
    for service in SERVICES:
        doc = openapi_of(service)
        for path, operations in doc["paths"].items():
            for method, operation in operations.items():
                for media, content in operation.get("requestBody", {}).get("content", {}).items():
                    yield f"{service} {method.upper()} {path} ({media})", content["schema"], doc


BODIES = list(_bodies())


def _resolved(doc: dict[str, Any], schema: dict[str, Any]) -> dict[str, Any]:
    while "$ref" in schema:
        schema = doc["components"]["schemas"][schema["$ref"].rsplit("/", 1)[1]]
    return schema


def unbounded(doc: dict[str, Any], schema: dict[str, Any], where: str = "") -> list[str]:
    """Where in `schema` a value has no upper bound."""
    schema = _resolved(doc, schema)
    found: list[str] = []
    for alternative in schema.get("anyOf", []) + schema.get("oneOf", []) + schema.get("allOf", []):
        found += unbounded(doc, alternative, where)
    kind = schema.get("type")
    if "enum" in schema or "const" in schema:
        return found
    if kind == "string" and "maxLength" not in schema and schema.get("format") not in BOUNDED_FORMATS:
        found.append(f"{where}: string without maxLength")
    if kind in ("integer", "number") and "maximum" not in schema:
        found.append(f"{where}: number without maximum")
    if kind == "array":
        if "maxItems" not in schema and "prefixItems" not in schema:
            found.append(f"{where}: array without maxItems")
        for i, item in enumerate(schema.get("prefixItems", [])):
            found += unbounded(doc, item, f"{where}[{i}]")
        if "items" in schema:
            found += unbounded(doc, schema["items"], f"{where}[]")
    for name, value in schema.get("properties", {}).items():
        found += unbounded(doc, value, f"{where}.{name}")
    extra = schema.get("additionalProperties")
    if isinstance(extra, dict) or extra is True:
        if "enum" not in schema.get("propertyNames", {}) and "maxProperties" not in schema:
            found.append(f"{where}: map without a closed set of keys")
        found += unbounded(doc, extra if isinstance(extra, dict) else {}, f"{where}{{}}")
    return found


def largest(doc: dict[str, Any], schema: dict[str, Any], per: dict[str, int]) -> int:
    """The most bytes a value valid under `schema` can take as JSON, `per` bytes a character."""
    schema = _resolved(doc, schema)
    alternatives = schema.get("anyOf", []) + schema.get("oneOf", [])
    if alternatives:
        return max(largest(doc, a, per) for a in alternatives)
    if "enum" in schema or "const" in schema:
        return max(len(str(v)) for v in schema.get("enum", [schema.get("const")])) * per["ascii"] + 2
    kind = schema.get("type")
    if kind == "string" and "maxLength" in schema:
        return schema["maxLength"] * per["char"] + 2
    if kind == "string":
        return BOUNDED_FORMATS[schema["format"]] * per["ascii"] + 2
    if kind == "array":
        if "prefixItems" in schema:
            return sum(largest(doc, s, per) + 1 for s in schema["prefixItems"]) + 2
        return schema["maxItems"] * (largest(doc, schema["items"], per) + 1) + 2
    if kind == "object" or "properties" in schema:
        size = sum(len(k) * per["ascii"] + 3 + largest(doc, v, per) for k, v in schema.get("properties", {}).items())
        if isinstance(schema.get("additionalProperties"), dict):
            keys = schema["propertyNames"]["enum"]
            size += len(keys) * (max(map(len, keys)) * per["ascii"] + 3
                                 + largest(doc, schema["additionalProperties"], per))
        return size + 2
    return 24  # a number (bounded by maximum), a boolean or null


@pytest.mark.parametrize(("where", "schema", "doc"), BODIES, ids=[b[0] for b in BODIES])
def test_every_string_list_map_and_number_of_a_request_has_an_upper_bound(where, schema, doc):
    assert unbounded(doc, schema) == []


def unit(doc: dict[str, Any], schema: dict[str, Any]) -> dict[str, Any]:
    """What one event is made of: the request, or for a bulk request (an array marked
    `x-tsunagu-bulk`, e.g. a consultation import) one of its items, each recorded as an event."""
    for value in _resolved(doc, schema).get("properties", {}).values():
        if value.get("x-tsunagu-bulk"):
            return value["items"]
    return schema


@pytest.mark.parametrize(("where", "schema", "doc"), BODIES, ids=[b[0] for b in BODIES])
def test_no_request_within_its_bounds_can_make_an_event_that_reaches_the_event_limit(where, schema, doc):
    event = largest(doc, unit(doc, schema), EVENT) + ENVELOPE_ALLOWANCE + PUBLISH_HEADROOM
    assert event <= DEFAULT_MAX_EVENT_BYTES, f"{where}: up to {event} bytes as an event"


@pytest.mark.parametrize(("where", "schema", "doc"), BODIES, ids=[b[0] for b in BODIES])
def test_no_request_within_its_bounds_is_refused_by_the_body_limit(where, schema, doc):
    """A bulk request's items each fit; the whole is bounded by the body limit itself (413, the
    schema says so), not by maxItems × the largest item (500 imported consultations at 8,000
    characters each, every one escaped, would be 48 MB)."""
    assert largest(doc, unit(doc, schema), BODY) <= DEFAULT_MAX_BODY_BYTES


def test_only_the_consultation_import_is_bulk():
    bulk = [where for where, schema, doc in BODIES if unit(doc, schema) is not schema]
    assert bulk == ["intake POST /v1/consultation-imports (application/json)"]


def test_the_walk_finds_what_a_forgotten_bound_would_be():
    doc = {"components": {"schemas": {"Note": {"type": "object", "properties": {
        "text": {"type": "string"}, "tags": {"type": "array", "items": {"type": "string", "maxLength": 9}},
        "extra": {"type": "object", "additionalProperties": {"type": "string", "maxLength": 9}},
        "count": {"type": "integer"}}}}}}
    assert unbounded(doc, {"$ref": "#/components/schemas/Note"}) == [
        ".text: string without maxLength", ".tags: array without maxItems",
        ".extra: map without a closed set of keys", ".count: number without maximum"]
    # The walk reads the request bodies of every service that takes any (reporting takes none).
    assert {where.split()[0] for where, _, _ in BODIES} == {"intake", "registry", "dispatch"}
