"""Where an import's ledger rows go (Creation.of_batch): together in the creations ledger's two
unique indexes, so an import's commit writes a few pages of each, not one per item, however large
the ledger grew (issue 15); and a retry of an import recorded before they did is still answered."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any
from uuid import UUID

from sqlalchemy import select

from libs.platform.store.creations import Creation
from services.intake.application import IntakeApplication
from services.intake.application.imports import ImportItem
from services.intake.tests.test_concurrent_consultations import _open_case, _record
from services.intake.tests.test_consultation_imports import _consultations, _items
from services.intake.tests.test_import_batching import _cases_of_one_centre
from tests.harness import stored_applications


def _runs(labels: list[str]) -> int:
    """How many runs of equal labels the list holds (one per label: each label's items together)."""
    return sum(1 for n, label in enumerate(labels) if n == 0 or labels[n - 1] != label)


def test_each_imports_ledger_rows_lie_together_in_both_unique_indexes(tmp_path) -> None:
    """Two keyed imports, one without a key and single consultations between them: ordered by key
    digest, and by resource id, each import's rows follow one another (its 40 items on the pages of
    one stretch of each index); digests and ids drawn apart would interleave them."""
    with stored_applications(tmp_path, "intake", IntakeApplication) as (engine, application):
        app = application()
        (first, second), actor = _cases_of_one_centre(app, 2)
        made: dict[str, str] = {}  # resource id → which import (or single command) made it
        for name, key in (("a", "import-a"), ("b", "import-b"), ("c", None)):
            imported = app.import_consultations(actor, _items(first, 20) + _items(second, 20), key)
            made.update({str(entry["consultation_id"]): name for _case, entry in imported.consultations})
            for case_id in (first, second):
                _record(app, actor, case_id, key=f"single {name} {case_id}")
        singles = [c["consultation_id"] for case_id in (first, second) for c in _consultations(app, actor, case_id)
                   if str(c["consultation_id"]) not in made]
        made.update({str(s): f"single {n}" for n, s in enumerate(singles)})
        table = app.recorder.creations
        with engine.connect() as conn:
            rows = conn.execute(select(table.c.resource_id, table.c.key_digest).where(table.c.kind == "consultation")
                                ).all()
        assert len(rows) == 3 * 40 + 6
        by_id = [made[r.resource_id] for r in sorted(rows, key=lambda r: r.resource_id)]
        keyed = [r for r in rows if r.key_digest is not None]
        by_key = [made[r.resource_id] for r in sorted(keyed, key=lambda r: r.key_digest)]
        assert _runs(by_id) == len(set(by_id)) == 3 + 6
        assert _runs(by_key) == len(set(by_key)) == 2 + 6


def _as_an_earlier_release(app: IntakeApplication, items: Sequence[ImportItem]) -> None:
    """`app` imports these items as an earlier release did: each item's key the import's key, a NUL
    and its place, and its request its own fields and the whole import's digest, digested apart
    (Creation.of); each new id derived from its key digest alone."""
    def creations(kind: str, scope: UUID | str, idempotency_key: str | None, count: int, /,
                  **request: Any) -> list[Creation]:
        assert count == len(items)
        return [app.creation(kind, scope, idempotency_key and f"{idempotency_key}\x00{n}", channel=i.channel,
                             consulted_by=i.consulted_by, occurred_at=i.occurred_at, summary=i.summary,
                             of_import=request["of_import"])
                for n, i in enumerate(items)]

    app.creations = creations  # type: ignore[method-assign]


def test_a_retry_of_an_import_recorded_before_its_rows_lay_together_is_answered_not_recorded_again(
        tmp_path) -> None:
    with stored_applications(tmp_path, "intake", IntakeApplication) as (_engine, application):
        earlier, upgraded = application(), application()  # the same database, before and after an upgrade
        case_id, actor = _open_case(earlier)
        _as_an_earlier_release(earlier, _items(case_id, 5))
        first = earlier.import_consultations(actor, _items(case_id, 5), "before-the-upgrade")
        retry = upgraded.import_consultations(actor, _items(case_id, 5), "before-the-upgrade")
        assert not retry.created
        assert [e["consultation_id"] for _c, e in retry.consultations] == \
            [e["consultation_id"] for _c, e in first.consultations]
        assert len(_consultations(upgraded, actor, case_id)) == 5
