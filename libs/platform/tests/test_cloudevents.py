"""The CloudEvents 1.0 JSON codec: envelopes of real intake domain events."""

from __future__ import annotations

import dataclasses
import hashlib
import json
from datetime import datetime, timedelta, timezone
from typing import Any
from uuid import UUID, uuid4

import pytest
from eventsourcing.domain import Aggregate

from libs.domain.contracts import ClientKey, event_id
from libs.domain.intake import consultation_key_digests
from libs.platform.messaging.cloudevents import (
    GENESIS,
    TRACE_ATTRIBUTES,
    Envelope,
    InvalidEnvelope,
    canonical,
    envelope_of,
    jsonable,
    nats_subject,
)
from services.intake.domain.case import Case

JST = timezone(timedelta(hours=9))
TENANT = "130001"
CASE_ID = UUID("0b9a1d36-6c2e-4f3b-9a57-3b0c2f1e8d41")
CENTRE_ID = UUID("5e2f7c10-8a4b-4d6e-b1f3-2c9d0a7e6b58")
CONSULTATION_ID = UUID("c3d4e5f6-1234-4abc-8def-0123456789ab")
OCCURRED_AT = datetime(2017, 3, 31, 23, 59, 59, tzinfo=JST)
IDEMPOTENCY_SECRET = bytes(range(32))
SEALED_SUMMARY = {"alg": "A256GCM", "kid": str(CASE_ID), "iv": "aXY=", "ct": "Y3Q="}


def _case_events() -> list:
    case = Case.open(
        id=CASE_ID, tenant=TENANT, centre_id=CENTRE_ID, client_kind="family",
        age_group="adult", personal_details=None,
    )
    case._record_consultation(  # as recorded before the creations ledger: with its key's digest
        consultation_id=CONSULTATION_ID, centre_id=CENTRE_ID, channel="phone", consulted_by="family",
        occurred_at=OCCURRED_AT, summary=SEALED_SUMMARY,
        idempotency_digest=consultation_key_digests(CENTRE_ID, ClientKey("key-1", IDEMPOTENCY_SECRET))[0],
    )
    return list(case.collect_events())


@pytest.fixture
def events() -> list:
    return _case_events()


@pytest.fixture
def opened(events: list) -> Envelope:
    return envelope_of("intake", events[0], tenant=TENANT, sequence=1)


@pytest.fixture
def recorded(events: list) -> Envelope:
    return envelope_of("intake", events[1], tenant=TENANT, sequence=2)


# -- envelope_of ----------------------------------------------------------------------------

def test_a_new_case_yields_an_opened_and_a_recorded_event(events: list) -> None:
    assert [type(e).__name__ for e in events] == ["CaseOpened", "ConsultationRecorded"]
    assert [e.originator_version for e in events] == [1, 2]


def test_the_id_is_derived_from_aggregate_id_and_version(events: list, recorded: Envelope) -> None:
    assert recorded.id == event_id(CASE_ID, 2)
    assert recorded.id == event_id(str(CASE_ID), events[1].originator_version)
    assert str(UUID(recorded.id)) == recorded.id


def test_the_id_is_stable_when_the_same_event_is_enveloped_again(
    events: list, recorded: Envelope
) -> None:
    again = envelope_of("intake", events[1], tenant=TENANT, sequence=99)
    assert again.id == recorded.id


def test_the_id_is_stable_for_the_same_aggregate_and_version_built_twice(
    recorded: Envelope,
) -> None:
    # Re-running the same commands (e.g. a retried publish after a crash) gives the same id.
    rebuilt = envelope_of("intake", _case_events()[1], tenant=TENANT, sequence=2)
    assert rebuilt.id == recorded.id


def test_different_versions_of_one_aggregate_have_different_ids(
    opened: Envelope, recorded: Envelope
) -> None:
    assert opened.id == event_id(CASE_ID, 1)
    assert opened.id != recorded.id


def test_the_same_version_of_another_aggregate_has_another_id(recorded: Envelope) -> None:
    assert event_id(uuid4(), 2) != recorded.id


def test_the_type_names_context_event_and_schema_version(recorded: Envelope) -> None:
    assert recorded.type == "jp.tsunagu.intake.ConsultationRecorded.v2"
    assert recorded.context == "intake"
    assert recorded.name == "ConsultationRecorded"
    assert recorded.version == 2  # v2: the digest of the Idempotency-Key


