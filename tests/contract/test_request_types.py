"""Every request body reads dates and yes/no answers only as the schema writes them (found by
schemathesis's coverage phase): pydantic's lax mode took `"starts_on": 0` as 1970-01-01 (a training
course of 1970 was created) and `"costs_self_paid": 0` as false in a person's consent to a dispatch.

Walked from the routes of every service, so a body or field added tomorrow is held to it: each body
is a RequestBody; each date/time field carries the check that refuses numbers (inputs.Day, Instant,
BirthDate, When); each bool is inputs.Flag (strict)."""

from __future__ import annotations

import importlib
import types
import typing
from collections.abc import Iterator
from datetime import date, datetime
from typing import Annotated, Any, Union, get_args, get_origin

import pytest
from fastapi.routing import APIRoute
from pydantic import BaseModel, BeforeValidator, Strict, TypeAdapter, ValidationError

from libs.platform.tools.openapi import SERVICES, _offline_settings
from libs.platform.web.inputs import Day, Flag, Instant, RequestBody, When, _written


def _leaves(annotation: Any, metadata: tuple[Any, ...] = ()) -> Iterator[tuple[Any, tuple[Any, ...]]]:
    """(type, metadata) of each leaf type of an annotation, through Optional, unions, lists, Annotated."""
    origin = get_origin(annotation)
    if origin is Annotated:
        inner, *extra = get_args(annotation)
        yield from _leaves(inner, metadata + tuple(extra))
    elif origin in (Union, types.UnionType, list, tuple, set, frozenset, dict, typing.Literal):
        if origin is typing.Literal:
            return
        for arg in get_args(annotation):
            if arg is not type(None) and arg is not Ellipsis:
                yield from _leaves(arg, metadata)
    else:
        yield annotation, metadata


def _fields(model: type[BaseModel], seen: set[type]) -> Iterator[tuple[str, Any, tuple[Any, ...]]]:
    if model in seen:
        return
    seen.add(model)
    for name, field in model.model_fields.items():
        for leaf, metadata in _leaves(field.annotation, tuple(field.metadata)):
            if isinstance(leaf, type) and issubclass(leaf, BaseModel):
                yield from _fields(leaf, seen)
            else:
                yield f"{model.__name__}.{name}", leaf, metadata


def _api_routes(routes: list[Any]) -> Iterator[APIRoute]:
    for route in routes:
        if isinstance(route, APIRoute):
            yield route
        elif (included := getattr(route, "original_router", None)) is not None:  # FastAPI's include_router
            yield from _api_routes(included.routes)


def _bodies() -> Iterator[tuple[str, type[BaseModel]]]:
    for service in SERVICES:
        app = importlib.import_module(f"services.{service}.bootstrap").create_app(_offline_settings(service))
        for route in _api_routes(app.routes):
            if route.body_field is not None:
                for leaf, _ in _leaves(route.body_field.field_info.annotation):
                    if isinstance(leaf, type) and issubclass(leaf, BaseModel):
                        yield f"{service} {sorted(route.methods)[0]} {route.path}", leaf


BODIES = list(_bodies())


@pytest.mark.parametrize(("where", "model"), BODIES, ids=[w for w, _ in BODIES])
def test_every_body_takes_dates_as_text_and_yes_or_no_as_json_booleans(where, model):
    assert issubclass(model, RequestBody), f"{where}: {model.__name__} is not a RequestBody"
    for field, leaf, metadata in _fields(model, set()):
        if leaf is bool:
            assert any(isinstance(m, Strict) for m in metadata), f"{where}: {field} is a bool, not inputs.Flag"
        if isinstance(leaf, type) and issubclass(leaf, date | datetime):
            assert any(isinstance(m, BeforeValidator) and m.func is _written for m in metadata), \
                f"{where}: {field} is a {leaf.__name__}, not inputs.Day/Instant/BirthDate"


def test_the_walk_finds_the_bodies_and_their_fields():
    assert len(BODIES) > 40
    fields = {field.split(".")[1] for _, model in BODIES for field, _, _ in _fields(model, set())}
    assert {"roster_listing", "costs_self_paid", "starts_on", "birth_date", "occurred_at"} <= fields


@pytest.mark.parametrize("value", [0, 1_700_000_000, 1.5, "0", "1700000000", " 20260401 ", "1e9"])
def test_a_date_or_time_given_as_a_number_is_refused(value):
    for kind in (Day, Instant, When):
        with pytest.raises(ValidationError):
            TypeAdapter(kind).validate_python(value)


def test_dates_and_times_as_iso_text_are_read():
    assert TypeAdapter(Day).validate_python("2026-04-01") == date(2026, 4, 1)
    assert TypeAdapter(Instant).validate_python("2026-04-01T10:00:00+09:00").isoformat() == "2026-04-01T10:00:00+09:00"


@pytest.mark.parametrize("value", [0, 1, "true", "yes", "off", "1"])
def test_a_yes_or_no_is_a_json_boolean_only(value):
    with pytest.raises(ValidationError):
        TypeAdapter(Flag).validate_python(value)
    assert TypeAdapter(Flag).validate_python(True) is True
