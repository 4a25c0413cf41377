"""The services' commands that seal take the subject's key from the replica's cache, with no look at
the erasure log before: their save looks, in its transaction (store/sealed.py, issue 15). One
scenario per property, over every such command of intake, dispatch and registry."""

from __future__ import annotations

import itertools
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, date, datetime
from typing import Any
from uuid import UUID

import pytest

from libs.platform.privacy.sealed_values import SubjectForgotten
from libs.platform.web.auth import Principal
from services.dispatch.application import DispatchApplication
from services.intake.application import IntakeApplication
from services.intake.tests.test_concurrent_consultations import _open_case, _record
from services.registry.application import RegistryApplication
from services.registry.tests.builders import TOKYO, _apply
from tests.harness import checkouts, forgotten_after_the_cache, stored_applications

WHEN = datetime(2016, 5, 1, 10, tzinfo=UTC)
MUNICIPAL = Principal(sub="officer", org="131016", roles=frozenset({"municipal_officer"}))
PREFECTURAL = Principal(sub="officer", org=TOKYO, roles=frozenset({"prefecture_officer"}))
# A command on a subject whose key it has made and cached: run(app, text) seals `text` again.
Run = Callable[[Any, str], Any]


@dataclass(frozen=True)
class Command:
    service: str
    application: type
    prepare: Callable[[Any], tuple[UUID, Run]]  # makes the subject, its key cached
    # What another replica opens of what the command sealed (None: not read back here).
    opened: Callable[[Any, UUID, Any], Any] | None = None
    # Connections a run takes: its load's and its save's; a commuting creation's load is answered by
    # the aggregate cache unread (store/cache.py, trusted loads): its save's only.
    connections: int = 2

    def __str__(self) -> str:
        return self.service


def _visited(app: IntakeApplication) -> tuple[UUID, Run]:
    case_id, actor = _open_case(app)

    def visit(a: IntakeApplication, summary: str) -> Any:
        return a.record_outreach_visit(actor, case_id, expected_version=None, staff_role="outreach_worker",
                                       occurred_at=WHEN, summary=summary)

    visit(app, "訪問")
    return case_id, visit


def _corrected(app: IntakeApplication) -> tuple[UUID, Run]:
    case_id, actor = _open_case(app)
    days = itertools.count(2)

    def correct(a: IntakeApplication, name: str) -> Any:
        return a.correct_personal_details(actor, case_id, personal_details={"name": name},
                                          corrected_on=date(2016, 5, next(days)))

    correct(app, "山田")
    return case_id, correct


def _consulted(app: IntakeApplication) -> tuple[UUID, Run]:
    case_id, actor = _open_case(app)
    _record(app, actor, case_id)
    return case_id, lambda a, summary: _record(a, actor, case_id, summary=summary)


def _requested(app: DispatchApplication) -> tuple[UUID, Run]:
    dispatch, _ = app.request_dispatch(MUNICIPAL, subject_ref=None, requested_by="person", needs=["visit"],
                                       preferences={}, requested_on=date(2016, 6, 1), details={"name": "山田"},
                                       idempotency_key=None)
    return dispatch.id, lambda a, name: a.correct_subject_details(
        MUNICIPAL, dispatch.id, details={"name": name}, corrected_on=date(2016, 6, 2))


def _screened(app: RegistryApplication) -> tuple[UUID, Run]:
    supporter = _apply()
    app.save(supporter)
    app.record_screening(PREFECTURAL, supporter.id, expected_version=None, kind="lecture",
                         held_on=date(2016, 6, 10), note="書類確認")
    return supporter.id, lambda a, note: a.record_screening(PREFECTURAL, supporter.id, expected_version=None,
                                                             kind="interview", held_on=date(2016, 6, 10), note=note)


def _consultation_summary(other: IntakeApplication, case_id: UUID, recorded: Any) -> Any:
    entry = other.consultation(other.repository.get(case_id), recorded.consultation_id)
    assert entry is not None
    return other.sealer.open(entry["summary"])


COMMANDS = [
    Command("intake-outreach-visit", IntakeApplication, _visited),
    Command("intake-correction", IntakeApplication, _corrected),
    Command("intake-consultation", IntakeApplication, _consulted, _consultation_summary, connections=1),
    Command("dispatch-correction", DispatchApplication, _requested,
            lambda other, dispatch_id, _: other.sealer.open(other.repository.get(dispatch_id).details)["name"]),
    Command("registry-screening", RegistryApplication, _screened),
]


@pytest.mark.parametrize("command", COMMANDS, ids=str)
def test_a_command_on_a_subject_forgotten_by_another_replica_after_the_cache_gave_its_key_is_refused(
        tmp_path, command: Command) -> None:
    """The erasure lands between the cache lookup and the save (no erasure event on the subject, so
    no version conflict catches it): the save's check refuses it, the command run again after a look
    refuses the subject (410), nothing is recorded."""
    with stored_applications(tmp_path, command.service.split("-")[0], command.application) as (_, application):
        first, second = application(), application()  # two replicas of one service
        subject_id, run = command.prepare(first)
        version = first.repository.get(subject_id).version
        with forgotten_after_the_cache(first, second, subject_id) as forgotten, pytest.raises(SubjectForgotten):
            run(first, "消去の後")
        assert forgotten
        assert second.repository.get(subject_id).version == version  # nothing recorded


@pytest.mark.parametrize("command", COMMANDS, ids=str)
def test_a_command_on_a_subject_whose_key_is_held_in_cache_takes_a_connection_for_its_load_and_its_save_only(
        tmp_path, command: Command) -> None:
    with stored_applications(tmp_path, command.service.split("-")[0], command.application) as (_, application):
        app = application()
        subject_id, run = command.prepare(app)
        version = app.repository.get(subject_id).version
        with checkouts() as taken:
            result = run(app, "二回目")
        assert len(taken) == command.connections, taken  # no look at the erasure log of its own before the save
        other = application()
        assert other.repository.get(subject_id).version > version
        if command.opened is not None:
            assert command.opened(other, subject_id, result) == "二回目"
