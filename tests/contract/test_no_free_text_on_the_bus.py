"""Nothing free-text in clear on any stream (issue 14): a stream cannot be erased, so whatever a
person types must travel sealed (under the subject's key, erasable) or not at all.

Every event type of every stream is built with a marker in every string it can hold (str fields,
list items, dict values) except its sealed fields, and rendered as the relay publishes it (the
chained CloudEvent's bytes). Each field whose marker shows is a field a caller's text could reach
the bus through: it must be listed below as a code, an id, a digest or public data of an
organisation, with why. A new str field fails here until it is sealed, made a code, or justified.
Every built envelope also validates against the AsyncAPI document."""

from __future__ import annotations

import types
import typing
from datetime import UTC, date, datetime
from functools import cache
from typing import Any
from uuid import UUID, uuid4

import jsonschema
import pytest

from libs.domain.contracts import Contract
from libs.platform.messaging.cloudevents import GENESIS, envelope_of
from libs.platform.messaging.streams import CONTRACTS
from libs.platform.tools.asyncapi import _ORIGINATOR_FIELDS, asyncapi_document

MARK = "⚑"
SEALED = {"alg": "A256GCM", "kid": "k", "iv": "aXY=", "ct": "Y3Q="}

_CODE = "a code the producing aggregate checks against its vocabulary (libs/domain), never free text"
_LG = "a 全国地方公共団体コード or an org id, checked by validate_lg_code or the token's org"
_ID = "an id (UUID, event id or pseudonymous ref) made by the service, or one a caller sends as a UUID"
_ORG = "public data of an organisation (a centre, agency, place, programme or course), not of a person"
_FIXED = "a text of the service's own (notice, consent record, form version), never the caller's"
# Fields whose text is not personal, by name (every contract) or Contract.field (that one only).
ALLOWED: dict[str, str] = {
    **dict.fromkeys(("tenant", "municipality", "residence_municipality", "registrar", "handed_over_to", "operators",
                     "invited", "government", "accessor_org", "BackOfficeSupportGiven.recipient",
                     "RosterProvided.recipient"), _LG),
    **dict.fromkeys(("kind", "site", "category", "category_version", "channel", "consulted_by", "client_kind",
                     "age_group", "given_by", "requested_by", "needs", "items", "categories", "activities",
                     "coordinators", "changed_fields", "staff_role", "role", "target_kind", "activity_type",
                     "next_step", "outcome", "reason", "severity", "source", "recipient_kind", "legal_basis", "basis",
                     "agency_category", "series", "CaseInfoDisclosed.purpose", "purpose_code",
                     "SubjectDataErased.cause"), _CODE),
    "preferences": _CODE + " (preference → value, both from the request schema's Literal)",
    "starts_at": "HH:MM, checked by the request schema's pattern", "ends_at": "HH:MM, checked as starts_at",
    **dict.fromkeys(("cause_event_id", "agency_ids", "supporter_ids", "subject_ref", "accessed_by",
                     "PersonalDataAccessed.subject"), _ID),
    **dict.fromkeys(("certificate_number", "registration_number", "number"),
                    "a number the registrar allocates (修了番号, 登録番号): an id, not a name"),
    "idempotency_digest": "HMAC-SHA-256 (the producer's secret) of service, scope and the client's "
                          "Idempotency-Key: never the key",
    **dict.fromkeys(("consent_text_version", "confidentiality_duty", "record", "RegistrationConsented.purpose"),
                    _FIXED),
    **dict.fromkeys(("name", "address", "phone", "operator", "title", "venue", "target_name", "hours", "schedule",
                     "satellite_term", "funding"), _ORG),
    "RosterProvided.entries": "per supporter: ids, the registration number and the consent id (registry.roster)",
}
# Free text known to be in clear and owned by another change (none: PersonalDataAccessed.purpose,
# free text until its v2, is now a code with a sealed note).
KNOWN_OPEN: set[str] = set()


