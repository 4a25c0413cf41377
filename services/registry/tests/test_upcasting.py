"""Versioned events of the registry: a RegistrationApplied stored as v1 carried the client's
Idempotency-Key in clear (issue 14); read now, it is published with the key's digest only, and a
retry of the application with the same key is still recognised."""

from __future__ import annotations

import json

from sqlalchemy import text

from libs.domain.contracts import ClientKey, event_type, idempotency_digest
from libs.domain.registry import CONTEXT, RegistrationApplied, application_key_digests
from libs.platform.store.log import LogReader
from services.registry.application import RegistryApplication
from services.registry.tests.builders import TOKYO, _apply
from tests.harness import stored_applications

KEY = "鈴木一郎 申込 2016-05-31"  # what a client may type in an Idempotency-Key
SECRET = bytes(range(32))  # the registry's REGISTRY_IDEMPOTENCY_KEY


def test_an_application_records_the_digest_of_its_idempotency_key_never_the_key() -> None:
    supporter = _apply(idempotency_key=ClientKey(KEY, SECRET))
    applied = supporter.collect_events()[0]
    assert KEY not in repr(vars(applied))
    assert vars(applied)["idempotency_digest"] == application_key_digests(TOKYO, ClientKey(KEY, SECRET))[0]
    assert vars(applied)["idempotency_digest"] != idempotency_digest(CONTEXT, TOKYO, KEY, None), "keyed"
    assert supporter.applied_with_key(ClientKey(KEY, SECRET))
    assert not supporter.applied_with_key(ClientKey("another", SECRET))
    assert not supporter.applied_with_key(ClientKey(KEY, bytes(32))), "another secret, another digest"
    assert not supporter.applied_with_key(None)


def test_an_application_recorded_with_an_unkeyed_digest_still_recognises_a_retry() -> None:
    supporter = _apply()
    supporter.idempotency_digest = idempotency_digest(CONTEXT, TOKYO, KEY, None)  # as v2 recorded it first
    assert supporter.applied_with_key(ClientKey(KEY, SECRET))


def test_an_old_v1_application_with_its_key_in_clear_is_published_hashed_and_still_recognises_a_retry(tmp_path):
    with stored_applications(tmp_path, "registry", RegistryApplication) as (engine, application):
        first = application()
        supporter = _apply(idempotency_key=first.client_key(KEY))
        first.save(supporter)
        with engine.begin() as conn:  # rewrite the application as v1 stored it: the client's key in clear
            version, raw = conn.execute(text(
                "SELECT originator_version, state FROM registry_events WHERE topic LIKE '%RegistrationApplied'")).one()
            state = json.loads(bytes(raw))
            assert state.pop("class_version") == 2
            del state["idempotency_digest"]
            state["idempotency_key"] = KEY
            conn.execute(text("UPDATE registry_events SET state = :s WHERE originator_version = :v"),
                         {"s": json.dumps(state).encode(), "v": version})

        fresh = application()
        assert fresh.repository.get(supporter.id).applied_with_key(fresh.client_key(KEY))
        published = LogReader("registry", fresh).read(0, 10)[0]
        assert published.type == event_type(RegistrationApplied) == "jp.tsunagu.registry.RegistrationApplied.v2"
        assert KEY not in json.dumps(published.to_dict(), ensure_ascii=False)
        # An upcaster holds no secret: the unkeyed digest of the events recorded before
        assert published.data["idempotency_digest"] == idempotency_digest(CONTEXT, TOKYO, KEY, None)