def test_the_opened_event_has_its_own_type(opened: Envelope) -> None:
    assert opened.type == "jp.tsunagu.intake.CaseOpened.v2"  # v2: municipality of residence


def test_the_source_is_the_producing_service(recorded: Envelope) -> None:
    assert recorded.source == "/tsunagu/intake"


def test_the_subject_is_the_aggregate_id(opened: Envelope, recorded: Envelope) -> None:
    assert recorded.subject == str(CASE_ID)
    assert opened.subject == str(CASE_ID)


def test_the_aggregate_extension_is_the_lowercase_aggregate_class(recorded: Envelope) -> None:
    assert recorded.aggregate == "case"


def test_tenant_and_sequence_are_carried_as_given(recorded: Envelope) -> None:
    assert recorded.tenant == "130001"
    assert recorded.sequence == 2


def test_the_time_is_the_event_timestamp_in_iso_format(events: list, recorded: Envelope) -> None:
    assert recorded.time == events[1].timestamp.isoformat()
    assert datetime.fromisoformat(recorded.time).tzinfo is not None


def test_an_unchained_envelope_is_cloudevents_1_0_json_with_an_empty_chainhash(
    recorded: Envelope,
) -> None:
    assert recorded.specversion == "1.0"
    assert recorded.datacontenttype == "application/json"
    assert recorded.chainhash == ""


def test_the_nats_subject_is_service_tenant_aggregate_and_event_name(recorded: Envelope) -> None:
    assert nats_subject("intake", recorded) == "intake.130001.case.ConsultationRecorded"


def test_the_nats_subject_of_the_opened_event(opened: Envelope) -> None:
    assert nats_subject("intake", opened) == "intake.130001.case.CaseOpened"


def test_the_data_holds_the_event_fields_without_eventsourcing_bookkeeping(
    recorded: Envelope, opened: Envelope
) -> None:
    for envelope in (recorded, opened):
        for key in ("originator_id", "originator_version", "timestamp", "originator_topic"):
            assert key not in envelope.data
    assert set(recorded.data) == {
        "consultation_id", "centre_id", "channel", "consulted_by", "occurred_at", "summary",
        "idempotency_digest",
    }
    assert set(opened.data) == {
        "tenant", "centre_id", "client_kind", "age_group", "residence_municipality", "personal_details",
    }


def test_datetimes_and_uuids_in_the_data_are_iso_and_text_strings(recorded: Envelope) -> None:
    data = recorded.data
    assert data["occurred_at"] == "2017-03-31T23:59:59+09:00"
    assert datetime.fromisoformat(data["occurred_at"]) == OCCURRED_AT
    assert data["consultation_id"] == str(CONSULTATION_ID)
    assert data["centre_id"] == str(CENTRE_ID)
    assert data["channel"] == "phone"
    assert data["consulted_by"] == "family"
    assert data["summary"] == SEALED_SUMMARY
    assert data["idempotency_digest"] == consultation_key_digests(CENTRE_ID, ClientKey("key-1", IDEMPOTENCY_SECRET))[0]


def test_the_data_is_plain_json(recorded: Envelope) -> None:
    assert json.loads(json.dumps(recorded.data)) == recorded.data


def test_an_event_without_a_libs_domain_contract_cannot_be_enveloped() -> None:
    class Stray(Aggregate):
        @staticmethod
        def create() -> Stray:
            return Stray()

    event = Stray().collect_events()[0]
    with pytest.raises(TypeError, match="contract"):
        envelope_of("intake", event, tenant=TENANT, sequence=1)


# -- JSON codec -------------------------------------------------------------------------------

def test_an_envelope_survives_a_json_round_trip(recorded: Envelope) -> None:
    assert Envelope.from_json(recorded.to_json()) == recorded


def test_a_chained_envelope_survives_a_json_round_trip(recorded: Envelope) -> None:
    chained = recorded.chained(GENESIS)
    back = Envelope.from_json(chained.to_json())
    assert back == chained
    assert back.chainhash == chained.chainhash != ""