def _fields(contract: type[Contract]) -> dict[str, Any]:
    return {k: v for k, v in typing.get_type_hints(contract).items()
            if k not in _ORIGINATOR_FIELDS and typing.get_origin(v) is not typing.ClassVar}


def _value(hint: Any, marker: str) -> Any:
    """A value of the hint with `marker` in every string it holds."""
    if hint is str:
        return marker
    if hint in (int, float):
        return 1
    if hint is bool:
        return True
    if hint is UUID:
        return uuid4()
    if hint is datetime:
        return datetime(2024, 6, 3, 10, 0, tzinfo=UTC)
    if hint is date:
        return date(2024, 6, 3)
    if hint is dict:
        return {"k": marker}
    origin, args = typing.get_origin(hint), typing.get_args(hint)
    if origin in (typing.Union, types.UnionType):
        return _value(next(a for a in args if a is not type(None)), marker)
    if origin in (list, tuple):
        return [_value(args[0] if args else str, marker)]
    if origin is dict:
        return {"k": marker}
    raise TypeError(f"no sample value for {hint!r}")


def _event(contract: type[Contract]) -> Any:
    data = {name: SEALED if name in contract.SEALED_FIELDS else _value(hint, f"{MARK}{name}{MARK}")
            for name, hint in _fields(contract).items()}
    meta: dict[str, Any] = {"originator_id": uuid4(), "originator_version": 1,
                            "timestamp": datetime(2024, 6, 3, tzinfo=UTC)}
    if "originator_topic" in getattr(contract, "__dataclass_fields__", {}):
        meta["originator_topic"] = f"{contract.__module__}:{contract.__qualname__}"
    return contract(**meta, **data)  # type: ignore[call-arg]


@cache
def _components() -> dict[str, Any]:
    return asyncapi_document()["components"]


CASES = [(service, contract) for service, contracts in CONTRACTS.items() for contract in contracts]


@pytest.mark.parametrize(("service", "contract"), CASES, ids=[f"{s}-{c.__name__}" for s, c in CASES])
def test_no_text_a_caller_typed_reaches_the_bus_unless_the_field_is_justified_as_non_personal(service, contract):
    body = envelope_of(service, _event(contract), tenant="131016", sequence=1).chained(GENESIS).to_json().decode()
    shown = {name for name in _fields(contract) if f"{MARK}{name}{MARK}" in body}
    unjustified = {name for name in shown
                   if name not in ALLOWED and f"{contract.__name__}.{name}" not in set(ALLOWED) | KNOWN_OPEN}
    assert not unjustified, f"{contract.__name__}: free text in clear on the bus: {sorted(unjustified)}"
    assert not any(f"{MARK}{name}{MARK}" in body for name in contract.SEALED_FIELDS)


@pytest.mark.parametrize(("service", "contract"), CASES, ids=[f"{s}-{c.__name__}" for s, c in CASES])
def test_every_event_type_as_published_validates_against_the_asyncapi_document(service, contract):
    envelope = envelope_of(service, _event(contract), tenant="131016", sequence=1, leafhash="0" * 64).chained(GENESIS)
    jsonschema.validate(envelope.to_dict(), {"$ref": f"#/components/schemas/{contract.__name__}",
                                             "components": _components()})


def test_the_fields_found_free_text_by_issue_14_are_no_longer_clear_on_the_bus():
    from libs.domain import audit, intake, registry

    for contract, field in ((intake.ConsultationRecorded, "idempotency_key"),
                            (registry.RegistrationApplied, "idempotency_key")):
        assert field not in _fields(contract)
    assert _fields(intake.PlaceSessionHeld)["registered_participants"] is int
    assert "purpose" not in _fields(audit.PersonalDataAccessed) and "note" in audit.PersonalDataAccessed.SEALED_FIELDS
    assert "participant_refs" in intake.PlaceSessionHeld.SEALED_FIELDS


def test_every_justification_names_a_field_some_event_has():
    names = {name for _, c in CASES for name in _fields(c)}
    qualified = {f"{c.__name__}.{name}" for _, c in CASES for name in _fields(c)}
    assert set(ALLOWED) <= names | qualified
