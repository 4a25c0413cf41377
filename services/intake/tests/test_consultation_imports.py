"""Consultation imports against other writers (application/imports.py): an import whose case moved
on meanwhile is run again on the cases reloaded (appending commutes), and two replicas running the
same import with one Idempotency-Key record it once."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime
from typing import Any
from uuid import UUID

from services.intake.application import IntakeApplication
from services.intake.application.imports import ImportItem
from services.intake.tests.test_concurrent_consultations import _open_case, _record
from tests.harness import stored_applications

WHEN = datetime(2015, 5, 1, 10, tzinfo=UTC)


def _items(case_id: UUID, n: int) -> list[ImportItem]:
    return [ImportItem(case_id=case_id, channel="phone", consulted_by="person", occurred_at=WHEN,
                       summary=f"移行記録 {i}") for i in range(n)]


def _consultations(app: IntakeApplication, actor: Any, case_id: UUID) -> list[dict[str, Any]]:
    return app.consultations(actor, case_id)[1]


def _racing_import(app: IntakeApplication, other: IntakeApplication, actor: Any, case_id: UUID) -> None:
    """`app`'s import looks up its keys (after it loaded its cases) only after `other` recorded a
    consultation on the case: the import's save then finds the case moved on."""
    keys = app.sealer.keys
    raced: list[Any] = []

    def keys_after_the_other_request(subjects: Any) -> Any:
        if not raced:
            raced.append(_record(other, actor, case_id))
        return keys(subjects)

    app.sealer.keys = keys_after_the_other_request  # type: ignore[method-assign]


def test_an_import_whose_case_moved_on_is_recorded_on_the_case_reloaded(tmp_path) -> None:
    with stored_applications(tmp_path, "intake", IntakeApplication) as (_engine, application):
        first, second = application(), application()  # two replicas of one service
        case_id, actor = _open_case(first)
        _racing_import(first, second, actor, case_id)  # a single consultation lands between load and save
        imported = first.import_consultations(actor, _items(case_id, 3), "batch-1")
        assert imported.created
        recorded = _consultations(first, actor, case_id)
        assert len(recorded) == 4  # the racing one and the three imported, none lost or twice
        assert [e["consultation_id"] for _, e in imported.consultations] == [e["consultation_id"] for e in recorded[1:]]


def test_one_import_sent_to_two_replicas_at_once_is_recorded_once(tmp_path) -> None:
    with stored_applications(tmp_path, "intake", IntakeApplication) as (_engine, application):
        replicas = [application(), application()]
        case_id, actor = _open_case(replicas[0])
        items = _items(case_id, 5)
        with ThreadPoolExecutor(4) as pool:
            results = list(pool.map(lambda n: replicas[n % 2].import_consultations(actor, items, "batch-2"), range(4)))
        assert sum(r.created for r in results) == 1
        ids = {tuple(e["consultation_id"] for _, e in r.consultations) for r in results}
        assert len(ids) == 1  # every answer names the same five consultations
        assert len(_consultations(replicas[0], actor, case_id)) == 5
