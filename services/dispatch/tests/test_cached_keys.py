"""Dispatch commands that seal take the dispatch's key from the replica's cache, with no look at the
erasure log before: their save looks, in its transaction (store/sealed.py, issue 15)."""

from __future__ import annotations

from datetime import date
from uuid import UUID

import pytest

from libs.platform.privacy.sealed_values import SubjectForgotten
from libs.platform.web.auth import Principal
from services.dispatch.application import DispatchApplication
from tests.harness import checkouts, forgotten_after_the_cache, stored_applications

CHIYODA = "131016"
OFFICER = Principal(sub="officer", org=CHIYODA, roles=frozenset({"municipal_officer"}))


def _requested(app: DispatchApplication) -> UUID:
    """A dispatch requested with the person's details: its key made and cached."""
    dispatch, _ = app.request_dispatch(OFFICER, subject_ref=None, requested_by="person", needs=["visit"],
                                       preferences={}, requested_on=date(2016, 6, 1), details={"name": "山田"},
                                       idempotency_key=None)
    return dispatch.id


def _correct(app: DispatchApplication, dispatch_id: UUID, name: str) -> None:
    app.correct_subject_details(OFFICER, dispatch_id, details={"name": name}, corrected_on=date(2016, 6, 2))


def test_a_correction_of_a_dispatch_forgotten_by_another_replica_after_the_cache_gave_its_key_is_refused(
        tmp_path) -> None:
    with stored_applications(tmp_path, "dispatch", DispatchApplication) as (_engine, application):
        first, second = application(), application()  # two replicas of one service
        dispatch_id = _requested(first)
        version = first.repository.get(dispatch_id).version
        with forgotten_after_the_cache(first, second, dispatch_id) as forgotten, pytest.raises(SubjectForgotten):
            _correct(first, dispatch_id, "山田花子")
        assert forgotten
        assert second.repository.get(dispatch_id).version == version  # nothing recorded


def test_a_correction_of_a_dispatch_whose_key_is_held_in_cache_takes_two_connections_its_load_and_its_save(
        tmp_path) -> None:
    with stored_applications(tmp_path, "dispatch", DispatchApplication) as (_engine, application):
        app = application()
        dispatch_id = _requested(app)
        with checkouts() as taken:
            _correct(app, dispatch_id, "山田花子")
        assert len(taken) == 2, taken  # no look at the erasure log of its own before the save
        other = application()
        assert other.sealer.open(other.repository.get(dispatch_id).details) == {"name": "山田花子"}
