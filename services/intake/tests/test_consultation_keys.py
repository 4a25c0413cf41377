"""A consultation seals its summary with the case's key as the replica's cache holds it, with no
look at the erasure log before: the save looks, in its transaction (Sealer.cached_keys, issue 15)."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import pytest
from sqlalchemy import event
from sqlalchemy.pool import Pool

from libs.platform.privacy.sealed_values import SubjectForgotten
from services.intake.application import IntakeApplication
from services.intake.tests.test_concurrent_consultations import _open_case, _record
from tests.harness import stored_applications


def test_a_case_forgotten_by_another_replica_after_its_key_was_taken_from_the_cache_gets_no_consultation(
        tmp_path) -> None:
    """Another replica destroys the case's key after this one took it from its cache (which still
    holds it: no look at the erasure log came between) and before the save: the save's check refuses
    it, the command run again after a look refuses the case (410), and nothing is recorded. The key
    is forgotten without an erasure event on the case, so no version conflict could catch it."""
    with stored_applications(tmp_path, "intake", IntakeApplication) as (_engine, application):
        first, second = application(), application()  # two replicas of one service
        case_id, actor = _open_case(first)
        _record(first, actor, case_id)  # the key made and cached
        cached_keys = first.sealer.cached_keys
        forgotten: list[str] = []

        def cached_then_forgotten_elsewhere(subjects: Any) -> Any:
            taken = cached_keys(subjects)
            if not forgotten:
                assert all(taken.keys.values())  # a live key, from the cache
                second.sealer.forget(str(case_id))
                forgotten.append(str(case_id))
            return taken

        first.sealer.cached_keys = cached_then_forgotten_elsewhere
        with pytest.raises(SubjectForgotten):
            _record(first, actor, case_id, summary="消去の後の相談")
        assert forgotten
        assert second.repository.get(case_id).consultation_count == 1  # only the one before


@contextmanager
def _checkouts() -> Iterator[list[str]]:
    """Connections taken from any pool (each a round trip of its own, or a ping)."""
    taken: list[str] = []

    def count(*_: Any) -> None:
        taken.append("checkout")

    event.listen(Pool, "checkout", count)
    try:
        yield taken
    finally:
        event.remove(Pool, "checkout", count)


def test_a_consultation_on_a_case_and_key_held_in_cache_takes_two_connections_its_load_and_its_save(
        tmp_path) -> None:
    with stored_applications(tmp_path, "intake", IntakeApplication) as (_engine, application):
        app = application()
        case_id, actor = _open_case(app)
        _record(app, actor, case_id)  # the case and its key cached
        with _checkouts() as taken:
            recorded = _record(app, actor, case_id, summary="二回目の相談")
        assert recorded.created
        assert len(taken) == 2, taken  # no look at the erasure log of its own before the save
        other = application()
        entry = other.consultation(other.repository.get(case_id), recorded.consultation_id)
        assert entry is not None and other.sealer.open(entry["summary"]) == "二回目の相談"
