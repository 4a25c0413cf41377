"""Each replica caches the aggregates it loaded (store/cache.py): a load reads only the events
stored after the cached version, so another replica's write, an erasure, a lost race are all seen,
and nothing a command did to its copy reaches the cache before the store has it."""

from __future__ import annotations

from datetime import UTC, date, datetime
from typing import Any
from uuid import UUID, uuid4

import pytest
from eventsourcing.persistence import IntegrityError

from libs.platform.privacy.sealed_values import ERASED
from libs.platform.web.auth import Principal
from services.intake.application import IntakeApplication
from services.intake.domain.case import Case
from tests.harness import stored_applications

WHEN = datetime(2016, 5, 1, 10, tzinfo=UTC)


def _open_case(app: Any, details: dict | None = None) -> tuple[UUID, Principal]:
    centre, case_id = uuid4(), uuid4()
    app.save(Case.open(id=case_id, tenant="130001", centre_id=centre, client_kind="person", age_group="adult",
                       personal_details=app.seal(case_id, details) if details else None))
    return case_id, Principal(sub="staff", org=str(centre), roles=frozenset({"centre_staff"}))


def _record(app: Any, actor: Principal, case_id: UUID, summary: str = "電話相談", **kwargs: Any) -> Any:
    return app.record_consultation(actor, case_id, expected_version=kwargs.pop("expected_version", None),
                                   channel="phone", consulted_by="person", occurred_at=WHEN, summary=summary,
                                   idempotency_key=None, **kwargs)


def _reads(statements: list[str]) -> list[str]:
    return [s for s in statements if s.lstrip().upper().startswith("SELECT") and "intake_" in s]


def test_a_write_of_another_replica_is_seen_by_a_replica_that_cached_the_aggregate(replicas) -> None:
    first, second, statements = replicas
    case_id, actor = _open_case(first)
    assert first.repository.get(case_id).consultation_count == 0  # cached now
    _record(second, actor, case_id)
    statements.clear()
    case = first.repository.get(case_id)
    assert (case.version, case.consultation_count) == (2, 1)
    # Only the events after the cached version were read: no snapshot, not the case's whole log.
    reads = _reads(statements)
    assert len(reads) == 1 and "intake_events" in reads[0] and "originator_version >" in reads[0]
    # And a command on it goes on from there.
    assert _record(first, actor, case_id, expected_version=2).case.version == 3


def test_an_erasure_by_another_replica_reaches_the_cached_aggregate_and_its_sealed_data_stays_closed(
        replicas) -> None:
    first, second, statements = replicas
    case_id, _actor = _open_case(first, {"name": "山田 太郎"})
    cached = first.repository.get(case_id)
    assert first.sealer.open(cached.personal_details) == {"name": "山田 太郎"}  # the aggregate and the key cached
    second.erase_personal_data(second.repository.get(case_id),
                               lambda c: c.erase(erased_on=date(2024, 6, 3), basis="request_granted"))
    statements.clear()
    case = first.repository.get(case_id)
    assert case.erased
    assert first.sealer.open(case.personal_details) == ERASED
    assert len(_reads(statements)) == 1  # fast-forwarded, not loaded again


def test_a_save_that_lost_a_race_evicts_the_aggregate_and_the_next_load_holds_only_what_was_stored(
        replicas) -> None:
    first, second, _statements = replicas
    case_id, actor = _open_case(first)
    stale = first.repository.get(case_id)  # the case at version 1, cached
    _record(second, actor, case_id, summary="勝った相談")  # version 2, in the other replica
    stale.record_consultation(consultation_id=uuid4(), channel="phone", consulted_by="person", occurred_at=WHEN,
                              summary=None)
    with pytest.raises(IntegrityError):
        first.save(stale)
    with pytest.raises(KeyError):
        first.repository.cache.get(case_id)
    case = first.repository.get(case_id)
    assert (case.version, case.consultation_count) == (2, 1)


def test_a_command_on_a_loaded_copy_changes_nothing_cached_until_it_is_saved(replicas) -> None:
    first, _second, statements = replicas
    case_id, _actor = _open_case(first)
    first.repository.get(case_id)
    copy = first.repository.get(case_id)
    copy.record_consultation(consultation_id=uuid4(), channel="phone", consulted_by="person", occurred_at=WHEN,
                             summary=None)  # and never saved (a command that failed after it)
    assert first.repository.get(case_id).version == 1
    first.save(copy)
    statements.clear()
    assert first.repository.get(case_id).version == 2
    # The saved aggregate was cached: the load found nothing newer in the store.
    assert len(_reads(statements)) == 1


def test_consultations_recorded_at_once_in_two_replicas_are_all_in_each_replicas_cached_case(replicas) -> None:
    from concurrent.futures import ThreadPoolExecutor

    first, second, _statements = replicas
    case_id, actor = _open_case(first)
    first.repository.get(case_id)
    second.repository.get(case_id)
    with ThreadPoolExecutor(6) as pool:
        list(pool.map(lambda i: _record((first, second)[i % 2], actor, case_id), range(24)))
    assert first.repository.get(case_id).consultation_count == 24
    assert second.repository.get(case_id).consultation_count == 24


def test_an_object_saved_again_after_a_refused_save_caches_no_version_the_store_never_had(tmp_path) -> None:
    """A refused save (EventTooLarge, before anything is stored) has already taken the object's
    pending events: saving the same object again stores nothing, and must not cache its version."""
    from datetime import UTC, datetime
    from uuid import uuid4

    import pytest

    from libs.domain.errors import EventTooLarge
    from services.intake.domain.case import Case

    with stored_applications(tmp_path, "intake", IntakeApplication) as (_engine, application):
        app = application()
        case = Case.open(id=uuid4(), tenant="130001", centre_id=uuid4(), client_kind="person", age_group="adult",
                         personal_details=None)
        app.save(case)
        stored = case.version
        case = app.repository.get(case.id)
        case.record_consultation(consultation_id=uuid4(), channel="phone", consulted_by="person",
                                 occurred_at=datetime(2016, 5, 1, tzinfo=UTC), summary=app.seal(case.id, "x" * 5000))
        app.max_event_bytes = 1000
        with pytest.raises(EventTooLarge):
            app.save(case)
        app.save(case)  # nothing pending any more: nothing stored
        assert app.repository.get(case.id).version == stored


def test_a_loaded_copy_shares_its_ids_and_dates_with_the_cache_but_no_container(replicas) -> None:
    """Ids and dates are immutable: the copy every load makes keeps them as they are (a copy of
    each was most of the cost of loading a course of many attendees), and still copies every
    dict, list and object around them, so a command on its copy changes nothing cached."""
    first, _, _ = replicas
    case_id, _ = _open_case(first)
    cached, loaded = first.repository.cache.get(case_id), first.repository.get(case_id)
    assert loaded is not cached and loaded.__dict__ is not cached.__dict__
    assert loaded.id is cached.id and loaded.created_on is cached.created_on
    containers = [name for name, value in vars(cached).items() if isinstance(value, dict | list | set)]
    assert containers, "a case holds containers"
    for name in containers:
        assert getattr(loaded, name) is not getattr(cached, name), name
        assert getattr(loaded, name) == getattr(cached, name), name
