"""Registry commands that seal take the supporter's key from the replica's cache, with no look at
the erasure log before: their save looks, in its transaction (store/sealed.py, issue 15)."""

from __future__ import annotations

from datetime import date
from uuid import UUID

import pytest

from libs.platform.privacy.sealed_values import SubjectForgotten
from libs.platform.web.auth import Principal
from services.registry.application import RegistryApplication
from services.registry.tests.builders import TOKYO, _apply
from tests.harness import checkouts, forgotten_after_the_cache, stored_applications

OFFICER = Principal(sub="officer", org=TOKYO, roles=frozenset({"prefecture_officer"}))


def _applied(app: RegistryApplication) -> UUID:
    supporter = _apply()
    app.save(supporter)
    return supporter.id


def _screen(app: RegistryApplication, supporter_id: UUID, note: str, kind: str = "lecture") -> None:
    app.record_screening(OFFICER, supporter_id, expected_version=None, kind=kind,
                         held_on=date(2016, 6, 10), note=note)


def test_a_screening_of_a_supporter_forgotten_by_another_replica_after_the_cache_gave_its_key_is_refused(
        tmp_path) -> None:
    with stored_applications(tmp_path, "registry", RegistryApplication) as (_engine, application):
        first, second = application(), application()  # two replicas of one service
        supporter_id = _applied(first)
        _screen(first, supporter_id, "書類確認")  # the key made and cached
        version = first.repository.get(supporter_id).version
        with forgotten_after_the_cache(first, second, supporter_id) as forgotten, pytest.raises(SubjectForgotten):
            _screen(first, supporter_id, "面接", "interview")
        assert forgotten
        assert second.repository.get(supporter_id).version == version  # nothing recorded


def test_a_screening_of_a_supporter_whose_key_is_held_in_cache_takes_two_connections_its_load_and_its_save(
        tmp_path) -> None:
    with stored_applications(tmp_path, "registry", RegistryApplication) as (_engine, application):
        app = application()
        supporter_id = _applied(app)
        _screen(app, supporter_id, "書類確認")
        with checkouts() as taken:
            _screen(app, supporter_id, "面接", "interview")
        assert len(taken) == 2, taken  # no look at the erasure log of its own before the save