def test_the_json_is_canonical_sorted_compact_and_utf8(recorded: Envelope) -> None:
    raw = recorded.to_json()
    obj = json.loads(raw)
    assert list(obj) == sorted(obj)
    assert b", " not in raw and b": " not in raw
    assert raw == canonical(obj)


def test_canonical_json_keeps_japanese_text_unescaped_and_sorts_nested_keys() -> None:
    assert canonical({"b": 1, "a": {"z": "東京都", "y": [2, 1]}}) == (
        '{"a":{"y":[2,1],"z":"東京都"},"b":1}'.encode()
    )


def test_jsonable_turns_uuids_datetimes_and_collections_into_json_values() -> None:
    value = {"id": CASE_ID, "at": OCCURRED_AT, "tags": ("a",), 1: [OCCURRED_AT.date()]}
    assert jsonable(value) == {
        "id": str(CASE_ID), "at": "2017-03-31T23:59:59+09:00", "tags": ["a"],
        "1": ["2017-03-31"],
    }


def test_unknown_attributes_in_the_json_are_ignored(recorded: Envelope) -> None:
    obj = json.loads(recorded.to_json())
    obj["dataschema"] = "https://example.org/schema"
    assert Envelope.from_json(json.dumps(obj).encode()) == recorded


TRACEPARENT = "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"


def test_the_distributed_tracing_extension_is_read_and_written_and_absent_when_untraced(recorded: Envelope) -> None:
    assert "traceparent" not in recorded.to_dict() and "tracestate" not in recorded.to_dict()
    traced = dataclasses.replace(recorded, traceparent=TRACEPARENT, tracestate="tsunagu=1")
    assert json.loads(traced.to_json())["traceparent"] == TRACEPARENT
    assert Envelope.from_json(traced.to_json()) == traced


def test_the_trace_context_is_not_part_of_the_hash_chain(recorded: Envelope) -> None:
    """A re-published event carries another publish span's context and is still the same link."""
    traced = dataclasses.replace(recorded, traceparent=TRACEPARENT, tracestate="tsunagu=1")
    assert traced.chained(GENESIS).chainhash == recorded.chained(GENESIS).chainhash
    assert traced.fact() == recorded.fact()
    other_tenant = dataclasses.replace(recorded, tenant="131016")
    assert other_tenant.chained(GENESIS).chainhash != recorded.chained(GENESIS).chainhash


@pytest.mark.parametrize("raw", [b"not json", b"", b"{", b"\xff\xfe", b"{'id': 1}"])
def test_bytes_that_are_not_json_are_an_invalid_envelope(raw: bytes) -> None:
    with pytest.raises(InvalidEnvelope, match="not JSON"):
        Envelope.from_json(raw)


@pytest.mark.parametrize("raw", [b"[]", b"1", b'"1.0"', b"null", b"{}"])
def test_json_that_is_not_an_object_with_a_specversion_is_an_invalid_envelope(raw: bytes) -> None:
    with pytest.raises(InvalidEnvelope, match=r"CloudEvents 1\.0"):
        Envelope.from_json(raw)


@pytest.mark.parametrize("specversion", ["0.3", "1", 1.0, "2.0", None])
def test_a_wrong_specversion_is_an_invalid_envelope(
    recorded: Envelope, specversion: object
) -> None:
    obj = json.loads(recorded.to_json())
    obj["specversion"] = specversion
    with pytest.raises(InvalidEnvelope, match=r"CloudEvents 1\.0"):
        Envelope.from_json(json.dumps(obj).encode())


def test_a_missing_specversion_is_an_invalid_envelope(recorded: Envelope) -> None:
    obj = json.loads(recorded.to_json())
    del obj["specversion"]
    with pytest.raises(InvalidEnvelope):
        Envelope.from_json(json.dumps(obj).encode())


@pytest.mark.parametrize(
    "attribute",
    ["id", "source", "type", "subject", "time", "tenant", "sequence", "aggregate", "data"],
)
def test_a_missing_required_attribute_is_an_invalid_envelope(
    recorded: Envelope, attribute: str
) -> None:
    obj = json.loads(recorded.to_json())
    del obj[attribute]
    with pytest.raises(InvalidEnvelope, match=f"missing attributes: {attribute}"):
        Envelope.from_json(json.dumps(obj).encode())


