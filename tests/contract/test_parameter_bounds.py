"""Every query and path parameter of every service is bounded, and every date of a request lies in
the plausible window (issue 14: `after=9223372036854775808` on the audit and dead-letter paths was
a 500 OverflowError; dates from year 0081 to 9847 were stored). Read from the OpenAPI documents
the services serve, so that a parameter or a date field added tomorrow cannot forget it."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from libs.platform.tools.openapi import SERVICES, openapi_of
from libs.platform.web.inputs import EARLIEST, LATEST
from tests.contract.test_request_bounds import BODIES, _resolved

DATE_FORMATS = ("date", "date-time")


def _parameters() -> Iterator[tuple[str, dict[str, Any], dict[str, Any]]]:
    for service in SERVICES:
        doc = openapi_of(service)
        for path, operations in doc["paths"].items():
            for method, operation in operations.items():
                for parameter in operation.get("parameters", []):
                    if parameter["in"] in ("query", "path"):
                        yield (f"{service} {method.upper()} {path} {parameter['in']} {parameter['name']}",
                               parameter["schema"], doc)


PARAMETERS = list(_parameters())


def _alternatives(doc: dict[str, Any], schema: dict[str, Any]) -> list[dict[str, Any]]:
    schema = _resolved(doc, schema)
    nested = schema.get("anyOf", []) + schema.get("oneOf", [])
    return [a for n in nested for a in _alternatives(doc, n)] if nested else [schema]


def unbounded_parameter(doc: dict[str, Any], schema: dict[str, Any]) -> list[str]:
    found = []
    for alternative in _alternatives(doc, schema):
        kind = alternative.get("type")
        if "enum" in alternative or "const" in alternative or kind in ("boolean", "null"):
            continue
        if kind == "integer" and ("maximum" not in alternative or "minimum" not in alternative):
            found.append("integer without minimum and maximum")
        elif kind == "string" and alternative.get("format") in DATE_FORMATS:
            found += undated(alternative)
        elif kind == "string" and "maxLength" not in alternative and alternative.get("format") != "uuid":
            found.append("string without maxLength")
        elif kind not in ("integer", "string"):
            found.append(f"a parameter of type {kind}")
    return found


def undated(schema: dict[str, Any]) -> list[str]:
    """A date or date-time without the window (formatMinimum/formatMaximum) of libs/platform/inputs."""
    low, high = schema.get("formatMinimum", ""), schema.get("formatMaximum", "")
    if not (low.startswith(EARLIEST.isoformat()) and high.startswith(LATEST.isoformat())):
        return [f"{schema['format']} without the window {EARLIEST}..{LATEST}"]
    return []


def dates_outside_the_window(doc: dict[str, Any], schema: dict[str, Any], where: str = "") -> list[str]:
    schema = _resolved(doc, schema)
    found = []
    for alternative in schema.get("anyOf", []) + schema.get("oneOf", []) + schema.get("allOf", []):
        found += dates_outside_the_window(doc, alternative, where)
    if schema.get("type") == "string" and schema.get("format") in DATE_FORMATS:
        found += [f"{where}: {problem}" for problem in undated(schema)]
    for name, value in schema.get("properties", {}).items():
        found += dates_outside_the_window(doc, value, f"{where}.{name}")
    for key in ("items", "additionalProperties"):
        if isinstance(schema.get(key), dict):
            found += dates_outside_the_window(doc, schema[key], f"{where}[]")
    for i, item in enumerate(schema.get("prefixItems", [])):
        found += dates_outside_the_window(doc, item, f"{where}[{i}]")
    return found


@pytest.mark.parametrize(("where", "schema", "doc"), PARAMETERS, ids=[p[0] for p in PARAMETERS])
def test_every_query_and_path_parameter_has_bounds(where, schema, doc):
    assert unbounded_parameter(doc, schema) == []


@pytest.mark.parametrize(("where", "schema", "doc"), BODIES, ids=[b[0] for b in BODIES])
def test_every_date_of_a_request_body_lies_in_the_window(where, schema, doc):
    assert dates_outside_the_window(doc, schema) == []


def test_the_walks_find_what_a_forgotten_bound_would_be():
    doc: dict[str, Any] = {"components": {"schemas": {}}}
    assert unbounded_parameter(doc, {"type": "integer", "minimum": 0}) == ["integer without minimum and maximum"]
    assert unbounded_parameter(doc, {"anyOf": [{"type": "integer", "minimum": 0, "maximum": 9},
                                               {"type": "null"}]}) == []
    assert unbounded_parameter(doc, {"type": "string"}) == ["string without maxLength"]
    assert unbounded_parameter(doc, {"type": "string",
                                     "format": "date"}) == ["date without the window 1900-01-01..2100-12-31"]
    body = {"type": "object", "properties": {"on": {"type": "string", "format": "date"},
                                             "ends": {"anyOf": [{"type": "string", "format": "date"},
                                                                {"type": "null"}]}}}
    assert dates_outside_the_window(doc, body) == [".on: date without the window 1900-01-01..2100-12-31",
                                                   ".ends: date without the window 1900-01-01..2100-12-31"]
    # Every service has parameters, and the integer ones of the audit and dead-letter paths are here.
    names = {where for where, _, _ in PARAMETERS}
    assert "intake GET /v1/audit/events query after" in names
    assert "dispatch POST /v1/ops/dead-letters/{consumer}/{stream}/{position}/resolution path position" in names