def test_every_missing_attribute_is_named(recorded: Envelope) -> None:
    with pytest.raises(InvalidEnvelope) as caught:
        Envelope.from_json(b'{"specversion": "1.0", "id": "x"}')
    for attribute in ("source", "type", "subject", "time", "tenant", "sequence", "data"):
        assert attribute in str(caught.value)
    assert "id," not in str(caught.value)


def test_an_invalid_envelope_is_a_value_error() -> None:
    assert issubclass(InvalidEnvelope, ValueError)


# -- hash chain -------------------------------------------------------------------------------

def test_the_chainhash_is_sha256_of_the_previous_hash_and_the_canonical_body(
    recorded: Envelope,
) -> None:
    body = recorded.to_dict()
    del body["chainhash"]
    expected = hashlib.sha256(GENESIS.encode() + canonical(body)).hexdigest()
    chained = recorded.chained(GENESIS)
    assert chained.chainhash == expected
    assert len(chained.chainhash) == 64
    assert dataclasses.replace(chained, chainhash="") == recorded


def test_chaining_is_deterministic(recorded: Envelope) -> None:
    assert recorded.chained(GENESIS) == recorded.chained(GENESIS)
    # A consumer re-deriving the hash from the received JSON gets the producer's hash.
    received = Envelope.from_json(recorded.to_json())
    assert received is not recorded
    assert received.chained(GENESIS).chainhash == recorded.chained(GENESIS).chainhash


def test_rechaining_ignores_an_existing_chainhash(recorded: Envelope) -> None:
    chained = recorded.chained(GENESIS)
    assert chained.chained(GENESIS) == chained


def test_a_different_previous_hash_changes_the_chainhash(recorded: Envelope) -> None:
    one = recorded.chained(GENESIS).chainhash
    other = recorded.chained("1" + GENESIS[1:]).chainhash
    assert one != other


def test_a_log_of_two_events_links_each_hash_to_the_previous(
    opened: Envelope, recorded: Envelope
) -> None:
    first = opened.chained(GENESIS)
    second = recorded.chained(first.chainhash)
    assert second.chainhash != recorded.chained(GENESIS).chainhash
    # Tampering with the first event breaks the link the second was built on.
    forged_first = dataclasses.replace(opened, tenant="131016").chained(GENESIS)
    assert recorded.chained(forged_first.chainhash).chainhash != second.chainhash


_CHANGES: dict[str, Any] = {
    "id": "00000000-0000-5000-8000-000000000000",
    "source": "/tsunagu/support",
    "type": "jp.tsunagu.intake.ConsultationRecorded.v3",
    "subject": "11111111-1111-4111-8111-111111111111",
    "time": "2017-04-01T00:00:00+09:00",
    "tenant": "131016",
    "sequence": 3,
    "aggregate": "centre",
    "leafhash": "ab" * 32,
    "specversion": "1.0.1",
    "datacontenttype": "application/cloudevents+json",
}


@pytest.mark.parametrize("field", sorted(_CHANGES))
def test_changing_any_attribute_changes_the_chainhash(recorded: Envelope, field: str) -> None:
    original = recorded.chained(GENESIS).chainhash
    changed = dataclasses.replace(recorded, **{field: _CHANGES[field]})
    assert getattr(changed, field) != getattr(recorded, field)
    assert changed.chained(GENESIS).chainhash != original


@pytest.mark.parametrize(
    ("key", "value"),
    [
        ("channel", "visit"),
        ("occurred_at", "2017-04-01T00:00:00+09:00"),
        ("summary", None),
        ("idempotency_digest", "0" * 64),
        ("extra", 1),
    ],
)
def test_changing_anything_in_the_data_changes_the_chainhash(
    recorded: Envelope, key: str, value: object
) -> None:
    original = recorded.chained(GENESIS).chainhash
    changed = dataclasses.replace(recorded, data={**recorded.data, key: value})
    assert changed.chained(GENESIS).chainhash != original


def test_every_field_of_the_envelope_is_covered_by_the_chain(recorded: Envelope) -> None:
    """…but the trace context, on purpose (test_the_trace_context_is_not_part_of_the_hash_chain)."""
    covered = set(_CHANGES) | {"data", "chainhash"}
    assert covered | set(TRACE_ATTRIBUTES) == {f.name for f in dataclasses.fields(Envelope)}
